"""Small random SAM models: Meta's reference and samlabel's with the same weights.

Copied from the pattern of ``tests/sam/conftest.py`` (seeded Meta ``Sam``, noise in
the zero-initialised position tables, saved as an official ``.pth`` and loaded through
``samlabel.sam.build_sam(cfg, checkpoint=...)``). :func:`build` is also the
``--model-factory autolabel_small_model:build`` factory the CLI tests use in a
subprocess (this folder on ``PYTHONPATH``).
"""

from __future__ import annotations

import dataclasses
from functools import partial

import torch

ENCODER = dict(embed_dim=64, depth=2, heads=2, global_attn=(1,))
DECODER = dict(dim=32, mlp=64, heads=2, iou_hidden=32, mask_in_chans=8)


def reference_sam(seed: int = 3):
    """Meta's ``segment_anything`` Sam with random weights, in eval mode."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    e, d = ENCODER, DECODER
    torch.manual_seed(seed)
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=e["depth"], embed_dim=e["embed_dim"], img_size=1024, mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=e["heads"], patch_size=16,
            qkv_bias=True, use_rel_pos=True, global_attn_indexes=e["global_attn"], window_size=14, out_chans=d["dim"],
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=d["dim"], image_embedding_size=(64, 64), input_image_size=(1024, 1024),
            mask_in_chans=d["mask_in_chans"],
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=d["dim"], mlp_dim=d["mlp"], num_heads=d["heads"]),
            transformer_dim=d["dim"], iou_head_depth=3, iou_head_hidden_dim=d["iou_hidden"],
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    with torch.no_grad():
        for name, p in sam.named_parameters():
            if p.abs().max() == 0 and ("pos" in name):
                p.normal_(0, 0.02)
    return sam.eval()


def config():
    """samlabel's config of the same architecture."""
    from samlabel.sam.config import MaskDecoderConfig, get_config

    e, d = ENCODER, DECODER
    base = get_config("vit_b")
    enc = dataclasses.replace(
        base.encoder, embed_dim=e["embed_dim"], depth=e["depth"], num_heads=e["heads"],
        global_attn_indexes=e["global_attn"], out_chans=d["dim"],
    )
    decoder = MaskDecoderConfig(depth=2, num_heads=d["heads"], mlp_dim=d["mlp"], iou_head_depth=3,
                                iou_head_hidden_dim=d["iou_hidden"])
    return dataclasses.replace(base, name="small-random", encoder=enc, embed_dim=d["dim"],
                               prompt_mask_hidden_dim=d["mask_in_chans"], decoder=decoder, checkpoint_md5=None,
                               checkpoint_sha256=None, checkpoint_size=None)


def save_weights(path) -> str:
    """Save the reference's random weights as an official-format ``.pth``; returns the path."""
    torch.save(reference_sam().state_dict(), path)
    return str(path)


def build(checkpoint=None, device=None):
    """The ``--model-factory``: samlabel's Sam of :func:`config` with ``checkpoint``'s weights."""
    from samlabel.sam import build_sam

    return build_sam(config(), checkpoint=checkpoint, device=device or "cpu").eval()
