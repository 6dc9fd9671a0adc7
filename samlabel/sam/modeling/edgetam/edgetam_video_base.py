"""The EdgeTAM video model: SAM 2's tracking (``SAM2VideoBase``) with compressed memories.

:class:`EdgeTamVideoBase` is :class:`~samlabel.sam.modeling.sam2.sam2_video_base.SAM2VideoBase`
(same parameters and tracking logic: conditioning frames, the last ``num_maskmem - 1``
tracked frames, object pointers with their temporal encoding) plus ``spatial_perceiver``. Its
one override is :meth:`_encode_new_memory`: SAM 2's memory ``(B, mem_dim, H, W)`` (with the
occlusion embedding added) goes through the Perceiver, and is stored as ``(B, mem_dim, N, 1)``
(N = 512 tokens), with its position encoding likewise, so SAM 2's memory bank code (which
flattens the last two dims) and the predictor's bookkeeping handle it unchanged. The memory
attention (:mod:`.memory_attention`) reads the frame count from the bank's length.
"""

from __future__ import annotations

import torch
from torch import nn

from samlabel.sam.modeling.sam2.sam2_video_base import SAM2VideoBase


class EdgeTamVideoBase(SAM2VideoBase):
    """SAM 2's video model whose new memories are compressed by ``spatial_perceiver``
    (a :class:`~samlabel.sam.modeling.edgetam.perceiver.PerceiverResampler`)."""

    def __init__(self, *args, spatial_perceiver: nn.Module, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spatial_perceiver = spatial_perceiver

    def _encode_new_memory(self, current_vision_feats: list, feat_sizes: list, pred_masks_high_res: torch.Tensor,
                           object_score_logits: torch.Tensor, is_mask_from_pts: bool) -> tuple[torch.Tensor, list]:
        """SAM 2's memory of the frame, compressed: ``(maskmem_features (B, mem_dim, N, 1),
        [maskmem_pos_enc (B, mem_dim, N, 1)])``."""
        features, pos = super()._encode_new_memory(
            current_vision_feats, feat_sizes, pred_masks_high_res, object_score_logits, is_mask_from_pts
        )
        latents, latents_pos = self.spatial_perceiver(features, pos[-1].to(features.dtype))
        return latents.transpose(1, 2).unsqueeze(-1), [latents_pos.transpose(1, 2).unsqueeze(-1)]
