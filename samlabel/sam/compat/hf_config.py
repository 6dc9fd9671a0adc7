"""Hugging Face ``transformers``' ``SamConfig`` (its ``config.json``), mapped onto samlabel's config.

The three sections keep ``transformers``' field names and defaults (``facebook/sam-vit-huge``),
so a ``config.json`` written by ``SamModel.save_pretrained`` reads as it is::

    hf = SamConfig.from_pretrained("sam-vit-base/")       # a folder with config.json, or the file
    cfg = hf.to_sam_config()                               # samlabel.sam.config.SamConfig
    hf = SamConfig.from_sam_config(get_config("vit_b"))    # and back, for a registered model

Fields that change nothing at inference (dropouts, initialiser ranges, ``scale``) are read and
ignored. What samlabel's model cannot express raises ``ValueError`` naming the field: another
activation, a prompt-encoder width that differs from the image embedding's, another number of
point embeddings. ``mask_decoder_config.layer_norm_eps`` is kept but not used: samlabel's
decoder, like Meta's, normalises its tokens with PyTorch's default 1e-5 where ``transformers``
uses 1e-6 (the outputs differ by about 1e-6, see ``tests/sam/compat``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from samlabel.sam.config import MaskDecoderConfig, ViTEncoderConfig
from samlabel.sam.config import SamConfig as NativeSamConfig

PathLike = Union[str, Path]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SAM2_TYPES = ("sam2", "sam2_video", "sam2_hiera_det_model", "sam2_vision_model")


def _from_mapping(cls, data: Optional[Mapping[str, Any]], section: str):
    """``cls(**known fields of data)``; other keys (``model_type``, dropouts...) are ignored."""
    if data is None:
        return cls()
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ValueError(f"{section} must be a dict of config fields, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    for key in ("global_attn_indexes",):
        if key in values:
            values[key] = tuple(int(i) for i in values[key])
    return cls(**values)


def _square(value: Any, name: str) -> int:
    """An ``int`` size, or a square ``[n, n]`` one, as an int."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f"{name} must be square, got {list(value)}")
        value = value[0]
    return int(value)


@dataclass(frozen=True)
class SamVisionConfig:
    """``vision_config``: the ViT image encoder."""

    hidden_size: int = 768
    output_channels: int = 256
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    num_channels: int = 3
    image_size: Any = 1024
    patch_size: Any = 16
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-6
    attention_dropout: float = 0.0
    initializer_range: float = 1e-10
    qkv_bias: bool = True
    mlp_ratio: float = 4.0
    use_abs_pos: bool = True
    use_rel_pos: bool = True
    window_size: int = 14
    global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    num_pos_feats: int = 128
    mlp_dim: Optional[int] = None

    @property
    def intermediate_size(self) -> int:
        """The MLP width: ``mlp_dim``, else ``hidden_size * mlp_ratio`` (as ``transformers``)."""
        return int(self.hidden_size * self.mlp_ratio) if self.mlp_dim is None else int(self.mlp_dim)


@dataclass(frozen=True)
class SamPromptEncoderConfig:
    """``prompt_encoder_config``: points, boxes and mask inputs."""

    hidden_size: int = 256
    image_size: Any = 1024
    patch_size: Any = 16
    mask_input_channels: int = 16
    num_point_embeddings: int = 4
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-6

    @property
    def image_embedding_size(self) -> int:
        return _square(self.image_size, "prompt_encoder_config.image_size") // _square(
            self.patch_size, "prompt_encoder_config.patch_size")


@dataclass(frozen=True)
class SamMaskDecoderConfig:
    """``mask_decoder_config``: the two-way transformer and its heads."""

    hidden_size: int = 256
    hidden_act: str = "relu"
    mlp_dim: int = 2048
    num_hidden_layers: int = 2
    num_attention_heads: int = 8
    attention_downsample_rate: int = 2
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    layer_norm_eps: float = 1e-6


