"""Meta's own EdgeTAM checkpoint (``edgetam.pt``: ``{"model": state_dict}``) -> samlabel's EdgeTAM names.

Meta's ``SAM2Base`` names are samlabel's for everything EdgeTAM shares with SAM 2 (FPN neck,
prompt encoder, mask decoder, memory attention, memory encoder, object pointers...), so those
keys are kept as they are. Two groups are renamed:

- the RepViT trunk, a ``timm`` features-only model under Meta's ``TimmBackbone``
  (``sam2/modeling/backbones/timm.py``, attribute ``body``; timm's ``FeatureListNet`` names its
  stages ``stages_0`` .. ``stages_3``): ``image_encoder.trunk.body.stem.*`` ->
  ``image_encoder.trunk.stem.*``, ``image_encoder.trunk.body.stages_N.*`` ->
  ``image_encoder.trunk.stages.N.*``;
- the spatial Perceiver (Meta's ``sam2/modeling/perceiver.py``): ``latents`` ->
  ``latents_1d`` (``latents_2d`` keeps its name); per layer ``attn`` (cross-attention to the
  memory, its two LayerNorms ``norm_x`` / ``norm_latents`` inside it), ``ff`` (an
  ``nn.Sequential``: 0 LayerNorm, 1 up, 3 down), ``self_attn`` (LayerNorm ``norm`` inside it)
  and ``self_ff``; each attention's ``to_q`` / ``to_out`` and ``to_kv``, the key and value
  projections stacked along the output dimension (``to_kv(x).chunk(2, dim=-1)``), which is
  split here into ``k_proj`` and ``v_proj``; the final ``norm`` -> ``layer_norm``.

The loader is strict both ways: every key of the file must land on a parameter of the model
and every parameter must come from the file (BatchNorm ``num_batches_tracked`` counters
excepted, as in :func:`~samlabel.sam.modeling.edgetam.build.load_edgetam_state_dict`); the
error names the file and the keys *in Meta's names*.

Meta's released EdgeTAM (``edgetam.yaml``) has no temporal encoding of the object pointers
(``add_tpos_enc_to_obj_ptrs: false``: no ``obj_ptr_tpos_proj``) and no occlusion embedding
(no ``no_obj_embed_spatial``); :func:`released_config` is that configuration.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Optional, Union

import torch
from torch import nn

from samlabel.sam.errors import CheckpointError
from samlabel.sam.modeling.edgetam.config import EDGETAM_CONFIG, EdgeTamConfig

PathLike = Union[str, Path]

_TRUNK = re.compile(r"^image_encoder\.trunk\.body\.(?:stem\.(?P<stem>.+)|stages_(?P<i>\d+)\.(?P<rest>.+))$")
_PERCEIVER_LAYER = re.compile(r"^spatial_perceiver\.layers\.(?P<n>\d+)\.(?P<rest>.+)$")
# Meta's per-layer names (after ``spatial_perceiver.layers.N.``) -> samlabel's; ``to_kv`` is split.
_LAYER_RENAMES: dict[str, str] = {
    "attn.norm_x.weight": "layer_norm_input.weight",
    "attn.norm_x.bias": "layer_norm_input.bias",
    "attn.norm_latents.weight": "layer_norm_latents.weight",
    "attn.norm_latents.bias": "layer_norm_latents.bias",
    "attn.to_q.weight": "cross_attention.q_proj.weight",
    "attn.to_out.weight": "cross_attention.o_proj.weight",
    "ff.0.weight": "mlp.layer_norm.weight",
    "ff.0.bias": "mlp.layer_norm.bias",
    "ff.1.weight": "mlp.up_proj.weight",
    "ff.3.weight": "mlp.down_proj.weight",
    "self_attn.norm.weight": "layer_norm_self.weight",
    "self_attn.norm.bias": "layer_norm_self.bias",
    "self_attn.to_q.weight": "self_attention.q_proj.weight",
    "self_attn.to_out.weight": "self_attention.o_proj.weight",
    "self_ff.0.weight": "self_mlp.layer_norm.weight",
    "self_ff.0.bias": "self_mlp.layer_norm.bias",
    "self_ff.1.weight": "self_mlp.up_proj.weight",
    "self_ff.3.weight": "self_mlp.down_proj.weight",
}
_KV = {"attn.to_kv.weight": "cross_attention", "self_attn.to_kv.weight": "self_attention"}
_PERCEIVER_RENAMES = {
    "spatial_perceiver.latents": "spatial_perceiver.latents_1d",
    "spatial_perceiver.latents_2d": "spatial_perceiver.latents_2d",
    "spatial_perceiver.norm.weight": "spatial_perceiver.layer_norm.weight",
    "spatial_perceiver.norm.bias": "spatial_perceiver.layer_norm.bias",
}
_INVERSE_LAYER = {v: k for k, v in _LAYER_RENAMES.items()}
_INVERSE_PERCEIVER = {v: k for k, v in _PERCEIVER_RENAMES.items()}
KIND = "Meta EdgeTAM checkpoint"


def is_meta_edgetam_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether the keys are Meta's (``image_encoder.trunk.body.*`` or a Perceiver ``to_kv``)."""
    return any(k.startswith("image_encoder.trunk.body.") or (k.startswith("spatial_perceiver.") and ".to_kv." in k)
               for k in state_dict)


