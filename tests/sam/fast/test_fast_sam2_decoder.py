"""SAM 2's fast decoder against its plain one (the reference computation), on a small random model.

Batches of prompts with points, boxes, both, a mask prompt alone or with points, multimask on
and off (off: the stability-chosen single mask); logits within 1e-3, scores within 1e-4.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from samlabel.sam.embedding import compute_embedding
from samlabel.sam.fast.sam2_decoder import FastSam2Decoder
from samlabel.sam.sam2.decoder import Sam2Decoder


@pytest.fixture(scope="module")
def model_and_embedding():
    import numpy as np

    from samlabel.sam.modeling.sam2.build import build_sam2_model
    from samlabel.sam.modeling.sam2.config import SAM2_CONFIGS, FpnConfig, HieraConfig

    trunk = HieraConfig(embed_dim=16, num_heads=2, stages=(1, 2, 3, 1), global_att_blocks=(4,),
                        window_pos_embed_bkg_spatial_size=(7, 7))
    cfg = dataclasses.replace(SAM2_CONFIGS["sam2.1_hiera_tiny"], trunk=trunk, neck=FpnConfig(d_model=32))
    torch.manual_seed(5)
    model = build_sam2_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.model_id = "test:sam2-fast-decoder"
    model.eval()
    rng = np.random.default_rng(1)
    image = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
    return model, compute_embedding(model, image, path="plain")


def _cases(b: int, seed: int = 0):
    g = torch.Generator().manual_seed(b + 100 * seed)
    pts = torch.rand(b, 3, 2, generator=g) * 1024
    lab = torch.randint(0, 2, (b, 3), generator=g).int()
    xy = torch.rand(b, 2, generator=g) * 500
    boxes = torch.cat([xy, xy + 100 + torch.rand(b, 2, generator=g) * 400], dim=1)
    masks = torch.randn(b, 1, 256, 256, generator=g) * 4
    return {
        "points": dict(point_coords=pts, point_labels=lab),
        "boxes": dict(boxes=boxes),
        "points+boxes": dict(point_coords=pts, point_labels=lab, boxes=boxes),
        "mask only": dict(mask_input=masks),
        "points+mask": dict(point_coords=pts, point_labels=lab, mask_input=masks),
    }


@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize("b", [1, 4])
@pytest.mark.parametrize("case", ["points", "boxes", "points+boxes", "mask only", "points+mask"])
def test_fast_equals_plain(model_and_embedding, case, b, multimask):
    model, emb = model_and_embedding
    plain, fast = Sam2Decoder(model), FastSam2Decoder(model)
    pctx = plain.prepare(emb.features, emb.high_res_features)
    fctx = fast.prepare(emb.features, emb.high_res_features)
    kw = _cases(b)[case]
    low_p, iou_p = plain.decode(pctx, multimask_output=multimask, **kw)
    low_f, iou_f = fast.decode(fctx, multimask_output=multimask, **kw)
    assert low_f.shape == low_p.shape == (b, 3 if multimask else 1, 256, 256)
    torch.testing.assert_close(low_f, low_p, atol=1e-3, rtol=0)
    torch.testing.assert_close(iou_f, iou_p, atol=1e-4, rtol=0)


def test_embedding_without_high_res_maps_is_refused(model_and_embedding):
    model, emb = model_and_embedding
    with pytest.raises(ValueError, match="2 high-resolution feature maps"):
        FastSam2Decoder(model).prepare(emb.features, ())


@pytest.mark.parametrize("case", ["points", "boxes", "points+boxes", "points+mask"])
@pytest.mark.parametrize("multimask", [True, False])
def test_recorded_decoder_replays_sam2_bit_for_bit(model_and_embedding, case, multimask):
    """The hover preview's recorded decoder (``fast/traced_decoder.py``) runs SAM 2 too."""
    from samlabel.sam.fast import traced_decoder as td

    model, emb = model_and_embedding
    fast = FastSam2Decoder(model)
    ctx = fast.prepare(emb.features, emb.high_res_features)
    assert td.traced_decoder_for(model) is not None  # the session's hover path uses the model's recorder
    recorder = td.TracedDecoder(model)
    for step in range(3):  # the first call records; the others replay, each prompt different
        kw = _cases(1, seed=step)[case]  # same shapes, other values
        args = (kw.get("point_coords"), kw.get("point_labels"), kw.get("boxes"), kw.get("mask_input"), multimask, None)
        got = recorder(ctx, *args, lambda: fast.decode(ctx, *args))
        expected = fast.decode(ctx, *args)
        for a, b in zip(got, expected):
            assert torch.equal(a, b), f"max |diff| {(a - b).abs().max().item()}"
    assert recorder.recorded == 1 and recorder.replayed == 2
