"""Configurations of the Segment Anything models, and the registry that names them.

Every hyperparameter lives here, in frozen dataclasses; ``build.py`` turns a config into
modules and nothing else hard-codes a size. The registered official configs use the exact
hyperparameters of Meta's releases (``segment_anything/build_sam.py``) and of MobileSAM.

    cfg = get_config("vit_b")
    small = dataclasses.replace(cfg, encoder=dataclasses.replace(cfg.encoder, depth=2,
                                                                 global_attn_indexes=(1,)))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Union

_SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
_MEAN = (123.675, 116.28, 103.53)
_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class ViTEncoderConfig:
    """The ViT image encoder of SAM (ViTDet backbone, ``ImageEncoderViT``).

    ``pretrain_img_size`` fixes the parameter shapes (absolute position embedding of
    ``pretrain_img_size // patch_size`` squared, global-attention relative-position tables);
    the model's runtime input size is ``SamConfig.input_size``.
    """

    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    norm_eps: float = 1e-6
    qkv_bias: bool = True
    global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    window_size: int = 14
    use_abs_pos: bool = True
    use_rel_pos: bool = True
    out_chans: int = 256
    pretrain_img_size: int = 1024

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(f"encoder embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        bad = [i for i in self.global_attn_indexes if not 0 <= i < self.depth]
        if bad:
            raise ValueError(f"global_attn_indexes {bad} are outside the encoder depth {self.depth}")


@dataclass(frozen=True)
class TinyViTEncoderConfig:
    """MobileSAM's TinyViT image encoder (built by ``samlabel.sam.modeling.sam1.tiny_vit.TinyViT.from_config``)."""

    img_size: int = 1024
    in_chans: int = 3
    num_classes: int = 1000
    embed_dims: tuple[int, ...] = (64, 128, 160, 320)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (2, 4, 5, 10)
    window_sizes: tuple[int, ...] = (7, 7, 14, 7)
    mlp_ratio: float = 4.0
    drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    use_checkpoint: bool = False
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    layer_lr_decay: float = 0.8
    out_chans: int = 256
    patch_size: int = 16  # total stride of the encoder: 1024 -> 64x64 embedding grid


EncoderConfig = Union[ViTEncoderConfig, TinyViTEncoderConfig]


@dataclass(frozen=True)
class MaskDecoderConfig:
    """The two-way transformer mask decoder and its heads."""

    depth: int = 2
    num_heads: int = 8
    mlp_dim: int = 2048
    attention_downsample_rate: int = 2
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256


@dataclass(frozen=True)
class SamConfig:
    """Everything that defines one SAM model (architecture, input, and where its weights live).

    ``embed_dim`` is the prompt-encoder / mask-decoder width; the image encoder's ``out_chans``
    must equal it. ``checkpoint_md5`` is the MD5 (or its prefix) of the official file: Meta's
    file names end in the first 6 hex digits of the file's MD5 (``sam_vit_b_01ec64.pth``).
    """

    name: str
    encoder: EncoderConfig = field(default_factory=ViTEncoderConfig)
    in_channels: int = 3
    input_size: int = 1024
    fixed_input_size: bool = True
    pixel_mean: tuple[float, ...] = _MEAN
    pixel_std: tuple[float, ...] = _STD
    embed_dim: int = 256
    nb_multimask_outputs: int = 3
    mask_threshold: float = 0.0
    prompt_mask_hidden_dim: int = 16
    decoder: MaskDecoderConfig = field(default_factory=MaskDecoderConfig)
    checkpoint_url: str | None = None
    checkpoint_filename: str | None = None
    checkpoint_md5: str | None = None
    checkpoint_sha256: str | None = None
    checkpoint_size: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.encoder.out_chans != self.embed_dim:
            raise ValueError(
                f"config {self.name!r}: encoder out_chans {self.encoder.out_chans} != embed_dim {self.embed_dim}"
            )
        if len(self.pixel_mean) != self.in_channels or len(self.pixel_std) != self.in_channels:
            raise ValueError(f"config {self.name!r}: pixel_mean/pixel_std need {self.in_channels} values")
        if self.input_size % self.patch_size:
            raise ValueError(f"config {self.name!r}: input_size {self.input_size} is not a multiple of {self.patch_size}")
        if self.fixed_input_size and self.input_size != self.pretrain_input_size:
            raise ValueError(
                f"config {self.name!r}: input_size {self.input_size} differs from the encoder's "
                f"{self.pretrain_input_size}; set fixed_input_size=False to interpolate position embeddings"
            )

    @property
    def patch_size(self) -> int:
        return self.encoder.patch_size

    @property
    def pretrain_input_size(self) -> int:
        enc = self.encoder
        return enc.pretrain_img_size if isinstance(enc, ViTEncoderConfig) else enc.img_size

    @property
    def grid_size(self) -> tuple[int, int]:
        """Embedding grid ``(h, w)``: ``input_size // patch_size`` (64x64 for 1024 inputs)."""
        g = self.input_size // self.patch_size
        return (g, g)

    @property
    def mask_size(self) -> tuple[int, int]:
        """Low-resolution mask / mask-input size: 4x the grid (256x256 for 1024 inputs)."""
        h, w = self.grid_size
        return (4 * h, 4 * w)

    @property
    def hash_prefix(self) -> str | None:
        return self.checkpoint_md5[:6] if self.checkpoint_md5 else None

    def replace(self, **changes) -> "SamConfig":
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


def _official(name, filename, md5, sha256, size, **encoder) -> SamConfig:
    return SamConfig(
        name=name,
        encoder=ViTEncoderConfig(**encoder),
        checkpoint_url=_SAM_URL + filename,
        checkpoint_filename=filename,
        checkpoint_md5=md5,
        checkpoint_sha256=sha256,
        checkpoint_size=size,
        description=f"Segment Anything {name} (Meta, {filename})",
    )


VIT_B = _official(
    "vit_b", "sam_vit_b_01ec64.pth", "01ec64d29a2fca3f0661936605ae66f8",
    "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", 375042383,
    embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11),
)
VIT_L = _official(
    "vit_l", "sam_vit_l_0b3195.pth", "0b3195507c641ddb6910d2bb5adee89c",
    "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", 1249524607,
    embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23),
)
VIT_H = _official(
    "vit_h", "sam_vit_h_4b8939.pth", "4b8939a88964f0f4ff5f5b2642c598a6",
    "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", None,
    embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31),
)
VIT_T = SamConfig(
    name="vit_t",
    encoder=TinyViTEncoderConfig(),
    # Pinned to a commit so the file behind the URL is the one the hash describes. The SHA-256
    # and size are recorded identically by many independent projects that verify this file.
    checkpoint_url=(
        "https://github.com/ChaoningZhang/MobileSAM/raw/"
        "f706ad9c4eb7f219c00d9050e46328518ffb65d2/weights/mobile_sam.pt"
    ),
    checkpoint_filename="mobile_sam.pt",
    checkpoint_sha256="6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
    checkpoint_size=40728226,
    description="MobileSAM (TinyViT encoder, SAM decoder)",
)
# For tests and the GUI smoke test only: random weights, tiny widths, full 1024 input so the
# pipeline's geometry (64x64 grid, 256x256 masks) is the real one.
TEST_TINY = SamConfig(
    name="test_tiny",
    encoder=ViTEncoderConfig(
        embed_dim=32, depth=2, num_heads=2, global_attn_indexes=(1,), window_size=14, out_chans=32
    ),
    embed_dim=32,
    prompt_mask_hidden_dim=8,
    decoder=MaskDecoderConfig(depth=2, num_heads=2, mlp_dim=64, iou_head_depth=3, iou_head_hidden_dim=32),
    description="tiny random SAM for tests (no checkpoint)",
)

_REGISTRY: dict[str, SamConfig] = {}


def register_config(config: SamConfig, *aliases: str) -> None:
    """Add a config to the registry under its name (and aliases)."""
    for key in (config.name, *aliases):
        _REGISTRY[key] = config


for _cfg in (VIT_B, VIT_L, VIT_T, TEST_TINY):
    register_config(_cfg)
register_config(VIT_H, "default")


def config_names() -> list[str]:
    """Registered names, including the ``default`` alias."""
    return sorted(_REGISTRY)


def get_config(name: str | SamConfig) -> SamConfig:
    """The registered config called ``name`` (a ``SamConfig`` is returned unchanged)."""
    if isinstance(name, SamConfig):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown SAM model {name!r}; known models: {', '.join(config_names())}") from None
