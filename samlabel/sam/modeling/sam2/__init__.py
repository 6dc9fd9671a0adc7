"""SAM 2 / SAM 2.1 image models, module for module as Meta's ``sam2/modeling`` (image part).

``hieradet`` (Hiera trunk), ``image_encoder`` (FPN neck + encoder), ``position_encoding``,
``prompt_encoder``, ``transformer``, ``mask_decoder``, ``sam2_image`` (the image model,
named like ``SAM2Base``'s parameters), ``config`` (the official releases' hyperparameters),
``build`` (``build_sam2`` and strict checkpoint loading), ``hf_mapping`` (Hugging Face
``Sam2Model`` key names). Nothing here depends on ``sam2``, hydra or iopath.
"""

from samlabel.sam.modeling.sam2.build import build_sam2, build_sam2_model
from samlabel.sam.modeling.sam2.config import Sam2Config, get_sam2_config, sam2_config_names
from samlabel.sam.modeling.sam2.sam2_image import SAM2Image

__all__ = ["SAM2Image", "Sam2Config", "build_sam2", "build_sam2_model", "get_sam2_config", "sam2_config_names"]
