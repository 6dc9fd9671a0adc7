"""Segment Anything in PyTorch (no Qt).

The public names match Meta's ``segment_anything`` package::

    from samlabel.sam import sam_model_registry, build_sam, SamPredictor, SamAutomaticMaskGenerator

Names are imported lazily so that ``import samlabel.sam`` stays cheap and each module
can be read (and tested) on its own.
"""

from __future__ import annotations

from samlabel.lazy import lazy_exports

_EXPORTS = {
    # model and checkpoints
    "SamConfig": "samlabel.sam.config",
    "get_config": "samlabel.sam.config",
    "Sam": "samlabel.sam.modeling.sam1.sam",
    "build_sam": "samlabel.sam.build",
    "build_sam_vit_b": "samlabel.sam.build",
    "build_sam_vit_l": "samlabel.sam.build",
    "build_sam_vit_h": "samlabel.sam.build",
    "build_sam_vit_t": "samlabel.sam.build",
    "sam_model_registry": "samlabel.sam.build",
    "default_model_name": "samlabel.sam.build",
    "download_checkpoint": "samlabel.sam.files.download",
    # prediction
    "ImageResizer": "samlabel.sam.sam1.resizer",
    "ImageEmbedding": "samlabel.sam.embedding",
    "SamPredictor": "samlabel.sam.predictor",
    "Prompt": "samlabel.sam.interactive",
    "Prediction": "samlabel.sam.interactive",
    "SamAutomaticMaskGenerator": "samlabel.sam.automatic_mask_generator",
    # SAM 2 / 2.1 image models
    "build_sam2": "samlabel.sam.modeling.sam2.build",
    "SAM2ImagePredictor": "samlabel.sam.sam2.image_predictor",
    "SAM2AutomaticMaskGenerator": "samlabel.sam.automatic_mask_generator",
    # SAM 2 / 2.1 video tracking
    "SAM2VideoPredictor": "samlabel.sam.video.sam2_video_predictor",
    "SamVideoPredictor": "samlabel.sam.video.sam2_video_predictor",
    "build_sam_video_predictor": "samlabel.sam.video.sam2_video_predictor",
    # errors
    "SamError": "samlabel.sam.errors",
    "CheckpointError": "samlabel.sam.errors",
    "DownloadError": "samlabel.sam.errors",
    "EmbeddingError": "samlabel.sam.errors",
    "Cancelled": "samlabel.sam.errors",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
