"""Hugging Face ``Sam2Model`` weights (``facebook/sam2.1-hiera-*``, ``facebook/sam2-hiera-*``)
-> the official SAM 2 names our image model uses.

An explicit table of renamings, applied in order to each key; two structural changes on
top: the MLPs (``proj_in``, ``layers.k``, ``proj_out``) become ``layers.0..n-1``, and the
prompt encoder's ``point_embed.weight`` ``(4, C)`` is split into ``point_embeddings.{i}.weight``
``(1, C)``. The random-Fourier matrix is stored twice by Hugging Face (the model's
``shared_image_embedding`` and the prompt encoder's copy); the model's is used, and the
copy must be equal to it.
"""

from __future__ import annotations

import re
from typing import Mapping

import torch

from samlabel.sam.errors import CheckpointError

# (pattern, replacement), applied in order with re.sub to every key.
_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^no_memory_embedding$", "no_mem_embed"),
    (r"^shared_image_embedding\.positional_embedding$", "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"),
    # image encoder: Hiera trunk
    (r"^vision_encoder\.backbone\.", "image_encoder.trunk."),
    (r"^image_encoder\.trunk\.patch_embed\.projection\.", "image_encoder.trunk.patch_embed.proj."),
    (r"^(image_encoder\.trunk\.blocks\.\d+)\.layer_norm(\d)\.", r"\1.norm\2."),
    # FPN neck
    (r"^vision_encoder\.neck\.convs\.(\d+)\.", r"image_encoder.neck.convs.\1.conv."),
    # prompt encoder
    (r"^prompt_encoder\.mask_embed\.conv1\.", "sam_prompt_encoder.mask_downscaling.0."),
    (r"^prompt_encoder\.mask_embed\.layer_norm1\.", "sam_prompt_encoder.mask_downscaling.1."),
    (r"^prompt_encoder\.mask_embed\.conv2\.", "sam_prompt_encoder.mask_downscaling.3."),
    (r"^prompt_encoder\.mask_embed\.layer_norm2\.", "sam_prompt_encoder.mask_downscaling.4."),
    (r"^prompt_encoder\.mask_embed\.conv3\.", "sam_prompt_encoder.mask_downscaling.6."),
    (r"^prompt_encoder\.", "sam_prompt_encoder."),
    # mask decoder
    (r"^mask_decoder\.upscale_conv1\.", "sam_mask_decoder.output_upscaling.0."),
    (r"^mask_decoder\.upscale_layer_norm\.", "sam_mask_decoder.output_upscaling.1."),
    (r"^mask_decoder\.upscale_conv2\.", "sam_mask_decoder.output_upscaling.3."),
    (r"^mask_decoder\.transformer\.layer_norm_final_attn\.", "sam_mask_decoder.transformer.norm_final_attn."),
    (r"^mask_decoder\.transformer\.layers\.(\d+)\.layer_norm(\d)\.", r"sam_mask_decoder.transformer.layers.\1.norm\2."),
    (r"^mask_decoder\.", "sam_mask_decoder."),
    (r"^(sam_mask_decoder\.transformer\..*)\.o_proj\.", r"\1.out_proj."),
)

# The MLPs whose ``proj_in`` / ``layers.k`` / ``proj_out`` become ``layers.0..n-1``.
_MLP = re.compile(r"^(?P<mlp>.*\.(?:mlp|output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head))"
                  r"\.(?P<which>proj_in|proj_out|layers\.(?P<k>\d+))\.(?P<param>weight|bias)$")

_DUPLICATE = "prompt_encoder.shared_embedding.positional_embedding"
_POINT_EMBED = "prompt_encoder.point_embed.weight"


def is_hf_sam2_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether the keys are Hugging Face ``Sam2Model``'s (``vision_encoder.backbone.*``)."""
    return any(k.startswith("vision_encoder.backbone.") for k in state_dict)


def hf_key_to_official(key: str) -> str:
    """One key renamed (MLP layer indices excepted: they need the MLP's depth)."""
    for pattern, repl in _RENAMES:
        key = re.sub(pattern, repl, key)
    return key


def hf_to_official(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The whole state dict renamed; ``CheckpointError`` if the duplicated Fourier matrix differs."""
    sd = {(k[len("model."):] if k.startswith("model.") else k): v for k, v in state_dict.items()}
    out: dict[str, torch.Tensor] = {}
    if _DUPLICATE in sd:
        shared = sd.get("shared_image_embedding.positional_embedding")
        if shared is not None and not torch.equal(shared, sd[_DUPLICATE]):
            raise CheckpointError(f"Hugging Face SAM 2 weights: {_DUPLICATE} differs from shared_image_embedding.positional_embedding")
        if shared is None:
            out["sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"] = sd[_DUPLICATE]
    hidden_layers: dict[str, int] = {}  # MLP prefix -> number of middle ``layers.k``
    for key in sd:
        m = _MLP.match(hf_key_to_official(key))
        if m and m["k"] is not None:
            hidden_layers[m["mlp"]] = max(hidden_layers.get(m["mlp"], 0), int(m["k"]) + 1)
    for key, value in sd.items():
        if key == _DUPLICATE:
            continue
        if key == _POINT_EMBED:
            for i in range(value.shape[0]):
                out[f"sam_prompt_encoder.point_embeddings.{i}.weight"] = value[i : i + 1]
            continue
        new = hf_key_to_official(key)
        m = _MLP.match(new)
        if m:
            if m["which"] == "proj_in":
                index = 0
            elif m["which"] == "proj_out":
                index = hidden_layers.get(m["mlp"], 0) + 1
            else:
                index = int(m["k"]) + 1
            new = f"{m['mlp']}.layers.{index}.{m['param']}"
        out[new] = value
    return out
