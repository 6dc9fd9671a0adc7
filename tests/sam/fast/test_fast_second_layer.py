"""The decoder's second block computed from the first block's low-rank update (samlabel.sam.fast.second_layer),
and its last attention from both blocks' updates (output_map.FinalAttentionCache), equal the plain blocks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from samlabel.sam.fast import output_map as OM
from samlabel.sam.fast import second_layer as SL
from samlabel.sam.fast.attention import values_out
from samlabel.sam.fast.two_way import forward_tokens, precompute_image_side
from samlabel.sam.modeling.sam1.transformer import TwoWayTransformer


def _fwd(tr, *args):
    """The fast transformer's queries and image tokens."""
    return forward_tokens(tr, *args)[:2]


def _randomise(module: torch.nn.Module, scale: float) -> None:
    """Every weight, LayerNorm ones included, moved away from its initial value."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * scale)


@pytest.fixture(scope="module")
def sam_sized():
    """SAM's decoder transformer at full size: C=256, 8 heads, internal width 128, 64x64 tokens."""
    torch.manual_seed(3)
    tr = TwoWayTransformer(depth=2, embedding_dim=256, num_heads=8, mlp_dim=2048).eval()
    _randomise(tr, 0.05)
    return tr


def _spy(monkeypatch, cls=SL.SecondLayerCache):
    calls = []
    original = cls.forward

    def forward(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "forward", forward)
    return calls


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("offset", [0.0, 4.0])
def test_factored_second_block_equals_the_plain_blocks(sam_sized, batch, offset, monkeypatch):
    """``offset`` moves every image token's mean far from 0: the centring must be right."""
    tr = sam_sized
    torch.manual_seed(10 + batch)
    keys = torch.randn(1, 4096, 256) + offset  # image embedding + no-mask embedding
    pe = torch.randn(1, 4096, 256)
    tokens = torch.randn(batch, 7, 256)  # IoU + 4 mask tokens + point + padding point
    cache = precompute_image_side(tr, keys, pe)
    assert cache.second is not None
    calls = _spy(monkeypatch)
    final_calls = _spy(monkeypatch, OM.FinalAttentionCache)
    with torch.no_grad():
        hs, out_keys = _fwd(tr, keys, pe, tokens, cache)
        assert len(calls) == len(final_calls) == 1  # the factored block and last attention ran
        hs_cached, keys_cached = _fwd(tr, keys, pe, tokens, dataclasses.replace(cache, second=None))
        hs_plain, keys_plain = _fwd(tr, keys.expand(batch, -1, -1), pe, tokens)  # no cache at all
    assert len(calls) == len(final_calls) == 1
    for got in (hs_cached, hs_plain):
        torch.testing.assert_close(hs, got, atol=2e-5, rtol=1e-5)
    for got in (keys_cached, keys_plain):
        torch.testing.assert_close(out_keys, got, atol=2e-5, rtol=1e-5)


def test_second_block_forward_against_block_forward(sam_sized):
    """``SecondLayerCache.forward`` on any update ``K = norm4(D + a m)`` equals ``block.forward(K)``:
    the same queries, and an update whose tokens ``norm4(K + a1 m1)`` are the block's."""
    from samlabel.sam.fast.norm_stats import NormStatsCache
    from samlabel.sam.fast.output_map import TwoBlockTokens, output_tokens

    tr = sam_sized
    first, second = tr.layers
    att0 = first.cross_attn_image_to_token
    torch.manual_seed(5)
    d, pe = torch.randn(1, 4096, 256) - 2.0, torch.randn(1, 4096, 256)
    a_t = torch.softmax(torch.randn(2, 8, 3, 4096), dim=2).reshape(2, 24, 4096)
    v = torch.randn(2, 8, 3, 16) + 0.5
    with torch.no_grad():
        m = values_out(att0, v)
        x = d + a_t.transpose(1, 2) @ m
        keys, _, rstd = torch.native_layer_norm(x, first.norm4.normalized_shape, first.norm4.weight,
                                                first.norm4.bias, first.norm4.eps)
        queries, query_pe = torch.randn(2, 5, 256), torch.randn(2, 5, 256)
        cache = SL.SecondLayerCache.build(first, second, d, pe)
        stats = NormStatsCache.build(first, second, d)
        torch.testing.assert_close(stats.rstd0(a_t, v, m), rstd, atol=1e-6, rtol=1e-5)
        upd0 = SL.LowRankUpdate(a_t, m, rstd, heads=8, v=v)
        got_q, upd1 = cache.forward(second, queries, query_pe, upd0, stats)
        want_q, want_k = second(queries=queries, keys=keys, query_pe=query_pe, key_pe=pe)
        got_k = output_tokens(first.norm4, second.norm4, d, TwoBlockTokens.of(upd0, upd1))
    torch.testing.assert_close(got_q, want_q, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(got_k, want_k, atol=2e-5, rtol=1e-5)


def test_many_tokens_take_the_plain_blocks(sam_sized, monkeypatch):
    """heads x tokens >= internal width: no low-rank update, so no factored block; same values."""
    tr = sam_sized
    torch.manual_seed(6)
    keys, pe = torch.randn(1, 4096, 256), torch.randn(1, 4096, 256)
    tokens = torch.randn(1, 16, 256)  # 8 heads x 16 = 128
    cache = precompute_image_side(tr, keys, pe)
    calls = _spy(monkeypatch)
    with torch.no_grad():
        hs, out_keys = _fwd(tr, keys, pe, tokens, cache)
        hs_plain, keys_plain = _fwd(tr, keys, pe, tokens)
    assert calls == []
    torch.testing.assert_close(hs, hs_plain, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(out_keys, keys_plain, atol=2e-5, rtol=1e-5)


def test_one_block_transformer_has_no_second_layer_cache():
    torch.manual_seed(7)
    tr = TwoWayTransformer(depth=1, embedding_dim=32, num_heads=2, mlp_dim=64).eval()
    keys, pe, tokens = torch.randn(1, 64, 32), torch.randn(1, 64, 32), torch.randn(2, 5, 32)
    cache = precompute_image_side(tr, keys, pe)
    assert cache.second is None
    with torch.no_grad():
        torch.testing.assert_close(_fwd(tr, keys, pe, tokens, cache)[0], _fwd(tr, keys, pe, tokens)[0],
                                   atol=1e-5, rtol=1e-5)
