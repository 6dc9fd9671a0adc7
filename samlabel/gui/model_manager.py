"""Which SAM model the app uses, and loading it off the UI thread.

:func:`choose_model` resolves the model name (``--model``, else the saved setting, else
``default_model_name(device)``) and its checkpoint (``--checkpoint``, else a downloaded
file found by ``samlabel.sam.download.find_checkpoint``). With no checkpoint the choice has
``checkpoint=None`` and the app runs with the AI tools disabled (manual tools still work).

:class:`ModelLoader` builds the model in a ``QThread`` (loading vit_h takes seconds) and
reports ``loaded(model)`` or ``failed(message)`` on the UI thread.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QThread, Signal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelChoice:
    name: str
    checkpoint: Path | None
    device: str
    message: str  # for the status bar: what was chosen, or why the AI tools are off
    quantize: str = "fp32"  # "int8": dynamic int8 image encoder (CPU only; see samlabel.sam.quantize)

    @property
    def available(self) -> bool:
        return self.checkpoint is not None


def default_device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001 - a broken torch install still allows manual labelling
        return "cpu"


def find_checkpoint(name: str) -> Path | None:
    """The downloaded checkpoint for ``name`` (None when missing or the lookup is unavailable)."""
    try:
        from samlabel.sam.download import find_checkpoint as _find
    except ImportError:
        return None
    try:
        found = _find(name)
    except Exception as exc:  # noqa: BLE001 - a lookup problem means "no checkpoint"
        log.warning("checkpoint lookup for %s failed: %s", name, exc)
        return None
    return Path(found) if found else None


def default_model_name(device: str) -> str:
    try:
        from samlabel.sam.build import default_model_name as _default

        return _default(device)
    except ImportError:
        return "vit_b"


def choose_model(model_name: str | None = None, checkpoint: str | Path | None = None, device: str | None = None,
                 saved_model: str | None = None, quantize: str | None = None) -> ModelChoice:
    """Resolve the model to run; never raises for a missing checkpoint (see ``message``)."""
    choice = _choose(model_name, checkpoint, device, saved_model)
    return dataclasses.replace(choice, quantize=quantize) if quantize else choice


def _choose(model_name, checkpoint, device, saved_model) -> ModelChoice:
    device = device or default_device()
    name = model_name or saved_model or default_model_name(device)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            return ModelChoice(name, None, device, f"Checkpoint {path} does not exist: AI tools are disabled.")
        return ModelChoice(name, path, device, f"Model {name} from {path.name}")
    found = find_checkpoint(name)
    if found is None:
        return ModelChoice(
            name, None, device,
            f"No {name} checkpoint found: AI tools are disabled. Use Model ▸ Download model… "
            f"(or run 'samlabel download {name}'); manual polygon and rectangle tools work.",
        )
    return ModelChoice(name, found, device, f"Model {name} ({found.name}) on {device}")


class ModelLoader(QThread):
    """Builds ``choice`` with ``samlabel.sam.build.build_sam`` in a worker thread."""

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, choice: ModelChoice, parent=None) -> None:
        super().__init__(parent)
        self.choice = choice

    def run(self) -> None:  # noqa: D102
        try:
            from samlabel.sam.build import build_sam

            model = build_sam(self.choice.name, checkpoint=self.choice.checkpoint, device=self.choice.device)
            if self.choice.quantize != "fp32":
                from samlabel.sam.quantize import quantize_encoder

                model = quantize_encoder(model, self.choice.quantize)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            log.exception("loading the model failed")
            self.failed.emit(f"Could not load {self.choice.name} from {self.choice.checkpoint}: {exc}")
            return
        self.loaded.emit(model)
