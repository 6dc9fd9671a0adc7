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
    # SHA-256 and size in bytes of the official file (``_OFFICIAL_FILES``); None where no two
    # independent public sources agree on them.
    checkpoint_sha256: Optional[str] = None
    checkpoint_size: Optional[int] = None

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


# SHA-256 and size of Meta's files at the URLs above, each hash recorded identically by at
# least two independent public projects that verify these downloads:
# - SAM 2.1: micro-sam (computational-cell-analytics/micro-sam, micro_sam/v2/util.py: HASHES, the
#   known_hash of its pooch.retrieve of these URLs) and an unrelated project's SAM 2.1 catalog
#   (class SAM2Variant: URL, config and SHA-256 of each of the four files); many single download
#   records agree (e.g. Seg-Studio's installer for tiny and small, from the LFS metadata of its
#   byte-identical Hugging Face re-upload; records of the facebook/sam2.1-hiera-small and -large
#   Hugging Face files with the same size and hash).
# - SAM 2.0: micro-sam (an earlier micro_sam/v2/util.py: HASHES["sam2.0"]) and
#   mazurowski-lab/SlicerSegmentWithSAM (SegmentWithSAM/SegmentWithSAM.py: the "SHA256:..."
#   checksums it passes to downloadFileIntoCache for these URLs).
# Sizes: the same values in several download scripts that check them (one expects all eight
# files) and in the records that give the hashes.
_OFFICIAL_FILES: dict[str, tuple[str, int]] = {
    "sam2.1_hiera_tiny": ("7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69", 156_008_466),
    "sam2.1_hiera_small": ("6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38", 184_416_285),
    "sam2.1_hiera_base_plus": ("a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5", 323_606_802),
    "sam2.1_hiera_large": ("2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318", 898_083_611),
    "sam2_hiera_tiny": ("65b50056e05bcb13694174f51bb6da89c894b57b75ccdf0ba6352c597c5d1125", 155_906_050),
    "sam2_hiera_small": ("95949964d4e548409021d47b22712d5f1abf2564cc0c3c765ba599a24ac7dce3", 184_309_650),
    "sam2_hiera_base_plus": ("d0bb7f236400a49669ffdd1be617959a8b1d1065081789d7bbff88eded3a8071", 323_493_298),
    "sam2_hiera_large": ("7442e4e9b732a508f80e141e7c2913437a3610ee0c77381a66658c3a445df87b", 897_952_466),
}


def _registry() -> dict[str, Sam2Config]:
    out = {}
    for size, trunk in _TRUNKS.items():
        for family, url in (("sam2.1", _URL_21), ("sam2", _URL_20)):
            name = f"{family}_hiera_{size}"
            sha256, nbytes = _OFFICIAL_FILES.get(name, (None, None))
            out[name] = Sam2Config(name=name, trunk=trunk, checkpoint_url=f"{url}{name}.pt",
                                   checkpoint_sha256=sha256, checkpoint_size=nbytes)
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


# --- Video (SAM 2 / SAM 2.1 tracking) -------------------------------------------------------------


@dataclass(frozen=True)
class MemoryAttentionConfig:
    """``model.memory_attention``: ``num_layers`` RoPE self-/cross-attention layers over the
    current frame's tokens and the memory bank (the layer width is the neck's ``d_model``)."""

    num_layers: int = 4
    dim_feedforward: int = 2048
    num_heads: int = 1
    downsample_rate: int = 1
    dropout: float = 0.1
    rope_theta: float = 10000.0
    feat_sizes: tuple[int, int] = (64, 64)
    pos_enc_at_input: bool = True
    pos_enc_at_attn: bool = False
    pos_enc_at_cross_attn_keys: bool = True
    pos_enc_at_cross_attn_queries: bool = False
    activation: str = "relu"


@dataclass(frozen=True)
class MemoryEncoderConfig:
    """``model.memory_encoder``: mask downsampler, ConvNeXt fuser, output projection to
    ``out_dim`` (the memory width ``mem_dim``) and its sine position encoding."""

    out_dim: int = 64
    mask_kernel_size: int = 3
    mask_stride: int = 2
    mask_padding: int = 1
    mask_total_stride: int = 16
    fuser_num_layers: int = 2
    fuser_kernel_size: int = 7
    fuser_padding: int = 3
    fuser_layer_scale_init_value: float = 1e-6
    fuser_use_dwconv: bool = True
    pos_temperature: int = 10000
    pos_normalize: bool = True


@dataclass(frozen=True)
class Sam2VideoConfig:
    """The video-only part of ``SAM2Base`` / ``SAM2VideoPredictor``: the official YAMLs'
    values plus ``binarize_mask_from_pts_for_mem_enc=True``, which
    ``build_sam2_video_predictor(apply_postprocessing=True)`` sets. SAM 2.0 has no
    ``no_obj_embed_spatial`` and no temporal encoding of the object pointers."""

    memory_attention: MemoryAttentionConfig = field(default_factory=MemoryAttentionConfig)
    memory_encoder: MemoryEncoderConfig = field(default_factory=MemoryEncoderConfig)
    num_maskmem: int = 7
    sigmoid_scale_for_mem_enc: float = 20.0
    sigmoid_bias_for_mem_enc: float = -10.0
    binarize_mask_from_pts_for_mem_enc: bool = True
    use_mask_input_as_output_without_sam: bool = True
    max_cond_frames_in_attn: int = -1
    multimask_output_in_sam: bool = True
    multimask_min_pt_num: int = 0
    multimask_max_pt_num: int = 1
    multimask_output_for_tracking: bool = True
    memory_temporal_stride_for_eval: int = 1
    non_overlap_masks_for_mem_enc: bool = False
    use_obj_ptrs_in_encoder: bool = True
    max_obj_ptrs_in_encoder: int = 16
    add_tpos_enc_to_obj_ptrs: bool = True
    proj_tpos_enc_in_obj_ptrs: bool = True
    use_signed_tpos_enc_to_obj_ptrs: bool = True
    only_obj_ptrs_in_the_past_for_eval: bool = True
    fixed_no_obj_ptr: bool = True
    soft_no_obj_ptr: bool = False
    use_mlp_for_obj_ptr_proj: bool = True
    no_obj_embed_spatial: bool = True


SAM2_VIDEO_CONFIG_21 = Sam2VideoConfig()
SAM2_VIDEO_CONFIG_20 = Sam2VideoConfig(
    add_tpos_enc_to_obj_ptrs=False, proj_tpos_enc_in_obj_ptrs=False, use_signed_tpos_enc_to_obj_ptrs=False,
    no_obj_embed_spatial=False,
)


def get_sam2_video_config(name: Union[str, Sam2Config]) -> Sam2VideoConfig:
    """The video settings of model ``name`` (SAM 2.1 unless the name is a ``sam2_hiera_*`` one)."""
    if isinstance(name, Sam2Config):
        name = name.name
    key = _ALIASES.get(name, name)
    return SAM2_VIDEO_CONFIG_20 if key.startswith("sam2_hiera_") else SAM2_VIDEO_CONFIG_21
