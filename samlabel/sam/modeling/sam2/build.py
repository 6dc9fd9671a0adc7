"""Building SAM 2 image models from their configs and loading official checkpoints strictly.

``build_sam2("sam2.1_hiera_tiny", checkpoint="sam2.1_hiera_tiny.pt")`` builds the model of
:mod:`~samlabel.sam.modeling.sam2.config`, loads Meta's ``{"model": state_dict}`` file
(read with ``torch.load(weights_only=True)``) and returns it in eval mode. Every key of the
image model must be in the file with its shape; the file's keys of the video-only modules
(memory attention and encoder, object pointers...) are accepted and listed in
``model.ignored_keys``; anything else missing, extra or of another shape raises
``CheckpointError`` naming the file and the keys. Hugging Face ``Sam2Model`` weights are
renamed through :mod:`~samlabel.sam.modeling.sam2.hf_mapping` first.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Mapping, Optional, Union

import torch

from samlabel.sam.errors import CheckpointError
from samlabel.sam.files.checkpoint import _few, file_sha256, fit_problems, read_state_dict, state_dict_problems
from samlabel.sam.modeling.sam2.config import Sam2Config, get_sam2_config
from samlabel.sam.modeling.sam2.hieradet import Hiera
from samlabel.sam.modeling.sam2.image_encoder import FpnNeck, ImageEncoder
from samlabel.sam.modeling.sam2.position_encoding import PositionEmbeddingSine
from samlabel.sam.modeling.sam2.sam2_image import SAM2Image

PathLike = Union[str, Path]

# Top-level names in ``SAM2Base``'s state dict that only the video model uses.
VIDEO_ONLY_MODULES = (
    "memory_attention",
    "memory_encoder",
    "maskmem_tpos_enc",
    "no_mem_pos_enc",
    "no_obj_ptr",
    "obj_ptr_proj",
    "obj_ptr_tpos_proj",
    "mask_downsample",
    "no_obj_embed_spatial",
)


def is_video_only_key(key: str) -> bool:
    """Whether a checkpoint key belongs to a module the image model does not have."""
    return key.split(".", 1)[0] in VIDEO_ONLY_MODULES


def build_sam2_model(config: Sam2Config) -> SAM2Image:
    """The model of ``config`` with freshly initialised (untrained) weights, in train mode."""
    t, n, d = config.trunk, config.neck, config.decoder
    trunk = Hiera(
        embed_dim=t.embed_dim,
        num_heads=t.num_heads,
        q_pool=t.q_pool,
        q_stride=t.q_stride,
        stages=t.stages,
        dim_mul=t.dim_mul,
        head_mul=t.head_mul,
        window_pos_embed_bkg_spatial_size=t.window_pos_embed_bkg_spatial_size,
        window_spec=t.window_spec,
        global_att_blocks=t.global_att_blocks,
    )
    neck = FpnNeck(
        position_encoding=PositionEmbeddingSine(n.d_model, temperature=n.pos_temperature, normalize=n.pos_normalize),
        d_model=n.d_model,
        backbone_channel_list=list(t.channel_list),
        kernel_size=n.kernel_size,
        stride=n.stride,
        padding=n.padding,
        fpn_interp_model=n.fpn_interp_model,
        fuse_type=n.fuse_type,
        fpn_top_down_levels=n.fpn_top_down_levels,
    )
    return SAM2Image(
        ImageEncoder(trunk=trunk, neck=neck, scalp=n.scalp),
        image_size=config.image_size,
        backbone_stride=config.backbone_stride,
        use_high_res_features_in_sam=config.use_high_res_features_in_sam,
        directly_add_no_mem_embed=config.directly_add_no_mem_embed,
        mask_in_chans=d.mask_in_chans,
        transformer_kwargs={"depth": d.transformer_depth, "mlp_dim": d.transformer_mlp_dim, "num_heads": d.transformer_num_heads},
        decoder_kwargs={
            "num_multimask_outputs": d.num_multimask_outputs,
            "iou_head_depth": d.iou_head_depth,
            "iou_head_hidden_dim": d.iou_head_hidden_dim,
            "iou_prediction_use_sigmoid": d.iou_prediction_use_sigmoid,
            "pred_obj_scores": d.pred_obj_scores,
            "pred_obj_scores_mlp": d.pred_obj_scores_mlp,
            "use_multimask_token_for_obj_ptr": d.use_multimask_token_for_obj_ptr,
            "dynamic_multimask_via_stability": d.dynamic_multimask_via_stability,
            "dynamic_multimask_stability_delta": d.dynamic_multimask_stability_delta,
            "dynamic_multimask_stability_thresh": d.dynamic_multimask_stability_thresh,
        },
        config=config,
    )


def load_sam2_state_dict(model: SAM2Image, state_dict: Mapping[str, torch.Tensor], path: PathLike) -> list[str]:
    """Copy ``state_dict`` into ``model`` strictly; returns (and sets ``model.ignored_keys`` to)
    the sorted video-only keys it skipped. ``CheckpointError`` naming ``path`` otherwise."""
    from samlabel.sam.modeling.sam2 import hf_mapping

    kind = "checkpoint"
    if hf_mapping.is_hf_sam2_state_dict(state_dict):
        state_dict = hf_mapping.hf_to_official(state_dict)
        kind = "Hugging Face SAM 2 checkpoint"
    expected = model.state_dict()
    ignored = sorted(k for k in state_dict if k not in expected and is_video_only_key(k))
    rest = {k: v for k, v in state_dict.items() if k not in set(ignored)}
    if not set(rest) & set(expected):
        raise CheckpointError(
            f"{kind} {path} is not a SAM 2 checkpoint: none of its {len(state_dict)} tensor names matches the model's "
            f"(e.g. it has {_few(sorted(state_dict))}; expected names like {_few(list(expected)[:3])})"
        )
    missing, unexpected, mismatched = state_dict_problems(expected, rest)
    if missing or unexpected or mismatched:
        name = getattr(model.config, "name", type(model).__name__)
        problems = fit_problems(missing, unexpected, mismatched, " - is it a checkpoint for another model size?")
        raise CheckpointError(f"{kind} {path} does not fit model {name!r}: " + "; ".join(problems))
    with torch.no_grad():
        for k, v in expected.items():
            v.copy_(rest[k])
    model.ignored_keys = ignored
    return ignored


def build_sam2(
    name_or_config: Union[str, Sam2Config], checkpoint: Optional[PathLike] = None, device: Union[str, torch.device] = "cpu"
) -> SAM2Image:
    """The SAM 2 image model ``name_or_config`` (e.g. ``"sam2.1_hiera_tiny"``), with the
    weights of ``checkpoint`` if given, on ``device``, in eval mode."""
    config = get_sam2_config(name_or_config)
    model = build_sam2_model(config)
    model.model_id = f"{config.name}:random-{uuid.uuid4().hex}"
    if checkpoint is not None:
        load_sam2_state_dict(model, read_state_dict(checkpoint), Path(checkpoint))
        model.model_id = f"{config.name}:{file_sha256(checkpoint)[:16]}"
    return model.to(device).eval()


# --- Video model ----------------------------------------------------------------------------------


def build_sam2_video_model(config: Sam2Config, video_config=None, cls=None, **kwargs):
    """The video model of ``config`` (``cls``, default
    :class:`~samlabel.sam.modeling.sam2.sam2_video_base.SAM2VideoBase`, e.g. the video
    predictor), with memory modules after ``video_config`` (default: the settings of the
    release ``config.name`` names, :func:`~samlabel.sam.modeling.sam2.config.get_sam2_video_config`),
    freshly initialised, in train mode. ``kwargs`` go to ``cls`` (predictor options)."""
    from samlabel.sam.modeling.sam2.config import get_sam2_video_config
    from samlabel.sam.modeling.sam2.memory_attention import RoPEAttention, build_memory_attention
    from samlabel.sam.modeling.sam2.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
    from samlabel.sam.modeling.sam2.sam2_video_base import SAM2VideoBase

    v = video_config if video_config is not None else get_sam2_video_config(config.name)
    cls = cls if cls is not None else SAM2VideoBase
    image_model = build_sam2_model(config)  # reuse its image encoder and its keyword arguments
    d_model = config.neck.d_model
    a, e = v.memory_attention, v.memory_encoder
    mem_dim = e.out_dim
    memory_attention = build_memory_attention(a, d_model, RoPEAttention(
        embedding_dim=d_model, num_heads=a.num_heads, downsample_rate=a.downsample_rate, dropout=a.dropout,
        kv_in_dim=mem_dim, rope_theta=a.rope_theta, feat_sizes=a.feat_sizes, rope_k_repeat=True,
    ))
    memory_encoder = MemoryEncoder(
        out_dim=mem_dim,
        mask_downsampler=MaskDownSampler(
            embed_dim=d_model, kernel_size=e.mask_kernel_size, stride=e.mask_stride, padding=e.mask_padding,
            total_stride=e.mask_total_stride,
        ),
        fuser=Fuser(
            CXBlock(dim=d_model, kernel_size=e.fuser_kernel_size, padding=e.fuser_padding,
                    layer_scale_init_value=e.fuser_layer_scale_init_value, use_dwconv=e.fuser_use_dwconv),
            num_layers=e.fuser_num_layers,
        ),
        position_encoding=PositionEmbeddingSine(mem_dim, temperature=e.pos_temperature, normalize=e.pos_normalize),
        in_dim=d_model,
    )
    d = config.decoder
    model = cls(
        image_model.image_encoder,
        memory_attention,
        memory_encoder,
        num_maskmem=v.num_maskmem,
        sigmoid_scale_for_mem_enc=v.sigmoid_scale_for_mem_enc,
        sigmoid_bias_for_mem_enc=v.sigmoid_bias_for_mem_enc,
        binarize_mask_from_pts_for_mem_enc=v.binarize_mask_from_pts_for_mem_enc,
        use_mask_input_as_output_without_sam=v.use_mask_input_as_output_without_sam,
        max_cond_frames_in_attn=v.max_cond_frames_in_attn,
        multimask_output_in_sam=v.multimask_output_in_sam,
        multimask_min_pt_num=v.multimask_min_pt_num,
        multimask_max_pt_num=v.multimask_max_pt_num,
        multimask_output_for_tracking=v.multimask_output_for_tracking,
        memory_temporal_stride_for_eval=v.memory_temporal_stride_for_eval,
        non_overlap_masks_for_mem_enc=v.non_overlap_masks_for_mem_enc,
        use_obj_ptrs_in_encoder=v.use_obj_ptrs_in_encoder,
        max_obj_ptrs_in_encoder=v.max_obj_ptrs_in_encoder,
        add_tpos_enc_to_obj_ptrs=v.add_tpos_enc_to_obj_ptrs,
        proj_tpos_enc_in_obj_ptrs=v.proj_tpos_enc_in_obj_ptrs,
        use_signed_tpos_enc_to_obj_ptrs=v.use_signed_tpos_enc_to_obj_ptrs,
        only_obj_ptrs_in_the_past_for_eval=v.only_obj_ptrs_in_the_past_for_eval,
        fixed_no_obj_ptr=v.fixed_no_obj_ptr,
        soft_no_obj_ptr=v.soft_no_obj_ptr,
        use_mlp_for_obj_ptr_proj=v.use_mlp_for_obj_ptr_proj,
        no_obj_embed_spatial=v.no_obj_embed_spatial,
        image_size=config.image_size,
        backbone_stride=config.backbone_stride,
        use_high_res_features_in_sam=config.use_high_res_features_in_sam,
        directly_add_no_mem_embed=config.directly_add_no_mem_embed,
        mask_in_chans=d.mask_in_chans,
        transformer_kwargs={"depth": d.transformer_depth, "mlp_dim": d.transformer_mlp_dim, "num_heads": d.transformer_num_heads},
        decoder_kwargs={
            "num_multimask_outputs": d.num_multimask_outputs,
            "iou_head_depth": d.iou_head_depth,
            "iou_head_hidden_dim": d.iou_head_hidden_dim,
            "iou_prediction_use_sigmoid": d.iou_prediction_use_sigmoid,
            "pred_obj_scores": d.pred_obj_scores,
            "pred_obj_scores_mlp": d.pred_obj_scores_mlp,
            "use_multimask_token_for_obj_ptr": d.use_multimask_token_for_obj_ptr,
            "dynamic_multimask_via_stability": d.dynamic_multimask_via_stability,
            "dynamic_multimask_stability_delta": d.dynamic_multimask_stability_delta,
            "dynamic_multimask_stability_thresh": d.dynamic_multimask_stability_thresh,
        },
        config=config,
        **kwargs,
    )
    model.video_config = v
    return model


def load_sam2_video_state_dict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], path: PathLike) -> None:
    """Copy an official ``SAM2Base`` state dict into the video ``model`` strictly (every key,
    video modules included, with its shape); ``CheckpointError`` naming ``path`` otherwise."""
    expected = model.state_dict()
    if not set(state_dict) & set(expected):
        raise CheckpointError(
            f"checkpoint {path} is not a SAM 2 checkpoint: none of its {len(state_dict)} tensor names matches the model's "
            f"(e.g. it has {_few(sorted(state_dict))}; expected names like {_few(list(expected)[:3])})"
        )
    missing, unexpected, mismatched = state_dict_problems(expected, state_dict)
    if missing or unexpected or mismatched:
        name = getattr(model.config, "name", type(model).__name__)
        problems = fit_problems(missing, unexpected, mismatched, " - is it a checkpoint for another model size?")
        raise CheckpointError(f"checkpoint {path} does not fit video model {name!r}: " + "; ".join(problems))
    with torch.no_grad():
        for k, v in expected.items():
            v.copy_(state_dict[k])
    model.ignored_keys = []
