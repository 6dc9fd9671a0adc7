"""tfimm's SAM interface (``tfimm.architectures.segment_anything``), under its own names::

    from samlabel.sam.compat.tfimm import SAMPredictor, SegmentAnythingModel, SegmentAnythingModelConfig

    model = SegmentAnythingModel(SegmentAnythingModelConfig.from_name("sam_vit_b"), checkpoint="sam_vit_b_01ec64.pth")
    predictor = SAMPredictor(model)
"""

from samlabel.sam.compat.tfimm_config import SegmentAnythingModelConfig
from samlabel.sam.compat.tfimm_model import SegmentAnythingModel
from samlabel.sam.compat.tfimm_predictor import SAMPredictor
from samlabel.sam.compat.tfimm_resizer import ImageResizer

__all__ = ["ImageResizer", "SAMPredictor", "SegmentAnythingModel", "SegmentAnythingModelConfig"]