def released_config(config: EdgeTamConfig = EDGETAM_CONFIG) -> EdgeTamConfig:
    """``config`` as Meta released EdgeTAM (``edgetam.yaml``): object pointers without temporal
    encoding and no occlusion embedding, so no ``obj_ptr_tpos_proj`` / ``no_obj_embed_spatial``."""
    video = replace(config.video, add_tpos_enc_to_obj_ptrs=False, proj_tpos_enc_in_obj_ptrs=False,
                    use_signed_tpos_enc_to_obj_ptrs=False, no_obj_embed_spatial=False)
    return replace(config, video=video)


def has_pointer_tpos_or_occlusion(samlabel_keys) -> bool:
    """Whether a state dict (in samlabel's names) has the object pointers' temporal projection or
    the occlusion embedding (Hugging Face's default ``EdgeTamVideoConfig``), unlike Meta's release."""
    keys = set(samlabel_keys)
    return bool({"obj_ptr_tpos_proj.weight", "obj_ptr_tpos_proj.bias", "no_obj_embed_spatial"} & keys)


def meta_key_to_samlabel(key: str) -> list[str]:
    """samlabel's name(s) of Meta's ``key`` (two for a ``to_kv``: key then value projection);
    the key itself where Meta's and samlabel's names agree (or it is unknown to both)."""
    m = _TRUNK.match(key)
    if m:
        if m["stem"] is not None:
            return [f"image_encoder.trunk.stem.{m['stem']}"]
        return [f"image_encoder.trunk.stages.{m['i']}.{m['rest']}"]
    if key in _PERCEIVER_RENAMES:
        return [_PERCEIVER_RENAMES[key]]
    m = _PERCEIVER_LAYER.match(key)
    if m:
        prefix, rest = f"spatial_perceiver.layers.{m['n']}.", m["rest"]
        if rest in _KV:
            return [f"{prefix}{_KV[rest]}.k_proj.weight", f"{prefix}{_KV[rest]}.v_proj.weight"]
        if rest in _LAYER_RENAMES:
            return [prefix + _LAYER_RENAMES[rest]]
    return [key]


def samlabel_key_to_meta(key: str) -> str:
    """Meta's name of samlabel's ``key`` (a ``k_proj`` / ``v_proj`` weight: its ``to_kv``)."""
    m = re.match(r"^image_encoder\.trunk\.(?:stem\.(?P<stem>.+)|stages\.(?P<i>\d+)\.(?P<rest>.+))$", key)
    if m:
        if m["stem"] is not None:
            return f"image_encoder.trunk.body.stem.{m['stem']}"
        return f"image_encoder.trunk.body.stages_{m['i']}.{m['rest']}"
    if key in _INVERSE_PERCEIVER:
        return _INVERSE_PERCEIVER[key]
    m = _PERCEIVER_LAYER.match(key)
    if m:
        prefix, rest = f"spatial_perceiver.layers.{m['n']}.", m["rest"]
        kv = re.match(r"^(cross_attention|self_attention)\.[kv]_proj\.weight$", rest)
        if kv:
            return prefix + ("attn" if kv.group(1) == "cross_attention" else "self_attn") + ".to_kv.weight"
        if rest in _INVERSE_LAYER:
            return prefix + _INVERSE_LAYER[rest]
    return key


def meta_to_samlabel(state_dict: Mapping[str, torch.Tensor],
                     path: PathLike = "<state dict>") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(renamed state dict, {new name: Meta's name})``; ``to_kv`` weights are split in two
    along their first dimension. ``CheckpointError`` naming ``path`` for a ``to_kv`` of odd
    height or two of the file's keys landing on one name."""
    out: dict[str, torch.Tensor] = {}
    sources: dict[str, str] = {}
    for key, value in state_dict.items():
        names = meta_key_to_samlabel(key)
        if len(names) == 2:
            if value.dim() != 2 or value.shape[0] % 2:
                raise CheckpointError(f"{KIND} {path}: {key} has shape {tuple(value.shape)}; expected the key and "
                                      "value projections stacked, (2 * inner, dim)")
            values = list(torch.chunk(value, 2, dim=0))
        else:
            values = [value]
        for name, v in zip(names, values):
            if name in out:
                raise CheckpointError(f"{KIND} {path}: keys {sources[name]} and {key} both map to {name}")
            out[name] = v
            sources[name] = key
    return out, sources


def load_meta_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: PathLike,
                         config_hint: Optional[str] = None) -> None:
    """Copy Meta-named EdgeTAM weights into ``model`` strictly; ``CheckpointError`` naming ``path``
    and the offending keys in Meta's names (missing, unexpected, shape mismatches) otherwise.
    ``config_hint``: a sentence appended to a mismatch message (e.g. which config was used)."""
    from samlabel.sam.files.checkpoint import fit_problems
    from samlabel.sam.modeling.edgetam.build import load_edgetam_state_dict

    renamed, sources = meta_to_samlabel(state_dict, path)
    expected = model.state_dict()
    missing = sorted({samlabel_key_to_meta(k) for k in expected
                      if k not in renamed and not k.endswith(".num_batches_tracked")})
    unexpected = sorted({sources[k] for k in renamed if k not in expected})
    mismatched = [
        f"{sources[k]} -> {k} (expected {tuple(v.shape)}, found {tuple(renamed[k].shape)})"
        for k, v in expected.items() if k in renamed and tuple(renamed[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        name = getattr(getattr(model, "config", None), "name", type(model).__name__)
        problems = fit_problems(missing, unexpected, mismatched, " - is it a checkpoint of another EdgeTAM config?")
        hint = f" ({config_hint})" if config_hint else ""
        raise CheckpointError(f"{KIND} {path} does not fit model {name!r}{hint}: " + "; ".join(problems))
    load_edgetam_state_dict(model, renamed, path)
