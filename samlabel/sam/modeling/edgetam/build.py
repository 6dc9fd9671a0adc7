"""Building EdgeTAM's video model from an :class:`~samlabel.sam.modeling.edgetam.config.EdgeTamConfig`.

The image encoder is samlabel's SAM 2 ``ImageEncoder`` / ``FpnNeck`` on a
:class:`~samlabel.sam.modeling.edgetam.repvit.RepVit` trunk; the prompt encoder, mask decoder,
memory encoder and tracking logic are SAM 2's; the memory attention and the Perceiver are
EdgeTAM's. Weights are loaded by :func:`load_edgetam_state_dict` (Hugging Face
``EdgeTamVideoModel`` names, renamed by :mod:`~samlabel.sam.modeling.edgetam.hf_mapping`).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Mapping, Optional, Union

import torch
from torch import nn

from samlabel.sam.errors import CheckpointError
from samlabel.sam.files.checkpoint import _few, fit_problems, state_dict_problems
from samlabel.sam.modeling.edgetam.config import EDGETAM_CONFIG, EdgeTamConfig
from samlabel.sam.modeling.edgetam.edgetam_video_base import EdgeTamVideoBase
from samlabel.sam.modeling.edgetam.memory_attention import build_memory_attention
from samlabel.sam.modeling.edgetam.perceiver import PerceiverResampler
from samlabel.sam.modeling.edgetam.repvit import RepVit
from samlabel.sam.modeling.sam2.image_encoder import FpnNeck, ImageEncoder
from samlabel.sam.modeling.sam2.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
from samlabel.sam.modeling.sam2.position_encoding import PositionEmbeddingSine

PathLike = Union[str, Path]

# Sam2VideoConfig fields that are modules, not SAM2VideoBase keyword arguments.
_VIDEO_MODULE_FIELDS = ("memory_attention", "memory_encoder")
# DecoderConfig fields that go to the two-way transformer or the prompt encoder.
_TRANSFORMER_FIELDS = {"transformer_depth": "depth", "transformer_mlp_dim": "mlp_dim", "transformer_num_heads": "num_heads"}


def build_image_encoder(config: EdgeTamConfig) -> ImageEncoder:
    """RepViT trunk + SAM 2's FPN neck: ``(B, 3, S, S)`` -> three levels of ``d_model`` channels
    (strides 4, 8, 16; the stride-32 level is dropped by ``scalp``)."""
    t, n = config.trunk, config.neck
    trunk = RepVit(embed_dim=t.embed_dim, depth=t.depth, mlp_ratio=t.mlp_ratio, kernel_size=t.kernel_size, legacy=t.legacy)
    neck = FpnNeck(
        position_encoding=PositionEmbeddingSine(n.d_model, temperature=n.pos_temperature, normalize=n.pos_normalize),
        d_model=n.d_model, backbone_channel_list=list(t.channel_list), kernel_size=n.kernel_size, stride=n.stride,
        padding=n.padding, fpn_interp_model=n.fpn_interp_model, fuse_type=n.fuse_type,
        fpn_top_down_levels=n.fpn_top_down_levels,
    )
    return ImageEncoder(trunk=trunk, neck=neck, scalp=n.scalp)


def build_memory_encoder(config: EdgeTamConfig) -> MemoryEncoder:
    """SAM 2's memory encoder (mask downsampler, ConvNeXt fuser, projection to ``mem_dim``)."""
    d_model, e = config.neck.d_model, config.video.memory_encoder
    return MemoryEncoder(
        out_dim=e.out_dim,
        mask_downsampler=MaskDownSampler(embed_dim=d_model, kernel_size=e.mask_kernel_size, stride=e.mask_stride,
                                         padding=e.mask_padding, total_stride=e.mask_total_stride),
        fuser=Fuser(CXBlock(dim=d_model, kernel_size=e.fuser_kernel_size, padding=e.fuser_padding,
                            layer_scale_init_value=e.fuser_layer_scale_init_value, use_dwconv=e.fuser_use_dwconv),
                    num_layers=e.fuser_num_layers),
        position_encoding=PositionEmbeddingSine(e.out_dim, temperature=e.pos_temperature, normalize=e.pos_normalize),
        in_dim=d_model,
    )


