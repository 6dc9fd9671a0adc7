"""MobileSAM's image encoder: a TinyViT-5M adapted to 1024x1024 inputs.

MobileSAM (Zhang et al., 2023) keeps SAM's prompt encoder and mask decoder and distils
the ViT-H image encoder into this 5M-parameter TinyViT (Wu et al., 2022)::

    (B, 3, 1024, 1024)
      patch_embed   two stride-2 3x3 Conv2d_BN with a GELU     -> (B,  64, 256, 256)
      layers[0]     MBConv x2, PatchMerging (stride 2)         -> (B, 128, 128, 128)
      layers[1]     TinyViTBlock x2 (window 7), PatchMerging   -> (B, 160,  64,  64)
      layers[2]     TinyViTBlock x6 (window 14), PatchMerging
                    with stride 1 (MobileSAM's change)         -> (B, 320,  64,  64)
      layers[3]     TinyViTBlock x2 (window 7)                 -> (B, 320,  64,  64)
      neck          1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d -> (B, 256, 64, 64)

Names of modules and parameters are the official ones, so ``mobile_sam.pt`` loads with
``strict=True``. That includes ``norm_head`` and ``head``, the ImageNet classification
head TinyViT was pre-trained with: MobileSAM never runs it, but its weights are in the
official checkpoint, so the modules exist here (unused) to keep strict loading strict.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn

from samlabel.sam.modeling.common import LayerNorm2d
from samlabel.sam.errors import Cancelled
from samlabel.sam.modeling.sam1.tiny_vit_blocks import (
    Conv2d_BN,
    MBConv,
    PatchMerging,
    TinyViTBlock,
)

CancelCheck = Optional[Callable[[], bool]]

# TinyViT was pre-trained on ImageNet-1k; the unused head in the checkpoint has 1000 outputs.
CHECKPOINT_NUM_CLASSES = 1000


def _check_cancel(cancel: CancelCheck) -> None:
    if cancel is not None and cancel():
        raise Cancelled("image encoding was cancelled")


class PatchEmbed(nn.Module):
    """Two stride-2 convolutions: ``(B, Cin, H, W) -> (B, C, H/4, W/4)``."""

    def __init__(self, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            Conv2d_BN(in_chans, embed_dim // 2, kernel_size=3, stride=2, padding=1),
            nn.GELU(),
            Conv2d_BN(embed_dim // 2, embed_dim, kernel_size=3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class ConvLayer(nn.Module):
    """The first stage: MBConv blocks, then a PatchMerging.

    ``(B, C, H, W) -> (B, C_out, H/s, W/s)``.
    """

    def __init__(self, dim: int, depth: int, expand_ratio: float,
                 downsample: Optional[PatchMerging]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(MBConv(dim, expand_ratio) for _ in range(depth))
        self.downsample = downsample

    def forward(self, x: torch.Tensor, cancel: CancelCheck = None) -> torch.Tensor:
        for block in self.blocks:
            _check_cancel(cancel)
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class BasicLayer(nn.Module):
    """An attention stage: TinyViT blocks, then (except the last stage) a PatchMerging.

    ``(B, C, H, W) -> (B, C_out, H/s, W/s)``; the blocks work on ``(B, H, W, C)`` tokens.
    """

    def __init__(self, dim: int, depth: int, num_heads: int, window_size: int,
                 mlp_ratio: float, local_conv_size: int,
                 downsample: Optional[PatchMerging]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TinyViTBlock(dim, num_heads, window_size, mlp_ratio, local_conv_size)
            for _ in range(depth)
        )
        self.downsample = downsample

    def forward(self, x: torch.Tensor, cancel: CancelCheck = None) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)
        for block in self.blocks:
            _check_cancel(cancel)
            x = block(x)
        x = x.permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
        return x if self.downsample is None else self.downsample(x)


class TinyViT(nn.Module):
    """TinyViT image encoder of MobileSAM: ``(B, 3, S, S) -> (B, out_chans, S/16, S/16)``.

    The input is the normalised, padded image (``S = img_size``, 1024 for MobileSAM).
    """

    def __init__(
        self,
        img_size: int = 1024,
        in_chans: int = 3,
        embed_dims: Sequence[int] = (64, 128, 160, 320),
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (2, 4, 5, 10),
        window_sizes: Sequence[int] = (7, 7, 14, 7),
        mlp_ratio: float = 4.0,
        mbconv_expand_ratio: float = 4.0,
        local_conv_size: int = 3,
        out_chans: int = 256,
        num_classes: int = CHECKPOINT_NUM_CLASSES,
    ) -> None:
        super().__init__()
        num_stages = len(depths)
        if not (len(embed_dims) == len(num_heads) == len(window_sizes) == num_stages >= 2):
            raise ValueError(
                "TinyViT: embed_dims, depths, num_heads and window_sizes need one entry per "
                f"stage (at least 2), got {embed_dims}, {depths}, {num_heads}, {window_sizes}"
            )
        self.img_size = img_size
        # stem /4, then /2 at every merge except the last one (stride 1)
        self.output_stride = 4 * 2 ** (num_stages - 2)
        self.patch_embed = PatchEmbed(in_chans, embed_dims[0])

        self.layers = nn.ModuleList()
        for i in range(num_stages):
            downsample = None
            if i < num_stages - 1:
                # The merge into the last stage keeps the resolution (stride 1): MobileSAM's
                # change that makes the output 1/16 of the input, like SAM's ViT.
                stride = 1 if i == num_stages - 2 else 2
                downsample = PatchMerging(embed_dims[i], embed_dims[i + 1], stride)
            if i == 0:
                layer: nn.Module = ConvLayer(embed_dims[0], depths[0], mbconv_expand_ratio,
                                             downsample)
            else:
                layer = BasicLayer(embed_dims[i], depths[i], num_heads[i], window_sizes[i],
                                   mlp_ratio, local_conv_size, downsample)
            self.layers.append(layer)

        # Unused ImageNet classification head: kept so the official checkpoint loads strictly.
        self.norm_head = nn.LayerNorm(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], num_classes) if num_classes > 0 else nn.Identity()

        self.neck = nn.Sequential(
            nn.Conv2d(embed_dims[-1], out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    @classmethod
    def from_config(cls, cfg: Any) -> "TinyViT":
        """Builds the encoder from a ``TinyViTEncoderConfig`` (see ``samlabel.sam.config``).

        Training-only settings (dropout, stochastic depth, gradient checkpointing, layer-wise
        learning-rate decay) do not change inference and are not used; non-zero dropout
        rates are refused so a config never silently means something this encoder does not do.
        """
        for name in ("drop_rate", "drop_path_rate"):
            rate = getattr(cfg, name)
            if rate:
                raise ValueError(f"TinyViT runs inference only; {name} must be 0, got {rate}")
        model = cls(
            img_size=cfg.img_size,
            in_chans=cfg.in_chans,
            embed_dims=tuple(cfg.embed_dims),
            depths=tuple(cfg.depths),
            num_heads=tuple(cfg.num_heads),
            window_sizes=tuple(cfg.window_sizes),
            mlp_ratio=cfg.mlp_ratio,
            mbconv_expand_ratio=cfg.mbconv_expand_ratio,
            local_conv_size=cfg.local_conv_size,
            out_chans=cfg.out_chans,
            num_classes=cfg.num_classes,
        )
        stride = model.output_stride
        if cfg.patch_size != stride:
            raise ValueError(f"TinyViT with {len(cfg.depths)} stages has an output stride of "
                             f"{stride}, but the config says patch_size={cfg.patch_size}")
        return model

    def forward(self, x: torch.Tensor, cancel: CancelCheck = None) -> torch.Tensor:
        """``(B, 3, S, S) -> (B, out_chans, S/16, S/16)``.

        ``cancel`` is polled before every block; when it returns True the encoder stops
        and raises :class:`samlabel.sam.errors.Cancelled`.
        """
        _check_cancel(cancel)
        # Channels-last memory: faster convolutions on CPU, and free permutes to the
        # (B, H, W, C) token layout of the attention stages.
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.patch_embed(x)  # (B, C0, S/4, S/4)
        for layer in self.layers:
            x = layer(x, cancel)  # ... -> (B, C_last, S/16, S/16)
        _check_cancel(cancel)
        return self.neck(x)
