"""SAM 2's image encoder: Hiera trunk + FPN neck (Meta's ``sam2/modeling/backbones/image_encoder.py``).

For a ``(B, 3, 1024, 1024)`` input and ``scalp=1`` the encoder returns three levels of
``d_model`` (256) channels, highest resolution first: ``(B, 256, 256, 256)``,
``(B, 256, 128, 128)``, ``(B, 256, 64, 64)``; the 32x32 level is dropped.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ImageEncoder(nn.Module):
    """``trunk`` then ``neck``; drops the ``scalp`` lowest-resolution levels.

    ``forward(sample (B, 3, H, W))`` -> ``{"vision_features": (B, d, H/16, W/16),
    "vision_pos_enc": [per level], "backbone_fpn": [per level, highest resolution first]}``.
    """

    def __init__(self, trunk: nn.Module, neck: nn.Module, scalp: int = 0) -> None:
        super().__init__()
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp
        assert self.trunk.channel_list == self.neck.backbone_channel_list, (
            f"Channel dims of trunk and neck do not match. Trunk: {self.trunk.channel_list}, "
            f"neck: {self.neck.backbone_channel_list}"
        )

    def forward(self, sample: torch.Tensor, cancel: Optional[Callable[[], bool]] = None) -> dict:
        features, pos = self.neck(self.trunk(sample, cancel=cancel))
        if self.scalp > 0:
            features, pos = features[: -self.scalp], pos[: -self.scalp]
        return {"vision_features": features[-1], "vision_pos_enc": pos, "backbone_fpn": features}


class FpnNeck(nn.Module):
    """Feature pyramid without output convs: a 1x1 lateral conv per trunk level, top-down
    sums (upsampled x2 with ``fpn_interp_model``) only into ``fpn_top_down_levels``.

    ``forward(xs)``: trunk maps, highest resolution first -> ``(out, pos)``, lists of
    ``(B, d_model, H_i, W_i)`` in the same order.
    """

    def __init__(
        self,
        position_encoding: nn.Module,
        d_model: int,
        backbone_channel_list: Sequence[int],
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
        fpn_interp_model: str = "bilinear",
        fuse_type: str = "sum",
        fpn_top_down_levels: Optional[Sequence[int]] = None,
    ) -> None:
        super().__init__()
        self.position_encoding = position_encoding
        self.convs = nn.ModuleList()
        self.backbone_channel_list = list(backbone_channel_list)
        self.d_model = d_model
        for dim in backbone_channel_list:
            current = nn.Sequential()
            current.add_module(
                "conv",
                nn.Conv2d(in_channels=dim, out_channels=d_model, kernel_size=kernel_size, stride=stride, padding=padding),
            )
            self.convs.append(current)
        self.fpn_interp_model = fpn_interp_model
        assert fuse_type in ["sum", "avg"]
        self.fuse_type = fuse_type
        if fpn_top_down_levels is None:
            fpn_top_down_levels = range(len(self.convs))
        self.fpn_top_down_levels = list(fpn_top_down_levels)

    def forward(self, xs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        out: list = [None] * len(self.convs)
        pos: list = [None] * len(self.convs)
        assert len(xs) == len(self.convs)
        prev_features = None
        n = len(self.convs) - 1
        for i in range(n, -1, -1):  # lowest resolution first
            lateral_features = self.convs[n - i](xs[i])
            if i in self.fpn_top_down_levels and prev_features is not None:
                top_down_features = F.interpolate(
                    prev_features.to(dtype=torch.float32),
                    scale_factor=2.0,
                    mode=self.fpn_interp_model,
                    align_corners=(None if self.fpn_interp_model == "nearest" else False),
                    antialias=False,
                )
                prev_features = lateral_features + top_down_features
                if self.fuse_type == "avg":
                    prev_features /= 2
            else:
                prev_features = lateral_features
            out[i] = prev_features
            pos[i] = self.position_encoding(prev_features).to(prev_features.dtype)
        return out, pos