@dataclass(frozen=True)
class SamConfig:
    """``transformers``' ``SamConfig``: ``model_type="sam"`` and its three sections.

    ``image_mean``/``image_std`` (in [0, 1] units, ImageNet's by default) are not part of
    ``config.json``: they come from ``preprocessor_config.json`` when :meth:`from_pretrained`
    finds one, and become the native config's ``pixel_mean``/``pixel_std`` (x 255).
    """

    vision_config: SamVisionConfig = field(default_factory=SamVisionConfig)
    prompt_encoder_config: SamPromptEncoderConfig = field(default_factory=SamPromptEncoderConfig)
    mask_decoder_config: SamMaskDecoderConfig = field(default_factory=SamMaskDecoderConfig)
    model_type: str = "sam"
    image_mean: tuple[float, ...] = IMAGENET_MEAN
    image_std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        object.__setattr__(self, "vision_config", _from_mapping(SamVisionConfig, self.vision_config, "vision_config"))
        object.__setattr__(self, "prompt_encoder_config", _from_mapping(
            SamPromptEncoderConfig, self.prompt_encoder_config, "prompt_encoder_config"))
        object.__setattr__(self, "mask_decoder_config", _from_mapping(
            SamMaskDecoderConfig, self.mask_decoder_config, "mask_decoder_config"))
        object.__setattr__(self, "image_mean", tuple(float(v) for v in self.image_mean))
        object.__setattr__(self, "image_std", tuple(float(v) for v in self.image_std))
        if self.model_type in SAM2_TYPES:
            raise ValueError(
                f"model_type {self.model_type!r} is SAM 2: the Hugging Face adapter takes SAM 1 models "
                "(facebook/sam-vit-*) only for now"
            )
        if self.model_type != "sam":
            raise ValueError(f"model_type must be 'sam' (transformers' SamModel), got {self.model_type!r}")

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **overrides: Any) -> "SamConfig":
        """From the parsed ``config.json`` (unknown top-level keys are ignored)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"config must be a dict, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values.update(overrides)
        values.setdefault("model_type", data.get("model_type", "sam"))
        return cls(**values)

    @classmethod
    def from_pretrained(cls, path: PathLike) -> "SamConfig":
        """From a folder holding ``config.json`` (and maybe ``preprocessor_config.json``), or the file."""
        path = Path(path)
        config_file = path / "config.json" if path.is_dir() else path
        if not config_file.is_file():
            raise ValueError(
                f"{path}: no config.json there; pass a local folder such as a Hugging Face snapshot "
                "(huggingface_hub.snapshot_download('facebook/sam-vit-base') gives one)"
            )
        try:
            data = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{config_file}: not a readable JSON config ({exc})") from exc
        overrides = {}
        pre = config_file.parent / "preprocessor_config.json"
        if pre.is_file():
            try:
                pre_data = json.loads(pre.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"{pre}: not a readable JSON config ({exc})") from exc
            for key in ("image_mean", "image_std"):
                if key in pre_data:
                    overrides[key] = tuple(pre_data[key])
        return cls.from_dict(data, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` content (three sections and ``model_type``)."""
        out = {
            "model_type": self.model_type,
            "vision_config": dataclasses.asdict(self.vision_config),
            "prompt_encoder_config": dataclasses.asdict(self.prompt_encoder_config),
            "mask_decoder_config": dataclasses.asdict(self.mask_decoder_config),
        }
        out["vision_config"]["global_attn_indexes"] = list(self.vision_config.global_attn_indexes)
        return out

    # ------------------------------------------------------------------ mapping
    def to_sam_config(self, name: str = "hf_sam") -> NativeSamConfig:
        """The samlabel :class:`~samlabel.sam.config.SamConfig` of the same model (``ValueError`` if none)."""
        v, p, d = self.vision_config, self.prompt_encoder_config, self.mask_decoder_config
        image_size = _square(v.image_size, "vision_config.image_size")
        patch = _square(v.patch_size, "vision_config.patch_size")
        checks = [
            (v.hidden_act == "gelu", f"vision_config.hidden_act must be 'gelu', got {v.hidden_act!r}"),
            (p.hidden_act == "gelu", f"prompt_encoder_config.hidden_act must be 'gelu', got {p.hidden_act!r}"),
            (d.hidden_act == "relu", f"mask_decoder_config.hidden_act must be 'relu', got {d.hidden_act!r}"),
            (p.num_point_embeddings == 4,
             f"prompt_encoder_config.num_point_embeddings must be 4, got {p.num_point_embeddings}"),
            (_square(p.image_size, "prompt_encoder_config.image_size") == image_size,
             f"prompt_encoder_config.image_size {p.image_size} differs from vision_config.image_size {v.image_size}"),
            (_square(p.patch_size, "prompt_encoder_config.patch_size") == patch,
             f"prompt_encoder_config.patch_size {p.patch_size} differs from vision_config.patch_size {v.patch_size}"),
            (p.hidden_size == v.output_channels == d.hidden_size,
             "prompt_encoder_config.hidden_size, vision_config.output_channels and mask_decoder_config.hidden_size "
             f"must be equal, got {p.hidden_size}, {v.output_channels}, {d.hidden_size}"),
            (2 * v.num_pos_feats == p.hidden_size,
             f"vision_config.num_pos_feats must be half of the prompt width {p.hidden_size}, got {v.num_pos_feats}"),
            (len(self.image_mean) == len(self.image_std) == v.num_channels,
             f"image_mean and image_std need {v.num_channels} values"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        encoder = ViTEncoderConfig(
            patch_size=patch,
            embed_dim=v.hidden_size,
            depth=v.num_hidden_layers,
            num_heads=v.num_attention_heads,
            mlp_ratio=v.intermediate_size / v.hidden_size,
            norm_eps=v.layer_norm_eps,
            qkv_bias=v.qkv_bias,
            global_attn_indexes=tuple(v.global_attn_indexes),
            window_size=v.window_size,
            use_abs_pos=v.use_abs_pos,
            use_rel_pos=v.use_rel_pos,
            out_chans=v.output_channels,
            pretrain_img_size=image_size,
        )
        return NativeSamConfig(
            name=name,
            encoder=encoder,
            in_channels=v.num_channels,
            input_size=image_size,
            pixel_mean=tuple(255.0 * m for m in self.image_mean),
            pixel_std=tuple(255.0 * s for s in self.image_std),
            embed_dim=p.hidden_size,
            nb_multimask_outputs=d.num_multimask_outputs,
            prompt_mask_hidden_dim=p.mask_input_channels,
            decoder=MaskDecoderConfig(
                depth=d.num_hidden_layers,
                num_heads=d.num_attention_heads,
                mlp_dim=d.mlp_dim,
                attention_downsample_rate=d.attention_downsample_rate,
                iou_head_depth=d.iou_head_depth,
                iou_head_hidden_dim=d.iou_head_hidden_dim,
            ),
            description=f"Hugging Face SAM ({name})",
        )

    @classmethod
    def from_sam_config(cls, cfg: NativeSamConfig) -> "SamConfig":
        """The ``transformers`` config of a samlabel ViT config (MobileSAM has none: ``ValueError``)."""
        enc = cfg.encoder
        if not isinstance(enc, ViTEncoderConfig):
            raise ValueError(f"config {cfg.name!r} has a {type(enc).__name__}; transformers' SamModel has a ViT encoder")
        vision = SamVisionConfig(
            hidden_size=enc.embed_dim, output_channels=enc.out_chans, num_hidden_layers=enc.depth,
            num_attention_heads=enc.num_heads, num_channels=cfg.in_channels, image_size=cfg.input_size,
            patch_size=enc.patch_size, layer_norm_eps=enc.norm_eps, qkv_bias=enc.qkv_bias, mlp_ratio=enc.mlp_ratio,
            use_abs_pos=enc.use_abs_pos, use_rel_pos=enc.use_rel_pos, window_size=enc.window_size,
            global_attn_indexes=tuple(enc.global_attn_indexes), num_pos_feats=cfg.embed_dim // 2,
            mlp_dim=int(enc.embed_dim * enc.mlp_ratio),
        )
        prompt = SamPromptEncoderConfig(hidden_size=cfg.embed_dim, image_size=cfg.input_size, patch_size=enc.patch_size,
                                        mask_input_channels=cfg.prompt_mask_hidden_dim)
        dec = cfg.decoder
        decoder = SamMaskDecoderConfig(
            hidden_size=cfg.embed_dim, mlp_dim=dec.mlp_dim, num_hidden_layers=dec.depth, num_attention_heads=dec.num_heads,
            attention_downsample_rate=dec.attention_downsample_rate, num_multimask_outputs=cfg.nb_multimask_outputs,
            iou_head_depth=dec.iou_head_depth, iou_head_hidden_dim=dec.iou_head_hidden_dim,
        )
        return cls(vision, prompt, decoder, "sam", tuple(m / 255.0 for m in cfg.pixel_mean),
                   tuple(s / 255.0 for s in cfg.pixel_std))
