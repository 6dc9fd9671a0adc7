"""The first upscaling product from the two blocks' low-rank updates (samlabel.sam.fast.output_map)
equals the product of the materialised output tokens."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from samlabel.sam.fast import output_map as OM
from samlabel.sam.fast.lowrank import LowRankUpdate
from samlabel.sam.fast.decoder import FastDecoder


def _layer_norm(x, norm):
    return torch.native_layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _norm(c, seed):
    torch.manual_seed(seed)
    norm = torch.nn.LayerNorm(c)
    with torch.no_grad():
        norm.weight.add_(torch.randn(c) * 0.3)
        norm.bias.add_(torch.randn(c) * 0.5)
    return norm


@pytest.mark.parametrize("window", [None, (5, 8), (5, 3), (8, 2)])
def test_apply_equals_the_map_of_the_output_tokens(window):
    h, w, c, k, batch = 8, 8, 32, 24, 2
    norm0, norm1 = _norm(c, 1), _norm(c, 2)
    torch.manual_seed(3)
    d = torch.randn(1, h * w, c) + 2.0  # rows far from centred
    heads0, heads1 = 2, 3
    a0 = torch.softmax(torch.randn(batch, heads0, 4, h * w), dim=2).reshape(batch, heads0 * 4, h * w)
    a1 = torch.softmax(torch.randn(batch, heads1, 5, h * w), dim=2).reshape(batch, heads1 * 5, h * w)
    m0, m1 = torch.randn(batch, heads0 * 4, c) - 1.0, torch.randn(batch, heads1 * 5, c) + 0.5
    wmap, bmap = torch.randn(c, k), torch.randn(k)
    with torch.no_grad():
        k1, _, rstd0 = _layer_norm(d + a0.transpose(1, 2) @ m0, norm0)
        k2, _, rstd1 = _layer_norm(k1 + a1.transpose(1, 2) @ m1, norm1)
        want = k2 @ wmap + bmap  # (B, h*w, K)
        cache = OM.OutputMapCache.build(norm0, norm1, d, wmap, bmap)
        tokens = OM.TwoBlockTokens.of(LowRankUpdate(a0, m0, rstd0, heads0), LowRankUpdate(a1, m1, rstd1, heads1))
        got = cache.apply(tokens, (h, w), window)
    rows, cols = window or (h, w)
    want = want.view(batch, h, w, k)[:, :rows, :cols].reshape(batch, rows * cols, k)
    torch.testing.assert_close(got, want, atol=3e-5, rtol=1e-5)


def test_select_window_rows_and_columns():
    x = torch.arange(2 * 12 * 3).view(2, 12, 3)  # a 3 x 4 grid of tokens along dim 1
    got = OM.select_window(x, 1, (3, 4), (2, 3))
    want = x.view(2, 3, 4, 3)[:, :2, :3].reshape(2, 6, 3)
    assert torch.equal(got, want)
    assert torch.equal(OM.select_window(x, 1, (3, 4), (2, 4)), x[:, :8])
    assert OM.select_window(x, 1, (3, 4), None) is x


@pytest.fixture(scope="module")
def tiny():
    from samlabel.sam.build import build_sam

    torch.manual_seed(4)
    model = build_sam("test_tiny").eval()
    with torch.no_grad():
        for p in model.mask_decoder.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize("valid_size", [None, (150, 256), (256, 90), (40, 30)])
@pytest.mark.parametrize("multimask", [True, False])
def test_decode_with_the_output_map_equals_decode_without(tiny, valid_size, multimask, monkeypatch):
    model = tiny
    c = model.prompt_encoder.embed_dim
    h, w = model.grid_size()
    ctx = FastDecoder(model).prepare(torch.randn(1, c, h, w) + 1.0)
    assert ctx.output_map is not None
    calls = []
    original = OM.OutputMapCache.apply
    monkeypatch.setattr(OM.OutputMapCache, "apply",
                        lambda self, *a, **kw: calls.append(self is ctx.output_map) or original(self, *a, **kw))
    # one point per prompt: 2 heads x (5 + 2) tokens < internal width 16, the low-rank path
    pts = torch.tensor([[[100.0, 200.0]], [[700.0, 30.0]]])
    lbl = torch.tensor([[1], [1]])
    with torch.no_grad():
        got = FastDecoder(model).decode(ctx, pts, lbl, multimask_output=multimask, valid_size=valid_size)
        assert calls == [True]  # the decoder's output map, and no output tokens formed
        want = FastDecoder(model).decode(dataclasses.replace(ctx, output_map=None), pts, lbl,
                                    multimask_output=multimask, valid_size=valid_size)
        plain = FastDecoder(model).decode(dataclasses.replace(ctx, output_map=None, image_side=None), pts, lbl,
                                     multimask_output=multimask, valid_size=valid_size)
    assert calls.count(True) == 1
    for other in (want, plain):
        torch.testing.assert_close(got[0], other[0], atol=2e-5, rtol=1e-5)
        torch.testing.assert_close(got[1], other[1], atol=2e-5, rtol=1e-5)
