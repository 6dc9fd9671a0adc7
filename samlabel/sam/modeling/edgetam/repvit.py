"""The RepViT image trunk of EdgeTAM (``timm.models.repvit.RepVit``, RepViT-M1), in plain PyTorch.

Module and parameter names are timm's (``stem.conv1.c.weight``, ``stages.1.downsample.ffn.conv2.bn.running_var``,
``stages.2.blocks.3.se.fc1.weight``...), so a timm ``repvit_m1`` state dict (without its
classifier ``head``) loads as is; Hugging Face's ``TimmWrapperModel`` (features only) names the
stages ``stages_0`` .. ``stages_3`` instead (see :mod:`.hf_mapping`). No classifier head is built.

``forward(x (B, 3, S, S))`` -> the four stages' maps, highest resolution first:
``(B, 48, S/4, S/4)``, ``(B, 96, S/8, S/8)``, ``(B, 192, S/16, S/16)``, ``(B, 384, S/32, S/32)`` for RepViT-M1.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch import nn

from samlabel.sam.errors import Cancelled


def make_divisible(v: float, divisor: int = 8, min_value: Optional[int] = None, round_limit: float = 0.9) -> int:
    """timm's channel rounding (``timm.layers.make_divisible``)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


class ConvNorm(nn.Sequential):
    """Conv (no bias) + BatchNorm: ``c``, ``bn``."""

    def __init__(self, in_dim: int, out_dim: int, ks: int = 1, stride: int = 1, pad: int = 0, groups: int = 1) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(in_dim, out_dim, ks, stride, pad, 1, groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_dim))


class SqueezeExcite(nn.Module):
    """timm's ``SEModule``: mean-pool, 1x1 conv, ReLU, 1x1 conv, sigmoid gate."""

    def __init__(self, channels: int, rd_ratio: float = 0.25) -> None:
        super().__init__()
        rd = make_divisible(channels * rd_ratio, 8, round_limit=0.0)
        self.fc1 = nn.Conv2d(channels, rd, kernel_size=1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * s.sigmoid()


class RepVggDw(nn.Module):
    """Depthwise k x k conv-BN + depthwise 1x1 branch + identity (``legacy``: the 1x1 branch has
    its own BN and there is no final BN)."""

    def __init__(self, dim: int, kernel_size: int, legacy: bool = False) -> None:
        super().__init__()
        self.conv = ConvNorm(dim, dim, kernel_size, 1, (kernel_size - 1) // 2, groups=dim)
        if legacy:
            self.conv1 = ConvNorm(dim, dim, 1, 1, 0, groups=dim)
            self.bn = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(dim, dim, 1, 1, 0, groups=dim)
            self.bn = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x) + self.conv1(x) + x)


class RepVitMlp(nn.Module):
    """1x1 conv-BN, GELU, 1x1 conv-BN."""

    def __init__(self, in_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.conv1 = ConvNorm(in_dim, hidden_dim)
        self.act = nn.GELU()
        self.conv2 = ConvNorm(hidden_dim, in_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))


class RepViTBlock(nn.Module):
    """Token mixer (RepVggDw), optional squeeze-excite, residual channel MLP."""

    def __init__(self, dim: int, mlp_ratio: int, kernel_size: int, use_se: bool, legacy: bool = False) -> None:
        super().__init__()
        self.token_mixer = RepVggDw(dim, kernel_size, legacy)
        self.se = SqueezeExcite(dim, 0.25) if use_se else nn.Identity()
        self.channel_mixer = RepVitMlp(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.se(self.token_mixer(x))
        return x + self.channel_mixer(x)


class RepVitStem(nn.Module):
    """Two stride-2 3x3 conv-BNs with a GELU between: ``(B, 3, S, S)`` -> ``(B, C, S/4, S/4)``."""

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__()
        self.conv1 = ConvNorm(in_chs, out_chs // 2, 3, 2, 1)
        self.act1 = nn.GELU()
        self.conv2 = ConvNorm(out_chs // 2, out_chs, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act1(self.conv1(x)))


class RepVitDownsample(nn.Module):
    """A block, a depthwise stride-2 conv-BN, a 1x1 conv-BN to ``out_dim``, a residual MLP."""

    def __init__(self, in_dim: int, mlp_ratio: int, out_dim: int, kernel_size: int, legacy: bool = False) -> None:
        super().__init__()
        self.pre_block = RepViTBlock(in_dim, mlp_ratio, kernel_size, use_se=False, legacy=legacy)
        self.spatial_downsample = ConvNorm(in_dim, in_dim, kernel_size, 2, (kernel_size - 1) // 2, groups=in_dim)
        self.channel_downsample = ConvNorm(in_dim, out_dim, 1, 1)
        self.ffn = RepVitMlp(out_dim, out_dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.channel_downsample(self.spatial_downsample(self.pre_block(x)))
        return x + self.ffn(x)


class RepVitStage(nn.Module):
    """Optional downsample, then ``depth`` blocks (squeeze-excite in every other one, from the first)."""

    def __init__(self, in_dim: int, out_dim: int, depth: int, mlp_ratio: int, kernel_size: int = 3,
                 downsample: bool = True, legacy: bool = False) -> None:
        super().__init__()
        if downsample:
            self.downsample = RepVitDownsample(in_dim, mlp_ratio, out_dim, kernel_size, legacy=legacy)
        else:
            if in_dim != out_dim:
                raise ValueError(f"a stage without downsampling keeps its width ({in_dim} != {out_dim})")
            self.downsample = nn.Identity()
        self.blocks = nn.Sequential(
            *(RepViTBlock(out_dim, mlp_ratio, kernel_size, use_se=(i % 2 == 0), legacy=legacy) for i in range(depth))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class RepVit(nn.Module):
    """The trunk: stem (stride 4) and one stage per ``embed_dim`` entry (each after the first
    halves the resolution). ``channel_list`` is what :class:`~samlabel.sam.modeling.sam2.image_encoder.FpnNeck`
    expects (lowest resolution first)."""

    def __init__(self, embed_dim: Sequence[int] = (48, 96, 192, 384), depth: Sequence[int] = (2, 2, 14, 2),
                 mlp_ratio: int = 2, kernel_size: int = 3, legacy: bool = True, in_chans: int = 3) -> None:
        super().__init__()
        if len(embed_dim) != len(depth):
            raise ValueError(f"embed_dim {tuple(embed_dim)} and depth {tuple(depth)} need one entry per stage")
        self.stem = RepVitStem(in_chans, embed_dim[0])
        stages = []
        in_dim = embed_dim[0]
        for i, (dim, d) in enumerate(zip(embed_dim, depth)):
            stages.append(RepVitStage(in_dim, dim, d, mlp_ratio, kernel_size, downsample=i != 0, legacy=legacy))
            in_dim = dim
        self.stages = nn.Sequential(*stages)
        self.channel_list = list(reversed(embed_dim))

    def forward(self, x: torch.Tensor, cancel: Optional[Callable[[], bool]] = None) -> list[torch.Tensor]:
        """``(B, 3, S, S)`` -> one map per stage, highest resolution first. ``cancel()`` is
        polled between stages and makes it raise ``Cancelled``."""
        x = self.stem(x)
        outputs = []
        for stage in self.stages:
            if cancel is not None and cancel():
                raise Cancelled("image encoding was cancelled")
            x = stage(x)
            outputs.append(x)
        return outputs
