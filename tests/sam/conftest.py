"""Fixtures for the model-layer tests: reference (Meta ``segment_anything`` 1.0) models with
random weights built from a samlabel ``SamConfig``, so both implementations share weights."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from samlabel.sam.config import SamConfig


def build_reference(cfg: SamConfig, seed: int = 0):
    """A ``segment_anything.modeling.Sam`` with ``cfg``'s hyperparameters and random weights.

    Zero-initialised parameters (relative position tables, position embedding, biases) get
    small random values so that every parameter influences the outputs.
    """
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    enc, dec = cfg.encoder, cfg.decoder
    grid = cfg.input_size // enc.patch_size
    torch.manual_seed(seed)
    ref = Sam(
        image_encoder=ImageEncoderViT(
            depth=enc.depth,
            embed_dim=enc.embed_dim,
            img_size=cfg.input_size,
            mlp_ratio=enc.mlp_ratio,
            norm_layer=partial(torch.nn.LayerNorm, eps=enc.norm_eps),
            num_heads=enc.num_heads,
            patch_size=enc.patch_size,
            qkv_bias=enc.qkv_bias,
            use_rel_pos=enc.use_rel_pos,
            global_attn_indexes=list(enc.global_attn_indexes),
            window_size=enc.window_size,
            out_chans=enc.out_chans,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg.embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(cfg.input_size, cfg.input_size),
            mask_in_chans=cfg.prompt_mask_hidden_dim,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=cfg.nb_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=dec.depth, embedding_dim=cfg.embed_dim, mlp_dim=dec.mlp_dim, num_heads=dec.num_heads
            ),
            transformer_dim=cfg.embed_dim,
            iou_head_depth=dec.iou_head_depth,
            iou_head_hidden_dim=dec.iou_head_hidden_dim,
        ),
        pixel_mean=list(cfg.pixel_mean),
        pixel_std=list(cfg.pixel_std),
    ).eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if not p.any():
                p.normal_(0.0, 0.1 if "rel_pos" in name else 0.02)
            elif name.endswith("weight") and p.dim() == 1 and bool((p == 1).all()):  # norm scales
                p.add_(torch.randn_like(p) * 0.05)
    return ref


@pytest.fixture(scope="session")
def reference_factory():
    return build_reference


def cached_encoder(encoder: torch.nn.Module, inputs: torch.Tensor, embedding: torch.Tensor) -> torch.nn.Module:
    """An encoder stand-in that returns ``embedding`` for exactly ``inputs`` (and fails otherwise).

    Lets the end-to-end ``forward`` be exercised many times without re-running a full-size
    encoder; the encoder itself is compared separately.
    """

    class _Cached(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.img_size = encoder.img_size

        def forward(self, x, cancel=None):
            assert torch.equal(x, inputs), "forward() gave the encoder a different input than expected"
            return embedding

    return _Cached()


@pytest.fixture(scope="session")
def cached_encoder_factory():
    return cached_encoder
