"""Hyperparameters of EdgeTAM, as frozen dataclasses.

Defaults are those of Meta's ``edgetam.yaml`` and of Hugging Face's ``EdgeTamVideoConfig`` /
``EdgeTamVisionConfig`` for ``facebook/EdgeTAM``: RepViT-M1 (``timm`` ``repvit_m1``), an FPN of
width 256 on its four stages (the stride-32 level dropped), SAM 2.1's heads and tracking
settings, a memory attention of 2 layers, and a Perceiver of 256 global + 256 windowed latents
of width 64 (so its 2D latents sit on a 16 x 16 grid: the cross-attention's key RoPE size).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from samlabel.sam.modeling.sam2.config import (
    SAM2_VIDEO_CONFIG_21,
    DecoderConfig,
    FpnConfig,
    MemoryAttentionConfig,
    Sam2VideoConfig,
)


@dataclass(frozen=True)
class RepVitConfig:
    """The RepViT trunk (``timm.models.repvit.RepVit``): stage widths and depths, highest
    resolution first; ``legacy`` is RepViT-M1's re-parameterisable 1x1 branch with its own BN."""

    embed_dim: tuple[int, ...] = (48, 96, 192, 384)
    depth: tuple[int, ...] = (2, 2, 14, 2)
    mlp_ratio: int = 2
    kernel_size: int = 3
    legacy: bool = True

    @property
    def channel_list(self) -> tuple[int, ...]:
        """Width of each stage, lowest resolution first (the neck's ``backbone_channel_list``)."""
        return tuple(reversed(self.embed_dim))


@dataclass(frozen=True)
class PerceiverConfig:
    """The spatial Perceiver resampler: ``num_latents`` global latents attend to the whole
    memory map, ``num_latents_2d`` (a square number) each to one window of it."""

    num_latents: int = 256
    num_latents_2d: int = 256
    dim: int = 64
    ff_dim: int = 256
    num_heads: int = 1
    head_dim: int = 64
    depth: int = 2

    @property
    def grid_side(self) -> int:
        side = int(round(self.num_latents_2d**0.5))
        if side * side != self.num_latents_2d:
            raise ValueError(f"num_latents_2d must be a square number, got {self.num_latents_2d}")
        return side


EDGETAM_VIDEO_CONFIG = replace(SAM2_VIDEO_CONFIG_21, memory_attention=MemoryAttentionConfig(num_layers=2))


@dataclass(frozen=True)
class EdgeTamConfig:
    """One EdgeTAM model: trunk, neck, SAM heads, tracking settings (``video``: SAM 2.1's with 2
    memory-attention layers), the Perceiver, and the grid of the memory keys' RoPE
    (``rope_k_sizes``, which must be the Perceiver's 2D latent grid)."""

    name: str = "edgetam"
    trunk: RepVitConfig = field(default_factory=RepVitConfig)
    neck: FpnConfig = field(default_factory=FpnConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    video: Sam2VideoConfig = EDGETAM_VIDEO_CONFIG
    perceiver: PerceiverConfig = field(default_factory=PerceiverConfig)
    rope_k_sizes: tuple[int, int] = (16, 16)
    image_size: int = 1024
    backbone_stride: int = 16
    use_high_res_features_in_sam: bool = True
    directly_add_no_mem_embed: bool = True

    def __post_init__(self) -> None:
        side = self.perceiver.grid_side
        if tuple(self.rope_k_sizes) != (side, side):
            raise ValueError(f"rope_k_sizes {self.rope_k_sizes} must be the Perceiver's 2D latent grid ({side}, {side})")
        if self.video.memory_encoder.out_dim != self.perceiver.dim:
            raise ValueError(
                f"the Perceiver's width {self.perceiver.dim} must equal the memory width {self.video.memory_encoder.out_dim}"
            )


EDGETAM_CONFIG = EdgeTamConfig()
