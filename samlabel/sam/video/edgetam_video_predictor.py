"""EdgeTAM behind samlabel's SAM 2 video predictor API (``init_state``, ``add_new_points_or_box``,
``add_new_mask``, ``propagate_in_video``...), so :func:`samlabel.video.propagate` drives it unchanged.

:class:`EdgeTamVideoPredictor` is :class:`~samlabel.sam.video.sam2_video_predictor.SAM2VideoPredictor`
with EdgeTAM's model (:class:`~samlabel.sam.modeling.edgetam.edgetam_video_base.EdgeTamVideoBase`:
RepViT encoder, compressed memories). Its memories are stored in fp32 (``maskmem_dtype``), as
Hugging Face's ``EdgeTamVideoModel`` keeps them (they are 512 tokens a frame, so bf16 would
save little). Weights: Meta's ``edgetam.pt`` (``facebook/EdgeTAM``; Meta's names, through
:mod:`~samlabel.sam.modeling.edgetam.meta_mapping`) or a Hugging Face ``EdgeTamVideoModel``
(``model.safetensors``; through :mod:`~samlabel.sam.modeling.edgetam.hf_mapping`): the layout is
told by the keys.
"""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path
from typing import Optional, Union

import torch

from samlabel.sam.errors import CheckpointError
from samlabel.sam.modeling.edgetam.config import EDGETAM_CONFIG, EdgeTamConfig
from samlabel.sam.modeling.edgetam.edgetam_video_base import EdgeTamVideoBase
from samlabel.sam.video.sam2_video_predictor import SAM2VideoPredictor

PathLike = Union[str, Path]

# File names looked for in a checkpoint folder (a Hugging Face snapshot), in order.
_FOLDER_FILES = ("model.safetensors", "pytorch_model.bin", "edgetam.pt")


class EdgeTamVideoPredictor(EdgeTamVideoBase, SAM2VideoPredictor):
    """SAM 2's video predictor on the EdgeTAM model (its memories kept in fp32)."""

    maskmem_dtype = torch.float32


def resolve_edgetam_checkpoint(checkpoint: PathLike) -> Path:
    """The weights file of ``checkpoint``: the file itself, or the first of ``model.safetensors``,
    ``pytorch_model.bin``, ``edgetam.pt`` in a folder. ``CheckpointError`` naming it otherwise."""
    path = Path(checkpoint)
    if path.is_dir():
        for name in _FOLDER_FILES:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"EdgeTAM checkpoint folder {path} has none of {', '.join(_FOLDER_FILES)}")
    if not path.exists():
        raise CheckpointError(f"EdgeTAM checkpoint {path} does not exist")
    return path


def _samlabel_names(state_dict, meta: bool, path: Path) -> list[str]:
    from samlabel.sam.modeling.edgetam import hf_mapping, meta_mapping

    if meta:
        return list(meta_mapping.meta_to_samlabel(state_dict, path)[0])
    if hf_mapping.is_hf_edgetam_state_dict(state_dict):
        return list(hf_mapping.hf_to_samlabel(state_dict, path)[0])
    return list(state_dict)


def build_edgetam_video_predictor(
    checkpoint: Optional[PathLike] = None,
    config: Optional[EdgeTamConfig] = None,
    device: Union[str, torch.device] = "cpu",
    **options,
) -> EdgeTamVideoPredictor:
    """EdgeTAM's video predictor with the weights of ``checkpoint`` (Meta's ``edgetam.pt``, a
    Hugging Face ``EdgeTamVideoModel`` folder or ``.safetensors`` / ``.pt`` file; the layout is
    told by the keys; loaded strictly), on ``device``, in eval mode. Without a checkpoint the
    weights are random (tests, timing).

    ``config`` None: :data:`EDGETAM_CONFIG`, except for a file without the object pointers'
    temporal projection and the occlusion embedding (Meta's release, and its Hugging Face
    conversion), which gets :func:`~samlabel.sam.modeling.edgetam.meta_mapping.released_config`.
    A given ``config`` is used as it is. ``options`` as
    :func:`~samlabel.sam.video.sam2_video_predictor.build_sam_video_predictor`'s."""
    from samlabel.sam.files.checkpoint import file_sha256, read_state_dict
    from samlabel.sam.modeling.edgetam import meta_mapping
    from samlabel.sam.modeling.edgetam.build import build_edgetam_video_model, load_edgetam_state_dict

    path = state_dict = None
    meta = False
    hint = None
    if checkpoint is not None:
        path = resolve_edgetam_checkpoint(checkpoint)
        state_dict = read_state_dict(path)
        meta = meta_mapping.is_meta_edgetam_state_dict(state_dict)
        if config is None:
            if meta_mapping.has_pointer_tpos_or_occlusion(_samlabel_names(state_dict, meta, path)):
                config, hint = EDGETAM_CONFIG, "config chosen: EDGETAM_CONFIG, as the file has obj_ptr_tpos_proj or no_obj_embed_spatial"
            else:
                config, hint = meta_mapping.released_config(), "config chosen: Meta's release, as the file has neither obj_ptr_tpos_proj nor no_obj_embed_spatial"
    config = config if config is not None else EDGETAM_CONFIG
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_edgetam_video_model(config, cls=EdgeTamVideoPredictor, **options)
    model.model_id = f"{config.name}:random-{uuid.uuid4().hex}"
    if path is not None:
        if meta:
            meta_mapping.load_meta_state_dict(model, state_dict, path, config_hint=hint)
        else:
            load_edgetam_state_dict(model, state_dict, path)
        model.model_id = f"{config.name}:{file_sha256(path)[:16]}"
    return model.to(device).eval()
