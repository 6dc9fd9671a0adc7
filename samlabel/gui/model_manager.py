"""Which SAM model the app uses, and loading it off the UI thread.

:func:`choose_model` resolves the model name (``--model``, else the saved setting, else
``default_model_name(device)``) and its checkpoint (``--checkpoint`` or Model ▸ Load
checkpoint file…: the user's own file, shown as such; else the file at the official download
location, found by ``samlabel.sam.files.download.find_checkpoint``; SAM 2 / 2.1 names such as
``sam2.1_hiera_tiny`` work as the SAM 1 ones, and messages name them "SAM 2.1 Hiera tiny"). With no checkpoint the choice
has ``checkpoint=None`` and the app runs with the AI tools disabled (manual tools still
work). A file at the official location that is not the official checkpoint is never loaded
as if it were: its size is compared at once (free), and the loader compares its SHA-256
(which loading computes anyway) before building the model.

:class:`ModelLoader` builds the model in a ``QThread`` (loading vit_h takes seconds) and
reports ``loaded(model)`` or ``failed(message)`` on the UI thread. A user's bad file
(:data:`USER_ERRORS`) is logged as one line naming it; only a bug is logged with its
traceback.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from samlabel.sam.files.checkpoint_path import checkpoint_path_problem
from samlabel.sam.errors import SamError

log = logging.getLogger(__name__)

USER_ERRORS = (SamError, OSError, MemoryError)
"""What a user's file or machine causes (a bad checkpoint, an unreadable file, too little
memory): logged as one line naming the file and the problem. Anything else is a bug and is
logged with its traceback."""


@dataclass(frozen=True)
class ModelChoice:
    name: str
    checkpoint: Path | None
    device: str
    message: str  # for the status bar: what was chosen, or why the AI tools are off
    # image encoder precision: "fp32", "bf16" (native bf16 CPUs), "int8" or "auto" (bf16 where
    # native, else int8); CPU only, see samlabel.sam.fast.precision
    quantize: str = "fp32"
    # what runs the image encoder: "torch", "openvino" (samlabel.sam.fast.openvino_engine), or
    # "auto": OpenVINO for bf16 and int8 where it is installed, PyTorch otherwise
    # (samlabel.sam.fast.encoder_choice)
    engine: str = "auto"
    user_file: bool = False  # a file the user chose (--checkpoint, Load checkpoint file…), not a download
    reason: str = ""  # without a checkpoint: why, in a few words (for "why nothing happened")
    wrong_file: Path | None = None  # a file at the official location that is not the official one

    @property
    def available(self) -> bool:
        return self.checkpoint is not None

    @property
    def weights_text(self) -> str:
        """Where the weights come from, for the model indicator: ``"your file: /path/x.pth"``."""
        if self.checkpoint is None:
            return "no checkpoint"
        if self.user_file:
            return f"your file: {self.checkpoint}"
        return f"official checkpoint {self.checkpoint}"


def nvidia_driver_present() -> bool:
    """Whether an NVIDIA driver is installed, asked without importing torch (CUDA cannot be
    available without one, and a window with no model to run should not load torch)."""
    if sys.platform == "darwin":
        return False
    if sys.platform.startswith("win"):
        return (Path(os.environ.get("SystemRoot", r"C:\Windows")) / "System32" / "nvcuda.dll").exists()
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists()


def default_device() -> str:
    if not nvidia_driver_present():
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001 - a broken torch install still allows manual labelling
        return "cpu"


def find_checkpoint(name: str) -> Path | None:
    """The downloaded checkpoint for ``name`` (None when missing or the lookup is unavailable)."""
    try:
        from samlabel.sam.files.download import find_checkpoint as _find
    except ImportError:
        return None
    try:
        found = _find(name)
    except Exception as exc:  # noqa: BLE001 - a lookup problem means "no checkpoint"
        log.warning("checkpoint lookup for %s failed: %s", name, exc)
        return None
    return Path(found) if found else None


def default_model_name(device: str) -> str:
    """``"vit_b"`` on CUDA, MobileSAM's ``"vit_t"`` otherwise (as ``samlabel.sam.build``'s,
    without importing torch)."""
    return "vit_b" if str(device).startswith("cuda") else "vit_t"


def choose_model(model_name: str | None = None, checkpoint: str | Path | None = None, device: str | None = None,
                 saved_model: str | None = None, quantize: str | None = None,
                 user_file: bool | None = None, engine: str | None = None) -> ModelChoice:
    """Resolve the model to run; never raises for a missing or wrong checkpoint (see ``message``).

    A given ``checkpoint`` is the user's own file unless ``user_file=False`` (a verified
    download just made by the app).
    """
    if user_file is None:
        user_file = checkpoint is not None
    choice = _choose(model_name, checkpoint, device, saved_model, user_file)
    if engine:
        choice = dataclasses.replace(choice, engine=engine)
    return dataclasses.replace(choice, quantize=quantize) if quantize else choice


def _label(name: str) -> str:
    """``"SAM 2.1 Hiera tiny"`` for ``sam2.1_hiera_tiny``; SAM 1 names as they are."""
    from samlabel.gui.model_status import display_name

    return display_name(name)


def _cli_hint(name: str) -> str:
    from samlabel.sam.files.official import CLI_MODELS

    return f" (or run 'samlabel download {name}')" if name in CLI_MODELS else ""


def _choose(model_name, checkpoint, device, saved_model, user_file: bool) -> ModelChoice:
    device = device or default_device()
    name = model_name or saved_model or default_model_name(device)
    label = _label(name)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        problem = checkpoint_path_problem(path)  # a file or a Hugging Face snapshot folder
        if problem is not None:
            return ModelChoice(name, None, device, f"{problem[0].upper()}{problem[1:]}: AI tools are disabled.",
                               user_file=user_file, reason=problem)
        if user_file:
            return ModelChoice(name, path, device, f"Model {label} from your file {path}", user_file=True)
        return ModelChoice(name, path, device, f"Model {label} ({path.name}) on {device}")
    found = find_checkpoint(name)
    if found is None:
        return ModelChoice(
            name, None, device,
            f"No {label} checkpoint found: AI tools are disabled. Use Model ▸ Download model…"
            f"{_cli_hint(name)}; manual polygon and rectangle tools work.",
            reason=f"no {label} checkpoint found",
        )
    problem = official_file_problem(name, found)
    if problem is not None:
        return ModelChoice(name, None, device, f"AI tools are disabled: {problem}", reason=problem, wrong_file=found)
    return ModelChoice(name, found, device, f"Model {label} ({found.name}) on {device}")


def official_file_problem(name: str, path: Path, known_sha256: str | None = None) -> str | None:
    """Why ``path`` (at ``name``'s official location) is not the official checkpoint, with what
    to do; None when it is, as far as checked: its size (free), or its SHA-256 when given."""
    try:
        from samlabel.sam.files.official import check_file

        check = check_file(name, path, hashes=False, known_sha256=known_sha256)
    except (ImportError, ValueError, AttributeError):  # no such model in the registry: nothing to compare with
        return None
    except OSError as exc:
        return f"cannot read {path}: {exc}"
    return None if check.official else f"{check.describe()}. {check.advice()}"


class ModelLoader(QThread):
    """Builds ``choice`` with ``samlabel.sam.build.build_sam`` in a worker thread."""

    loaded = Signal(object)
    failed = Signal(str)
    progress = Signal(str)  # a slow step's message (the OpenVINO engine's first export), for the status bar

    def __init__(self, choice: ModelChoice, parent=None) -> None:
        super().__init__(parent)
        self.choice = choice
        self.engine_note = ""  # why the chosen engine is not running (kept in the indicator's tooltip)

    def run(self) -> None:  # noqa: D102
        try:
            from samlabel.sam.build import build_sam
            from samlabel.sam.runtime.cpu import configure_threads

            # torch loads with the first model, not with the window: one intra-op thread per
            # physical core and one inter-op thread, set before torch does any work
            configure_threads()

            problem = self._official_problem()
            if problem is not None:
                self.failed.emit(problem)
                return
            model = build_sam(self.choice.name, checkpoint=self.choice.checkpoint, device=self.choice.device)
            model = self._reduce(model)
            if model is None:
                return
        except USER_ERRORS as exc:  # the message names the file and the problem: no traceback
            message = f"Could not load {_label(self.choice.name)} from {self.choice.checkpoint}: {exc}"
            log.error("%s", message)
            self.failed.emit(message)
            return
        except Exception as exc:  # noqa: BLE001 - a bug: shown to the user, logged with its traceback
            log.exception("loading %s from %s failed", self.choice.name, self.choice.checkpoint)
            self.failed.emit(f"Could not load {_label(self.choice.name)} from {self.choice.checkpoint}: "
                             f"{type(exc).__name__}: {exc}")
            return
        self.loaded.emit(model)

    def _reduce(self, model):
        """``model`` with its encoder in the chosen precision, on the chosen engine; None (and
        ``failed`` emitted) when the precision cannot run here. An OpenVINO engine that cannot
        start (not installed, export failed) leaves PyTorch running, and says so
        (``engine_note``)."""
        from samlabel.gui.embedding_service import default_encoder_threads
        from samlabel.sam.errors import Cancelled
        from samlabel.sam.fast.encoder_choice import choose_encoder
        from samlabel.sam.fast.precision import PrecisionUnavailableError

        precision = self.choice.quantize
        try:
            chosen = choose_encoder(model, precision, self.choice.engine, device=str(self.choice.device or "cpu"),
                                    progress=self.progress.emit, cancel=self.isInterruptionRequested,
                                    threads=default_encoder_threads())
        except PrecisionUnavailableError as exc:  # the user's machine, not a bug: one line
            message = f"Could not load {_label(self.choice.name)} in {precision}: {exc}"
            log.error("%s", message)
            self.failed.emit(message)
            return None
        except Cancelled:  # the window is closing (requestInterruption) during the first export
            return None
        if chosen.note:
            self._note(chosen.note)
        return chosen.model

    def _note(self, message: str) -> None:
        self.engine_note = message
        self.progress.emit(message)

    def _official_problem(self) -> str | None:
        """A downloaded (not user-chosen) file must be the official checkpoint: its SHA-256 is
        what loading computes anyway (``file_sha256`` remembers it), so this costs nothing more."""
        path = self.choice.checkpoint
        if self.choice.user_file or path is None or not Path(path).is_file():
            return None
        from samlabel.sam.files.checkpoint import file_sha256

        try:
            digest = file_sha256(path)
        except OSError:
            return None  # loading names the problem
        problem = official_file_problem(self.choice.name, Path(path), known_sha256=digest)
        return None if problem is None else f"Not loading {_label(self.choice.name)}: {problem}"
