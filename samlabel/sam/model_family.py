"""Which SAM family a model is, and the per-family pieces the shared APIs need.

SAM 1 and MobileSAM (``samlabel.sam.modeling.sam1``) resize the longest side to the input
square and pad; SAM 2 (``samlabel.sam.modeling.sam2``) stretches the image to the square
and decodes with two extra high-resolution feature maps. ``SamPredictor``,
``DecoderSession``, ``compute_embedding`` and the mask generator ask here instead of
testing model classes themselves.
"""

from __future__ import annotations

import torch


def is_sam2(model: torch.nn.Module) -> bool:
    """Whether ``model`` is a SAM 2 / 2.1 image model (it has SAM 2's heads)."""
    return hasattr(model, "sam_mask_decoder") and hasattr(model, "sam_prompt_encoder")


def family_name(model: torch.nn.Module) -> str:
    """``"sam2"`` or ``"sam1"`` (SAM 1 and MobileSAM)."""
    return "sam2" if is_sam2(model) else "sam1"


def model_input_size(model: torch.nn.Module) -> int:
    """The square input side of ``model`` (``image_size`` for SAM 2, else ``config.input_size``
    or ``image_encoder.img_size``)."""
    if is_sam2(model):
        return int(model.image_size)
    cfg = getattr(model, "config", None)
    size = getattr(cfg, "input_size", None) if cfg is not None else None
    if size is None:
        size = model.image_encoder.img_size
    return int(size)


def resizer_for(model: torch.nn.Module):
    """The prompt-frame resizer of ``model``: SAM 2's ``StretchResizer`` or SAM 1's ``ImageResizer``."""
    if is_sam2(model):
        from samlabel.sam.sam2.transforms import StretchResizer

        return StretchResizer(model_input_size(model))
    from samlabel.sam.sam1.resizer import ImageResizer

    return ImageResizer(model_input_size(model))
