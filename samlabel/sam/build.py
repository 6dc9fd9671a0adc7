"""Build SAM models from registered configs, optionally loading a checkpoint.

    model = build_sam("vit_b", checkpoint="sam_vit_b_01ec64.pth")
    model = sam_model_registry["vit_b"](checkpoint="sam_vit_b_01ec64.pth")   # official spelling

``build_sam`` also accepts a ``SamConfig`` (tests use depth-reduced copies of the official
configs). The model's ``model_id`` names the config and the weights: ``"vit_b:<sha256[:16]>"``
of the checkpoint file, or ``"vit_b:random-<uuid>"`` without one.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Callable, Optional, Union

import torch

from samlabel.sam.config import SamConfig, TinyViTEncoderConfig, ViTEncoderConfig, config_names, get_config
from samlabel.sam.modeling.sam1.image_encoder import ImageEncoderViT
from samlabel.sam.modeling.sam1.mask_decoder import MaskDecoder
from samlabel.sam.modeling.sam1.sam import Sam
from samlabel.sam.modeling.sam1.prompt_encoder import PromptEncoder
from samlabel.sam.modeling.sam1.transformer import TwoWayTransformer

PathLike = Union[str, Path]


def build_image_encoder(cfg: SamConfig) -> torch.nn.Module:
    """The image encoder for ``cfg``; dispatches on the encoder config's type."""
    enc = cfg.encoder
    if isinstance(enc, ViTEncoderConfig):
        return ImageEncoderViT(
            img_size=cfg.input_size,
            patch_size=enc.patch_size,
            in_chans=cfg.in_channels,
            embed_dim=enc.embed_dim,
            depth=enc.depth,
            num_heads=enc.num_heads,
            mlp_ratio=enc.mlp_ratio,
            out_chans=enc.out_chans,
            qkv_bias=enc.qkv_bias,
            norm_eps=enc.norm_eps,
            use_abs_pos=enc.use_abs_pos,
            use_rel_pos=enc.use_rel_pos,
            window_size=enc.window_size,
            global_attn_indexes=tuple(enc.global_attn_indexes),
            pretrain_img_size=enc.pretrain_img_size,
            fixed_input_size=cfg.fixed_input_size,
        )
    if isinstance(enc, TinyViTEncoderConfig):
        from samlabel.sam.modeling.sam1.tiny_vit import TinyViT  # MobileSAM's encoder, imported only when used

        return TinyViT.from_config(enc)
    raise TypeError(f"unknown encoder config type {type(enc).__name__}")


def build_modules(cfg: SamConfig, model_id: str = "") -> Sam:
    """An untrained ``Sam`` for ``cfg`` (PyTorch's default initialisation), in eval mode."""
    grid = cfg.grid_size
    dec = cfg.decoder
    model = Sam(
        image_encoder=build_image_encoder(cfg),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg.embed_dim,
            image_embedding_size=grid,
            input_image_size=(cfg.input_size, cfg.input_size),
            mask_in_chans=cfg.prompt_mask_hidden_dim,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=cfg.nb_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=dec.depth,
                embedding_dim=cfg.embed_dim,
                mlp_dim=dec.mlp_dim,
                num_heads=dec.num_heads,
                attention_downsample_rate=dec.attention_downsample_rate,
            ),
            transformer_dim=cfg.embed_dim,
            iou_head_depth=dec.iou_head_depth,
            iou_head_hidden_dim=dec.iou_head_hidden_dim,
        ),
        pixel_mean=cfg.pixel_mean,
        pixel_std=cfg.pixel_std,
        config=cfg,
        model_id=model_id,
    )
    return model.eval()


def build_sam(
    name: Union[str, SamConfig] = "default",
    checkpoint: Optional[PathLike] = None,
    device: Optional[Union[str, torch.device]] = None,
) -> Sam:
    """Build the model ``name`` (or a ``SamConfig``), load ``checkpoint`` strictly, move to ``device``.

    Checkpoints may be Meta's official ``.pth``/``.pt`` state dicts (possibly wrapped in
    ``{"model": ...}``/``{"state_dict": ...}``) or Hugging Face ``facebook/sam-vit-*`` weights
    (``model.safetensors`` / ``pytorch_model.bin``). A file that does not fit raises
    ``CheckpointError`` naming the file and what is wrong. Names starting ``sam2``
    (``sam2.1_hiera_tiny`` ...) build a SAM 2 / 2.1 image model
    (:func:`samlabel.sam.modeling.sam2.build.build_sam2`), used through
    :class:`~samlabel.sam.sam2.image_predictor.SAM2ImagePredictor`.
    """
    if isinstance(name, str) and name.startswith("sam2"):
        # SAM 2 / 2.1 image models: a model family of their own (samlabel.sam.modeling.sam2)
        from samlabel.sam.modeling.sam2.build import build_sam2

        return build_sam2(name, checkpoint=checkpoint, device=device if device is not None else "cpu")
    cfg = get_config(name)
    model = build_modules(cfg, model_id=f"{cfg.name}:random-{uuid.uuid4().hex}")
    if checkpoint is not None:
        from samlabel.sam.files.checkpoint import load_checkpoint

        digest = load_checkpoint(model, checkpoint)
        model.model_id = f"{cfg.name}:{digest[:16]}"
    if device is not None:
        model = model.to(device)
    return model.eval()


def _builder(name: str) -> Callable[..., Sam]:
    def build(checkpoint: Optional[PathLike] = None, device=None) -> Sam:
        return build_sam(name, checkpoint=checkpoint, device=device)

    build.__name__ = f"build_sam_{name}"
    build.__doc__ = f"Build {name!r} (see ``build_sam``)."
    return build


build_sam_vit_b = _builder("vit_b")
build_sam_vit_l = _builder("vit_l")
build_sam_vit_h = _builder("vit_h")
build_sam_vit_t = _builder("vit_t")

# name -> builder(checkpoint=None, device=None), as the official package's registry.
sam_model_registry: dict[str, Callable[..., Sam]] = {
    "default": build_sam_vit_h,
    "vit_h": build_sam_vit_h,
    "vit_l": build_sam_vit_l,
    "vit_b": build_sam_vit_b,
    "vit_t": build_sam_vit_t,
}
for _name in config_names():
    sam_model_registry.setdefault(_name, _builder(_name))


def default_model_name(device: Optional[Union[str, torch.device]] = None) -> str:
    """``"vit_b"`` when the model will run on CUDA, ``"vit_t"`` (MobileSAM) otherwise."""
    if device is None:
        use_cuda = torch.cuda.is_available()
    else:
        use_cuda = torch.device(device).type == "cuda"
    return "vit_b" if use_cuda else "vit_t"
