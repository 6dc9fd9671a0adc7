"""Hugging Face ``EdgeTamVideoModel`` weights (``facebook/EdgeTAM``) -> samlabel's EdgeTAM names.

Three groups of keys:

- the image model shared with SAM 2 (FPN neck, prompt encoder, mask decoder,
  ``no_memory_embedding``, the random-Fourier matrix): SAM 2's Hugging Face map,
  :func:`samlabel.sam.modeling.sam2.hf_mapping.hf_to_official`;
- the RepViT trunk: ``vision_encoder.backbone.timm_model.{stem,stages_N}.*`` (timm's
  features-only model) -> ``image_encoder.trunk.{stem,stages.N}.*`` (timm's own names);
- the video modules: the explicit table ``_VIDEO_RENAMES`` below (to the names of Meta's
  ``SAM2Base``, which samlabel's SAM 2 video model uses), with the MLP / mask-downsampler
  layer indices worked out from the file's own depth; ``spatial_perceiver.*`` keeps its names.

:func:`hf_to_samlabel` also returns, for each new name, the file's name, so the loader
can name unexpected keys as the file has them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Union

import torch

from samlabel.sam.errors import CheckpointError
from samlabel.sam.modeling.sam2 import hf_mapping as sam2_hf

_TRUNK_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^vision_encoder\.backbone\.timm_model\.stem\.", "image_encoder.trunk.stem."),
    (r"^vision_encoder\.backbone\.timm_model\.stages_(\d+)\.", r"image_encoder.trunk.stages.\1."),
)

# (pattern, replacement) applied in order with re.sub to each video key.
_VIDEO_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^no_memory_positional_encoding$", "no_mem_pos_enc"),
    (r"^memory_temporal_positional_encoding$", "maskmem_tpos_enc"),
    (r"^no_object_pointer$", "no_obj_ptr"),
    (r"^occlusion_spatial_embedding_parameter$", "no_obj_embed_spatial"),
    (r"^temporal_positional_encoding_projection_layer\.", "obj_ptr_tpos_proj."),
    # memory attention
    (r"^memory_attention\.layers\.(\d+)\.(self_attn|cross_attn_image)\.o_proj\.", r"memory_attention.layers.\1.\2.out_proj."),
    (r"^memory_attention\.layers\.(\d+)\.mlp\.up_proj\.", r"memory_attention.layers.\1.linear1."),
    (r"^memory_attention\.layers\.(\d+)\.mlp\.down_proj\.", r"memory_attention.layers.\1.linear2."),
    (r"^memory_attention\.layers\.(\d+)\.layer_norm(\d)\.", r"memory_attention.layers.\1.norm\2."),
    (r"^memory_attention\.layer_norm\.", "memory_attention.norm."),
    # memory encoder
    (r"^memory_encoder\.feature_projection\.", "memory_encoder.pix_feat_proj."),
    (r"^memory_encoder\.projection\.", "memory_encoder.out_proj."),
    (r"^memory_encoder\.memory_fuser\.layers\.(\d+)\.depthwise_conv\.", r"memory_encoder.fuser.layers.\1.dwconv."),
    (r"^memory_encoder\.memory_fuser\.layers\.(\d+)\.layer_norm\.", r"memory_encoder.fuser.layers.\1.norm."),
    (r"^memory_encoder\.memory_fuser\.layers\.(\d+)\.pointwise_conv(\d)\.", r"memory_encoder.fuser.layers.\1.pwconv\2."),
    (r"^memory_encoder\.memory_fuser\.layers\.(\d+)\.scale$", r"memory_encoder.fuser.layers.\1.gamma"),
)

_VIDEO_PREFIXES = (
    "no_memory_positional_encoding", "memory_temporal_positional_encoding", "no_object_pointer",
    "occlusion_spatial_embedding_parameter", "temporal_positional_encoding_projection_layer.", "memory_attention.",
    "memory_encoder.", "object_pointer_proj.", "mask_downsample.", "spatial_perceiver.",
)
_TRUNK_PREFIX = "vision_encoder.backbone."
_DOWNSAMPLER = re.compile(r"^memory_encoder\.mask_downsampler\.(?:layers\.(?P<i>\d+)\.(?P<m>conv|layer_norm)|final_conv)\.(?P<p>weight|bias)$")
_POINTER_MLP = re.compile(r"^object_pointer_proj\.(?P<which>proj_in|proj_out|layers\.(?P<k>\d+))\.(?P<p>weight|bias)$")


def is_hf_edgetam_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether the keys are Hugging Face ``EdgeTamVideoModel``'s (``vision_encoder.backbone.timm_model.*``)."""
    return any(_strip(k).startswith(_TRUNK_PREFIX + "timm_model.") for k in state_dict)


def _strip(key: str) -> str:
    return key[len("model."):] if key.startswith("model.") else key


def _video_key(key: str, num_down_layers: int, num_ptr_hidden: int) -> str:
    m = _DOWNSAMPLER.match(key)
    if m:
        if m["i"] is None:
            index = 3 * num_down_layers
        else:
            index = 3 * int(m["i"]) + (0 if m["m"] == "conv" else 1)
        return f"memory_encoder.mask_downsampler.encoder.{index}.{m['p']}"
    m = _POINTER_MLP.match(key)
    if m:
        if m["which"] == "proj_in":
            index = 0
        elif m["which"] == "proj_out":
            index = num_ptr_hidden + 1
        else:
            index = int(m["k"]) + 1
        return f"obj_ptr_proj.layers.{index}.{m['p']}"
    for pattern, repl in _VIDEO_RENAMES:
        key = re.sub(pattern, repl, key)
    return key


def hf_to_samlabel(state_dict: Mapping[str, torch.Tensor],
                   path: Union[str, Path] = "<state dict>") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(renamed state dict, {new name: the file's name})``. ``CheckpointError`` naming
    ``path`` if two of the file's keys would land on one name."""
    sd = {_strip(k): v for k, v in state_dict.items()}
    video = {k: v for k, v in sd.items() if k.startswith(_VIDEO_PREFIXES)}
    trunk = {k: v for k, v in sd.items() if k.startswith(_TRUNK_PREFIX)}
    image = {k: v for k, v in sd.items() if k not in video and k not in trunk}
    num_down_layers = len({m["i"] for k in video if (m := _DOWNSAMPLER.match(k)) and m["i"] is not None})
    num_ptr_hidden = len({m["k"] for k in video if (m := _POINTER_MLP.match(k)) and m["k"] is not None})

    out: dict[str, torch.Tensor] = {}
    sources: dict[str, str] = {}

    def put(new: str, old: str, value: torch.Tensor) -> None:
        if new in out:
            raise CheckpointError(f"Hugging Face EdgeTAM checkpoint {path}: keys {sources[new]} and {old} both map to {new}")
        out[new] = value
        sources[new] = old

    for key, value in trunk.items():
        new = key
        for pattern, repl in _TRUNK_RENAMES:
            new = re.sub(pattern, repl, new)
        put(new, key, value)
    for key, value in video.items():
        put(_video_key(key, num_down_layers, num_ptr_hidden), key, value)
    image_sources = {sam2_hf.hf_key_to_official(k): k for k in image}
    for new, value in sam2_hf.hf_to_official(image).items():
        put(new, image_sources.get(new, new), value)
    return out, sources
