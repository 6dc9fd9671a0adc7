"""Hyperparameters of the SAM 2 / SAM 2.1 image models, as frozen dataclasses, and their registry.

Values are those of Meta's ``sam2`` 1.1.0 package configs (``configs/sam2.1/sam2.1_hiera_*.yaml``
and ``configs/sam2/sam2_hiera_*.yaml``) plus the decoder settings ``build_sam2`` adds with
``apply_postprocessing=True`` (``dynamic_multimask_via_stability``, delta 0.05, threshold 0.98).
The SAM 2.0 and SAM 2.1 configs differ only in video modules (``no_obj_embed_spatial``,
the object pointers' temporal encoding), so both families build the same image model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

_URL_21 = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
_URL_20 = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"


@dataclass(frozen=True)
class HieraConfig:
    """The Hiera trunk (``model.image_encoder.trunk``)."""

    embed_dim: int = 96
    num_heads: int = 1
    stages: tuple[int, ...] = (2, 3, 16, 3)
    global_att_blocks: tuple[int, ...] = (12, 16, 20)
    window_spec: tuple[int, ...] = (8, 4, 14, 7)
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (14, 14)
    q_pool: int = 3
    q_stride: tuple[int, int] = (2, 2)
    dim_mul: float = 2.0
    head_mul: float = 2.0

    @property
    def channel_list(self) -> tuple[int, ...]:
        """Width of each stage, lowest resolution first (the neck's ``backbone_channel_list``)."""
        dims = [int(self.embed_dim * self.dim_mul**i) for i in range(len(self.stages))]
        return tuple(reversed(dims))


@dataclass(frozen=True)
class FpnConfig:
    """The FPN neck and its sine position encoding (``model.image_encoder.neck``)."""

    d_model: int = 256
    fpn_top_down_levels: tuple[int, ...] = (2, 3)
    fpn_interp_model: str = "nearest"
    fuse_type: str = "sum"
    kernel_size: int = 1
    stride: int = 1
    padding: int = 0
    pos_temperature: int = 10000
    pos_normalize: bool = True
    scalp: int = 1


@dataclass(frozen=True)
class DecoderConfig:
    """SAM heads as ``SAM2Base._build_sam_heads`` makes them (prompt encoder and mask decoder)."""

    mask_in_chans: int = 16
    num_multimask_outputs: int = 3
    transformer_depth: int = 2
    transformer_mlp_dim: int = 2048
    transformer_num_heads: int = 8
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    iou_prediction_use_sigmoid: bool = True
    pred_obj_scores: bool = True
    pred_obj_scores_mlp: bool = True
    use_multimask_token_for_obj_ptr: bool = True
    dynamic_multimask_via_stability: bool = True
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98


@dataclass(frozen=True)
class Sam2Config:
    """One SAM 2 image model: trunk, neck, heads and the official checkpoint."""

    name: str
    trunk: HieraConfig = field(default_factory=HieraConfig)
    neck: FpnConfig = field(default_factory=FpnConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    image_size: int = 1024
    backbone_stride: int = 16
    use_high_res_features_in_sam: bool = True
    directly_add_no_mem_embed: bool = True
    checkpoint_url: Optional[str] = None
    # SHA-256 of the official file: None until verified against a real download (not
    # possible offline here); the lead adds them.
    checkpoint_sha256: Optional[str] = None

    @property
    def checkpoint_filename(self) -> Optional[str]:
        return self.checkpoint_url.rsplit("/", 1)[-1] if self.checkpoint_url else None


_TRUNKS = {
    "tiny": HieraConfig(embed_dim=96, num_heads=1, stages=(1, 2, 7, 2), global_att_blocks=(5, 7, 9),
                        window_pos_embed_bkg_spatial_size=(7, 7)),
    "small": HieraConfig(embed_dim=96, num_heads=1, stages=(1, 2, 11, 2), global_att_blocks=(7, 10, 13),
                         window_pos_embed_bkg_spatial_size=(7, 7)),
    "base_plus": HieraConfig(embed_dim=112, num_heads=2),  # stages (2, 3, 16, 3), bkg (14, 14): the defaults
    "large": HieraConfig(embed_dim=144, num_heads=2, stages=(2, 6, 36, 4), global_att_blocks=(23, 33, 43),
                         window_spec=(8, 4, 16, 8), window_pos_embed_bkg_spatial_size=(7, 7)),
}


def _registry() -> dict[str, Sam2Config]:
    out = {}
    for size, trunk in _TRUNKS.items():
        for family, url in (("sam2.1", _URL_21), ("sam2", _URL_20)):
            name = f"{family}_hiera_{size}"
            out[name] = Sam2Config(name=name, trunk=trunk, checkpoint_url=f"{url}{name}.pt")
    return out


SAM2_CONFIGS: dict[str, Sam2Config] = _registry()

# Meta's config file names (``sam2.1_hiera_t``, ``sam2.1_hiera_b+``...) and HF ids' short forms.
_ALIASES = {
    f"{family}_hiera_{short}": f"{family}_hiera_{size}"
    for family in ("sam2.1", "sam2")
    for short, size in (("t", "tiny"), ("s", "small"), ("b+", "base_plus"), ("l", "large"))
}


def sam2_config_names() -> list[str]:
    """The registered names (``sam2.1_hiera_tiny`` ... ``sam2_hiera_large``)."""
    return list(SAM2_CONFIGS)


def get_sam2_config(name: Union[str, Sam2Config]) -> Sam2Config:
    """The config registered as ``name`` (also accepts Meta's short names such as
    ``sam2.1_hiera_t`` / ``sam2.1_hiera_b+``); a ``Sam2Config`` is returned as is."""
    if isinstance(name, Sam2Config):
        return name
    key = _ALIASES.get(name, name)
    if key not in SAM2_CONFIGS:
        raise ValueError(f"unknown SAM 2 model {name!r}; known: {', '.join(SAM2_CONFIGS)}")
    return SAM2_CONFIGS[key]
