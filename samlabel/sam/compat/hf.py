"""The Hugging Face ``transformers`` SAM interface, under its own names::

    from samlabel.sam.compat.hf import SamModel, SamProcessor

    model = SamModel.from_pretrained("sam-vit-base/")       # a local facebook/sam-vit-* snapshot
    processor = SamProcessor.from_pretrained("sam-vit-base/")
"""

from samlabel.sam.compat.hf_config import SamConfig, SamMaskDecoderConfig, SamPromptEncoderConfig, SamVisionConfig
from samlabel.sam.compat.hf_mask_generation import filter_masks, generate_crop_boxes, post_process_for_mask_generation
from samlabel.sam.compat.hf_model import SamImageSegmentationOutput, SamModel
from samlabel.sam.compat.hf_processor import BatchFeature, SamImageProcessor, SamProcessor

__all__ = [
    "BatchFeature", "SamConfig", "SamImageProcessor", "SamImageSegmentationOutput", "SamMaskDecoderConfig",
    "SamModel", "SamProcessor", "SamPromptEncoderConfig", "SamVisionConfig", "filter_masks",
    "generate_crop_boxes", "post_process_for_mask_generation",
]
