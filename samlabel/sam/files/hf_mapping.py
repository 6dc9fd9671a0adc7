"""Key mapping between Meta's SAM state dict and Hugging Face ``transformers``' ``SamModel``.

The Hugging Face ``facebook/sam-vit-{base,large,huge}`` weights were made by
``transformers/models/sam/convert_sam_to_hf.py``, a list of substring renames applied in
order. ``official_to_hf`` applies the same renames to one official key; loading inverts it
for the keys the model expects, so every key is accounted for explicitly. Tensors need no
reshaping: both sides use a fused ``qkv`` linear and the same layouts.

One tensor is tied in ``SamModel``: the random Fourier matrix of the prompt encoder lives at
``shared_image_embedding.positional_embedding`` (and, in some files, again at
``prompt_encoder.shared_embedding.positional_embedding``).
"""

from __future__ import annotations

import re
from typing import Mapping

import torch

# (official substring, Hugging Face substring), applied in this order, as the HF converter does.
KEY_RENAMES: tuple[tuple[str, str], ...] = (
    ("iou_prediction_head.layers.0", "iou_prediction_head.proj_in"),
    ("iou_prediction_head.layers.1", "iou_prediction_head.layers.0"),
    ("iou_prediction_head.layers.2", "iou_prediction_head.proj_out"),
    ("mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1"),
    ("mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm"),
    ("mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2"),
    ("mask_downscaling.0", "mask_embed.conv1"),
    ("mask_downscaling.1", "mask_embed.layer_norm1"),
    ("mask_downscaling.3", "mask_embed.conv2"),
    ("mask_downscaling.4", "mask_embed.layer_norm2"),
    ("mask_downscaling.6", "mask_embed.conv3"),
    ("point_embeddings", "point_embed"),
    ("pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"),
    ("image_encoder", "vision_encoder"),
    ("neck.0", "neck.conv1"),
    ("neck.1", "neck.layer_norm1"),
    ("neck.2", "neck.conv2"),
    ("neck.3", "neck.layer_norm2"),
    ("patch_embed.proj", "patch_embed.projection"),
    (".norm", ".layer_norm"),
    ("blocks", "layers"),
)
_HYPER = re.compile(r".*output_hypernetworks_mlps\.(\d+)\.layers\.(\d+).*")
_HYPER_LAYER = {0: ("layers.0", "proj_in"), 1: ("layers.1", "layers.0"), 2: ("layers.2", "proj_out")}

SHARED_PE_KEY = "shared_image_embedding.positional_embedding"
PROMPT_PE_KEY = "prompt_encoder.shared_embedding.positional_embedding"
OFFICIAL_PE_KEY = "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"
# Keys that mark a state dict as Hugging Face's layout.
HF_MARKERS = ("vision_encoder.", "shared_image_embedding.", "mask_decoder.upscale_conv1.")


def official_to_hf(key: str) -> str:
    """The Hugging Face name of one official state-dict key."""
    for old, new in KEY_RENAMES:
        if old in key:
            key = key.replace(old, new)
    match = _HYPER.match(key)
    if match:
        old, new = _HYPER_LAYER[int(match.group(2))]
        key = key.replace(old, new)
    return key


def is_hf_state_dict(state_dict: Mapping[str, object]) -> bool:
    return any(k.startswith(HF_MARKERS) for k in state_dict)


def hf_to_official(
    state_dict: Mapping[str, torch.Tensor], official_keys: list[str]
) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """Rename a Hugging Face state dict to the official names the model expects.

    Returns ``(converted, missing_hf_keys, unexpected_hf_keys)``: ``missing`` lists the HF
    names of expected tensors that are absent, ``unexpected`` the HF keys nothing maps to.
    """
    converted: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []
    for key in official_keys:
        candidates = [official_to_hf(key)]
        if key == OFFICIAL_PE_KEY:
            candidates = [SHARED_PE_KEY, PROMPT_PE_KEY]
        found = [c for c in candidates if c in state_dict]
        if not found:
            missing.append(candidates[0])
            continue
        converted[key] = state_dict[found[0]]
        used.update(found)
    if OFFICIAL_PE_KEY in converted:
        used.update(k for k in (SHARED_PE_KEY, PROMPT_PE_KEY) if k in state_dict)
    unexpected = sorted(k for k in state_dict if k not in used)
    return converted, missing, unexpected


def official_to_hf_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert an official state dict to Hugging Face names (as ``convert_sam_to_hf.py`` does)."""
    out = {official_to_hf(k): v for k, v in state_dict.items() if k not in ("pixel_mean", "pixel_std")}
    if PROMPT_PE_KEY in out:
        out[SHARED_PE_KEY] = out[PROMPT_PE_KEY]
    return out