def build_edgetam_video_model(config: EdgeTamConfig = EDGETAM_CONFIG, cls: Optional[type] = None, **options) -> nn.Module:
    """The EdgeTAM video model of ``config`` (``cls``, default :class:`EdgeTamVideoBase`; the
    video predictor passes its class and ``options``), freshly initialised, in train mode."""
    cls = cls if cls is not None else EdgeTamVideoBase
    v, d, p = config.video, config.decoder, config.perceiver
    video_kwargs = {f.name: getattr(v, f.name) for f in fields(v) if f.name not in _VIDEO_MODULE_FIELDS}
    decoder_kwargs = {f.name: getattr(d, f.name) for f in fields(d) if f.name not in _TRANSFORMER_FIELDS and f.name != "mask_in_chans"}
    transformer_kwargs = {new: getattr(d, old) for old, new in _TRANSFORMER_FIELDS.items()}
    model = cls(
        build_image_encoder(config),
        build_memory_attention(v.memory_attention, config.neck.d_model, v.memory_encoder.out_dim,
                               config.rope_k_sizes, p.num_latents),
        build_memory_encoder(config),
        spatial_perceiver=PerceiverResampler(dim=p.dim, depth=p.depth, num_latents=p.num_latents,
                                             num_latents_2d=p.num_latents_2d, num_heads=p.num_heads,
                                             head_dim=p.head_dim, ff_dim=p.ff_dim),
        image_size=config.image_size,
        backbone_stride=config.backbone_stride,
        use_high_res_features_in_sam=config.use_high_res_features_in_sam,
        directly_add_no_mem_embed=config.directly_add_no_mem_embed,
        mask_in_chans=d.mask_in_chans,
        transformer_kwargs=transformer_kwargs,
        decoder_kwargs=decoder_kwargs,
        config=config,
        **video_kwargs,
        **options,
    )
    model.video_config = v
    return model


def load_edgetam_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: PathLike) -> None:
    """Copy Hugging Face ``EdgeTamVideoModel`` weights (or samlabel-named ones) into ``model``
    strictly: every key used, none missing (BatchNorm ``num_batches_tracked`` counters, unused
    in eval, excepted), shapes equal; ``CheckpointError`` naming ``path`` and the keys (in the
    file's own names) otherwise."""
    from samlabel.sam.modeling.edgetam import hf_mapping

    if hf_mapping.is_hf_edgetam_state_dict(state_dict):
        renamed, sources = hf_mapping.hf_to_samlabel(state_dict, path)
        kind = "Hugging Face EdgeTAM checkpoint"
    else:
        renamed, sources = dict(state_dict), {k: k for k in state_dict}
        kind = "EdgeTAM checkpoint"
    expected = model.state_dict()
    if not set(renamed) & set(expected):
        raise CheckpointError(
            f"{kind} {path} is not an EdgeTAM checkpoint: none of its {len(state_dict)} tensor names matches the "
            f"model's (e.g. it has {_few(sorted(state_dict))}; expected names like {_few(list(expected)[:3])})"
        )
    missing, unexpected, mismatched = state_dict_problems(expected, renamed)
    # BatchNorm's step counters do nothing in eval mode; a file without them keeps the model's.
    missing = [k for k in missing if not k.endswith(".num_batches_tracked")]
    if missing or unexpected or mismatched:
        name = getattr(model.config, "name", type(model).__name__)
        problems = fit_problems(missing, sorted(sources[k] for k in unexpected), mismatched,
                                " - is it a checkpoint of another EdgeTAM config?")
        raise CheckpointError(f"{kind} {path} does not fit model {name!r}: " + "; ".join(problems))
    with torch.no_grad():
        for k, t in expected.items():
            if k in renamed:
                t.copy_(renamed[k])
    model.ignored_keys = []
