"""tfimm's ``SegmentAnythingModelConfig`` (``tfimm.architectures.segment_anything``), mapped onto samlabel's config.

    cfg = SegmentAnythingModelConfig.from_name("sam_vit_b")      # tfimm's model names
    cfg = SegmentAnythingModelConfig(name="mine", encoder_nb_blocks=2, encoder_embed_dim=64, ...)
    native = cfg.to_sam_config()                                  # samlabel.sam.config.SamConfig

Field names and defaults are tfimm's. ``mean``/``std`` are in [0, 1] units (ImageNet's), as
tfimm's preprocessing of [0, 255] images (``x / 255`` then ``(x - mean) / std``); samlabel's
``pixel_mean``/``pixel_std`` are the same times 255. The dropout rates only act in training
and are kept but not used; ``first_conv`` (for tfimm's weight transfer) is kept as a name.
What samlabel's model cannot express raises ``ValueError``: a non-square ``input_size``, an
activation other than GELU, a norm layer other than ``layer_norm`` / ``layer_norm_eps_<eps>``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from samlabel.sam.config import MaskDecoderConfig, ViTEncoderConfig, get_config
from samlabel.sam.config import SamConfig as NativeSamConfig

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)
# tfimm's registered names -> samlabel's (tfimm has no MobileSAM)
TFIMM_NAMES = {"sam_vit_b": "vit_b", "sam_vit_l": "vit_l", "sam_vit_h": "vit_h"}
_NORM = re.compile(r"^layer_norm(?:_eps_(?P<eps>[0-9.eE+-]+))?$")


@dataclass(frozen=True)
class SegmentAnythingModelConfig:
    """tfimm's SAM config. Sizes are ``(height, width)``; see the module docstring for the mapping."""

    name: str = "sam"
    url: str = ""
    in_channels: int = 3
    input_size: tuple[int, int] = (1024, 1024)
    fixed_input_size: bool = True
    embed_dim: int = 256
    nb_multimask_outputs: int = 3
    mask_threshold: float = 0.0

    encoder_patch_size: int = 16
    encoder_embed_dim: int = 768
    encoder_nb_blocks: int = 12
    encoder_nb_heads: int = 12
    encoder_mlp_ratio: float = 4.0
    encoder_drop_rate: float = 0.0
    encoder_attn_drop_rate: float = 0.0
    encoder_drop_path_rate: float = 0.0
    encoder_norm_layer: str = "layer_norm_eps_1e-6"
    encoder_act_layer: str = "gelu"
    encoder_qkv_bias: bool = True
    encoder_global_attn_indices: tuple[int, ...] = (2, 5, 8, 11)
    encoder_window_size: int = 14

    prompt_mask_hidden_dim: int = 16

    decoder_nb_blocks: int = 2
    decoder_nb_heads: int = 8
    decoder_mlp_channels: int = 2048
    decoder_iou_head_depth: int = 3
    decoder_iou_hidden_dim: int = 256

    mean: tuple[float, ...] = IMAGENET_DEFAULT_MEAN
    std: tuple[float, ...] = IMAGENET_DEFAULT_STD
    first_conv: str = "image_encoder/patch_embed/proj"

    def __post_init__(self) -> None:
        size = tuple(int(v) for v in self.input_size)
        if len(size) != 2:
            raise ValueError(f"input_size must be (height, width), got {self.input_size!r}")
        object.__setattr__(self, "input_size", size)
        object.__setattr__(self, "encoder_global_attn_indices", tuple(int(i) for i in self.encoder_global_attn_indices))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def norm_eps(self) -> float:
        """The LayerNorm epsilon named by ``encoder_norm_layer`` (``layer_norm`` is PyTorch's 1e-5)."""
        match = _NORM.match(self.encoder_norm_layer)
        if match is None:
            raise ValueError(
                f"encoder_norm_layer must be 'layer_norm' or 'layer_norm_eps_<eps>', got {self.encoder_norm_layer!r}"
            )
        return float(match.group("eps")) if match.group("eps") else 1e-5

    def replace(self, **changes) -> "SegmentAnythingModelConfig":
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ mapping
    def to_sam_config(self) -> NativeSamConfig:
        """The samlabel :class:`~samlabel.sam.config.SamConfig` of the same model (``ValueError`` if none)."""
        h, w = self.input_size
        if h != w:
            raise ValueError(f"input_size must be square for samlabel's SAM, got {self.input_size}")
        if self.encoder_act_layer != "gelu":
            raise ValueError(f"encoder_act_layer must be 'gelu', got {self.encoder_act_layer!r}")
        return NativeSamConfig(
            name=self.name,
            encoder=ViTEncoderConfig(
                patch_size=self.encoder_patch_size,
                embed_dim=self.encoder_embed_dim,
                depth=self.encoder_nb_blocks,
                num_heads=self.encoder_nb_heads,
                mlp_ratio=self.encoder_mlp_ratio,
                norm_eps=self.norm_eps,
                qkv_bias=self.encoder_qkv_bias,
                global_attn_indexes=self.encoder_global_attn_indices,
                window_size=self.encoder_window_size,
                out_chans=self.embed_dim,
                pretrain_img_size=h,
            ),
            in_channels=self.in_channels,
            input_size=h,
            fixed_input_size=self.fixed_input_size,
            pixel_mean=tuple(255.0 * m for m in self.mean),
            pixel_std=tuple(255.0 * s for s in self.std),
            embed_dim=self.embed_dim,
            nb_multimask_outputs=self.nb_multimask_outputs,
            mask_threshold=self.mask_threshold,
            prompt_mask_hidden_dim=self.prompt_mask_hidden_dim,
            decoder=MaskDecoderConfig(
                depth=self.decoder_nb_blocks,
                num_heads=self.decoder_nb_heads,
                mlp_dim=self.decoder_mlp_channels,
                iou_head_depth=self.decoder_iou_head_depth,
                iou_head_hidden_dim=self.decoder_iou_hidden_dim,
            ),
            checkpoint_url=self.url or None,
            description=f"tfimm-style config {self.name!r}",
        )

    @classmethod
    def from_sam_config(cls, cfg: NativeSamConfig, name: str | None = None) -> "SegmentAnythingModelConfig":
        """tfimm's config of a samlabel ViT config (MobileSAM's TinyViT has no tfimm form: ``ValueError``)."""
        enc = cfg.encoder
        if not isinstance(enc, ViTEncoderConfig):
            raise ValueError(f"config {cfg.name!r} has a {type(enc).__name__}; tfimm's SAM has a ViT encoder")
        if cfg.decoder.attention_downsample_rate != 2:
            raise ValueError("tfimm's SAM fixes the decoder's attention_downsample_rate at 2")
        return cls(
            name=name or cfg.name,
            url=cfg.checkpoint_url or "",
            in_channels=cfg.in_channels,
            input_size=(cfg.input_size, cfg.input_size),
            fixed_input_size=cfg.fixed_input_size,
            embed_dim=cfg.embed_dim,
            nb_multimask_outputs=cfg.nb_multimask_outputs,
            mask_threshold=cfg.mask_threshold,
            encoder_patch_size=enc.patch_size,
            encoder_embed_dim=enc.embed_dim,
            encoder_nb_blocks=enc.depth,
            encoder_nb_heads=enc.num_heads,
            encoder_mlp_ratio=enc.mlp_ratio,
            encoder_norm_layer=f"layer_norm_eps_{enc.norm_eps:g}",
            encoder_qkv_bias=enc.qkv_bias,
            encoder_global_attn_indices=tuple(enc.global_attn_indexes),
            encoder_window_size=enc.window_size,
            prompt_mask_hidden_dim=cfg.prompt_mask_hidden_dim,
            decoder_nb_blocks=cfg.decoder.depth,
            decoder_nb_heads=cfg.decoder.num_heads,
            decoder_mlp_channels=cfg.decoder.mlp_dim,
            decoder_iou_head_depth=cfg.decoder.iou_head_depth,
            decoder_iou_hidden_dim=cfg.decoder.iou_head_hidden_dim,
            mean=tuple(m / 255.0 for m in cfg.pixel_mean),
            std=tuple(s / 255.0 for s in cfg.pixel_std),
        )

    @classmethod
    def from_name(cls, name: str) -> "SegmentAnythingModelConfig":
        """tfimm's registered ``sam_vit_b`` / ``sam_vit_l`` / ``sam_vit_h`` (samlabel's ``vit_*``)."""
        if name not in TFIMM_NAMES:
            raise ValueError(f"unknown tfimm SAM model {name!r}; known: {', '.join(sorted(TFIMM_NAMES))}")
        return cls.from_sam_config(get_config(TFIMM_NAMES[name]), name=name)
