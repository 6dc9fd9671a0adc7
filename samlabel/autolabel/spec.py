"""The job description: a frozen, picklable dataclass, the same for every engine.

``AutolabelSpec`` says which project, which mode (``"boxes"``: every rectangle -> a SAM mask
traced to polygons; ``"everything"``: the automatic mask generator's masks stored as
proposals), which images, which model, and the mode's parameters. It travels unchanged to
Ray actors, so it holds only plain values.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from samlabel.autolabel.errors import AutolabelError

MODES = ("boxes", "everything")
SELECTIONS = ("all", "unlabelled")


@dataclass(frozen=True)
class ModelSpec:
    """How to build the model, in any process.

    ``name``: ``vit_t`` / ``vit_b`` / ``vit_l`` / ``vit_h`` (None: ``vit_t`` on CPU, ``vit_b``
    with CUDA). ``checkpoint``: weights file (None: the downloaded official one).
    ``device``: ``"cpu"`` / ``"cuda"`` (None: cuda if available). ``factory``:
    ``"module:function"`` called as ``function(checkpoint=..., device=...)`` returning a Sam
    (custom models; the tests' small random models) instead of ``build_sam(name)``.
    ``threads``: torch's CPU threads per model (None: the local engine leaves torch's default,
    all cores; a Ray actor uses its ``cpus_per_actor``). The thread count changes float
    rounding in the encoder, which can flip a mask pixel at the threshold, so two runs give
    identical shapes when they use the same thread count per model.
    ``precision`` / ``encoder_engine``: the image encoder's precision (``fp32``, ``bf16``,
    ``int8``, ``auto``) and what runs it (``auto``, ``torch``, ``openvino``), as the app's
    ``--precision`` / ``--engine`` (:mod:`samlabel.sam.fast.encoder_choice`).
    """

    name: str | None = None
    checkpoint: str | None = None
    device: str | None = None
    factory: str | None = None
    threads: int | None = None
    precision: str = "fp32"
    encoder_engine: str = "auto"

    def label(self) -> str:
        """A short name for provenance: ``vit_t``, or the factory's name (``Runner`` adds the
        encoder's precision as it runs)."""
        if self.factory:
            return self.factory
        return self.name or "default"


@dataclass(frozen=True)
class EverythingParams:
    """The automatic mask generator's options (its own names and defaults, ``min_area``
    being ``min_mask_region_area``)."""

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    min_mask_region_area: int = 0

    def as_kwargs(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AutolabelSpec:
    """One auto-label job.

    Attributes:
        project_dir: the project folder (images with labelme sidecars beside them).
        mode: ``"boxes"`` or ``"everything"``.
        model: how to build SAM (:class:`ModelSpec`).
        select: ``"all"`` images, or ``"unlabelled"`` ones (no polygon, mask or point
            shape yet: a rectangle-only image counts as unlabelled).
        glob: only images whose file name matches this pattern (``fnmatch``), or None.
        keep_boxes: boxes mode: keep each rectangle beside its mask (else replaced).
        tolerance: polygon simplification tolerance in pixels (0: exact pixel edges).
        min_area: traced parts and holes below this many pixels are dropped.
        box_batch: at most this many boxes per decoder batch (all of an image's boxes go
            through the decoder together, in batches of this size).
        everything: the generator's parameters (everything mode).
        dry_run: report what would change, load no model and write nothing.
    """

    project_dir: str
    mode: str = "boxes"
    model: ModelSpec = field(default_factory=ModelSpec)
    select: str = "all"
    glob: str | None = None
    keep_boxes: bool = False
    tolerance: float = 1.0
    min_area: float = 4.0
    box_batch: int = 64
    everything: EverythingParams = field(default_factory=EverythingParams)
    dry_run: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "project_dir", os.fspath(self.project_dir))
        if self.mode not in MODES:
            raise AutolabelError(f"unknown mode {self.mode!r} (expected one of {', '.join(MODES)})")
        if self.select not in SELECTIONS:
            raise AutolabelError(f"unknown image selection {self.select!r} (expected one of {', '.join(SELECTIONS)})")
        if self.tolerance < 0:
            raise AutolabelError(f"the tolerance must be >= 0 pixels, got {self.tolerance}")
        if self.box_batch < 1:
            raise AutolabelError(f"the box batch must be at least 1, got {self.box_batch}")
        p = self.everything
        if p.points_per_side < 1 or p.points_per_batch < 1:
            raise AutolabelError("points per side and points per batch must be at least 1")
        for name in ("pred_iou_thresh", "stability_score_thresh", "box_nms_thresh"):
            value = getattr(p, name)
            if not 0.0 <= value <= 1.0:
                raise AutolabelError(f"{name} must be between 0 and 1, got {value}")

    @property
    def root(self) -> Path:
        return Path(self.project_dir)

    def replace(self, **changes) -> "AutolabelSpec":
        return dataclasses.replace(self, **changes)
