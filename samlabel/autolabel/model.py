"""Build the model of a :class:`~samlabel.autolabel.spec.ModelSpec` (once per process or
Ray actor) and wrap it with the predictor and generator the job uses."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any

from samlabel.autolabel.errors import ModelUnavailableError
from samlabel.autolabel.spec import AutolabelSpec, ModelSpec

log = logging.getLogger(__name__)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _factory(path: str):
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ModelUnavailableError(f"--model-factory {path!r}: expected 'module:function'")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelUnavailableError(f"--model-factory {path!r}: cannot import it ({exc})") from exc


def build_model(spec: ModelSpec) -> Any:
    """The Sam of ``spec``, in eval mode on its device, its encoder in ``spec.precision`` on
    ``spec.encoder_engine`` (:func:`samlabel.sam.fast.encoder_choice.choose_encoder`; an
    OpenVINO engine that cannot start leaves PyTorch running, with a warning).

    Raises:
        ModelUnavailableError: no checkpoint was found or given, the file is not a
        checkpoint of that model (the message names it), the factory cannot be imported, or
        the precision cannot run here (bf16 without native bf16, a reduced precision on a GPU).
    """
    device = spec.device or default_device()
    if spec.precision in ("bf16", "int8") and device.startswith("cuda"):
        raise ModelUnavailableError(f"--precision {spec.precision} runs on the CPU only; use it with --device cpu")
    return _reduced(_built(spec, device), spec, device)


def _reduced(model: Any, spec: ModelSpec, device: str) -> Any:
    from samlabel.sam.fast.encoder_choice import choose_encoder
    from samlabel.sam.fast.precision import PrecisionUnavailableError

    try:
        chosen = choose_encoder(model, spec.precision, spec.encoder_engine, device=device,
                                progress=lambda message: log.info("%s", message), threads=spec.threads)
    except PrecisionUnavailableError as exc:
        raise ModelUnavailableError(f"cannot run {spec.label()}: {exc}") from exc
    if chosen.note:
        log.warning("%s", chosen.note)
    return chosen.model


def _built(spec: ModelSpec, device: str) -> Any:
    from samlabel.sam.errors import SamError

    if spec.factory:
        return _factory(spec.factory)(checkpoint=spec.checkpoint, device=device)
    name = spec.name or ("vit_b" if device == "cuda" else "vit_t")
    checkpoint = spec.checkpoint
    if checkpoint is None:
        from samlabel.sam.files.download import find_checkpoint

        found = find_checkpoint(name)
        if found is None:
            raise ModelUnavailableError(
                f"no {name} checkpoint: run 'samlabel download {name}' or pass --checkpoint FILE")
        checkpoint = str(found)
    from samlabel.sam.build import build_sam

    try:
        return build_sam(name, checkpoint=checkpoint, device=device)
    except (SamError, OSError) as exc:
        raise ModelUnavailableError(f"cannot load {name} from {checkpoint}: {exc}") from exc


def running_label(spec: ModelSpec, sam: Any) -> str:
    """The provenance name of ``sam`` as it runs: ``spec.label()``, plus its encoder's reduced
    precision where it has one (``vit_t+int8``: PyTorch's dynamic int8; ``vit_t+ov-int8``: the
    OpenVINO engine's), since such shapes differ slightly from fp32's. Read from the model, not
    the request, so ``auto`` and a fallback to PyTorch are named as what ran."""
    from samlabel.sam.fast.openvino_engine import engine_of
    from samlabel.sam.fast.precision import encoder_precision

    precision = encoder_precision(sam)
    if precision == "fp32":
        return spec.label()
    return f"{spec.label()}+{'ov-' if engine_of(sam) is not None else ''}{precision}"


@dataclass
class Runner:
    """What one process needs to label images: the model, its predictor, the model's
    short name for provenance. Built once (per actor on Ray), reused for every image."""

    sam: Any
    predictor: Any
    model_label: str

    @classmethod
    def for_spec(cls, spec: AutolabelSpec, sam: Any = None) -> "Runner":
        from samlabel.sam.predictor import SamPredictor

        if spec.model.threads:
            import torch

            torch.set_num_threads(int(spec.model.threads))
        sam = build_model(spec.model) if sam is None else sam
        return cls(sam=sam, predictor=SamPredictor(sam), model_label=running_label(spec.model, sam))

    def generator(self, spec: AutolabelSpec):
        from samlabel.sam.automatic_mask_generator import SamAutomaticMaskGenerator

        return SamAutomaticMaskGenerator(self.sam, output_mode="coco_rle", **spec.everything.as_kwargs())
