"""Where the AI tools stand (no model, loading, failed, ready) and what to tell the user (no Qt).

The window keeps one :class:`ModelStatus` and replaces it as the model loads or fails. An
AI shortcut pressed without a model asks :meth:`ModelStatus.why_unavailable` what to show
in the status bar, so the user always learns why nothing happened and how to get a model::

    status = ModelStatus.loading(choice)
    status.why_unavailable("Segment everything")
    # "Segment everything: the vit_t model is still loading — try again in a moment."
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

GET_A_MODEL = "Model ▸ Download model… or Model ▸ Load checkpoint file…"


def display_name(name: str) -> str:
    """The model's name for the user: ``"SAM 2.1 Hiera tiny"`` for ``sam2.1_hiera_tiny``; SAM 1
    names (``vit_b``...) as they are."""
    from samlabel.sam.files.official import display_name as _display

    return _display(name)


def official_hash_known(name: str) -> bool:
    """Whether the official file of ``name`` has a known hash (its download was verified by
    it); True for names without an official file (nothing to say then)."""
    try:
        from samlabel.sam.files.official import official_file

        spec = official_file(name)
    except (ImportError, ValueError, AttributeError):
        return True
    return spec.hash_known or not spec.url


class ModelState(str, Enum):
    OFF = "off"  # no checkpoint to load (or none chosen)
    LOADING = "loading"
    FAILED = "failed"
    READY = "ready"


@dataclass(frozen=True)
class ModelStatus:
    """The AI tools' state: ``name`` of the model, ``reason`` (OFF / FAILED: why, in words the
    user understands), ``checkpoint`` and whether it is the user's own file."""

    state: ModelState = ModelState.OFF
    name: str = ""
    reason: str = ""
    checkpoint: Path | None = None
    user_file: bool = False
    wrong_file: Path | None = None  # OFF: a file at the official location that is not the official one

    # ------------------------------------------------------------------ from a ModelChoice
    @classmethod
    def off(cls, choice=None) -> "ModelStatus":
        if choice is None:
            return cls(ModelState.OFF, reason="no model was chosen")
        return cls(ModelState.OFF, choice.name, choice.reason or choice.message, choice.checkpoint, choice.user_file,
                   getattr(choice, "wrong_file", None))

    @classmethod
    def loading(cls, choice) -> "ModelStatus":
        return cls(ModelState.LOADING, choice.name, "", choice.checkpoint, choice.user_file)

    @classmethod
    def failed(cls, choice, message: str) -> "ModelStatus":
        return cls(ModelState.FAILED, choice.name, message, choice.checkpoint, choice.user_file)

    @classmethod
    def ready(cls, choice) -> "ModelStatus":
        return cls(ModelState.READY, choice.name, "", choice.checkpoint, choice.user_file)

    # ------------------------------------------------------------------ for the user
    @property
    def available(self) -> bool:
        return self.state is ModelState.READY

    def why_unavailable(self, what: str) -> str | None:
        """The status-bar message for ``what`` (an AI tool) pressed now; None when it can run."""
        if self.state is ModelState.READY:
            return None
        if self.state is ModelState.LOADING:
            return f"{what}: the {self.label} model is still loading — try again in a moment."
        if self.state is ModelState.FAILED:
            return f"{what}: no model — {self.label} failed to load: {self._reason()}. Get one: {GET_A_MODEL}"
        return f"{what}: no SAM model is loaded ({self._reason()}). Get one: {GET_A_MODEL}"

    @property
    def label(self) -> str:
        """The model's name as the user reads it (``"SAM 2.1 Hiera tiny"``, ``"vit_b"``)."""
        return display_name(self.name)

    def _reason(self) -> str:
        return self.reason.rstrip(". ") or "unknown reason"

    def weights_text(self) -> str:
        """``"your file: /path/x.pth"`` for a user-chosen file, else the file name."""
        if self.checkpoint is None:
            return ""
        return f"your file: {self.checkpoint}" if self.user_file else self.checkpoint.name

    def indicator(self, device: str = "", quantized: bool = False, precision: str = "fp32",
                  engine: str = "") -> tuple[str, str]:
        """``(text, tooltip)`` of the model indicator in the status bar.

        ``precision``: the image encoder's (``samlabel.sam.fast.precision.encoder_precision``);
        ``"bf16"`` / ``"int8"`` are shown beside the device (``quantized=True`` means int8).
        ``engine``: what runs the image encoder when it is not PyTorch (``"OpenVINO"``), shown too."""
        if quantized and precision == "fp32":
            precision = "int8"
        if self.state is ModelState.LOADING:
            text = f"Loading {self.label}…"
            source = f"\nWeights: {self.weights_text()}" if self.checkpoint is not None else ""
            return text, f"{text}{source}"
        if self.state is ModelState.FAILED:
            return f"AI off: {self.label} did not load", f"AI tools are off.\n{self.reason}"
        if self.state is ModelState.OFF and self.wrong_file is not None:
            return f"AI off: ⚠ {self.wrong_file.name} is not the official {self.label} file", self.reason
        if self.state is ModelState.OFF:
            return "AI off: no model — Model ▸ Download model…", self.reason
        details = [device] if device else []
        if precision in ("bf16", "int8"):
            details.append(precision)
        if engine:
            details.append(engine)
        if self.user_file and self.checkpoint is not None:
            details.append(f"your file: {self.checkpoint.name}")
        text = f"Model: {self.label}" + (f" ({', '.join(details)})" if details else "")
        on = f" on {engine}" if engine else ""
        if precision in ("bf16", "int8"):
            text_tip = (f"{text}\nImage encoder: {precision}{on} (reduced precision: faster, masks may differ "
                        "slightly from fp32)")
        elif engine:
            text_tip = f"{text}\nImage encoder: fp32 on {engine} (equal to PyTorch's within float rounding)"
        else:
            text_tip = text
        if self.checkpoint is None:
            return text, text_tip
        if self.user_file:
            return text, f"{text_tip}\nWeights: your file {self.checkpoint} (not an official download; not checked)"
        official = ""
        if self.checkpoint.is_file():
            official = (" (official checkpoint, verified)" if official_hash_known(self.name) else
                        " (official download; size checked, SHA-256 unverified: no official hash is known)")
        return text, f"{text_tip}\nWeights: {self.checkpoint}{official}"
