"""The prepared (not yet applied) speed patches in benchmarks/patches compute the same maths."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

PATCHES = Path(__file__).resolve().parents[2] / "benchmarks" / "patches"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"perf_patch_{name}", PATCHES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("hw,batch,max_bias", [((8, 8), 1, 1), ((6, 10), 2, 1000), ((14, 14), 3, 1 << 30)])
def test_fused_rel_pos_attention_equals_the_reference(hw, batch, max_bias):
    from segment_anything.modeling.image_encoder import add_decomposed_rel_pos

    fused = _load("fused_rel_pos_attention").fused_rel_pos_attention
    torch.manual_seed(0)
    H, W = hw
    nH, hd = 3, 16
    q, k, v = (torch.randn(batch, nH, H * W, hd) for _ in range(3))
    rel_h, rel_w = torch.randn(2 * H - 1, hd) * 0.5, torch.randn(2 * W - 1, hd) * 0.5
    qq, kk, vv = (t.reshape(batch * nH, H * W, hd) for t in (q, k, v))
    attn = add_decomposed_rel_pos((qq * hd**-0.5) @ kk.transpose(-2, -1), qq, rel_h, rel_w, hw, hw)
    expected = (attn.softmax(-1) @ vv).reshape(batch, nH, H * W, hd)
    torch.testing.assert_close(fused(q, k, v, rel_h, rel_w, hw, max_bias), expected, atol=2e-6, rtol=1e-5)


@pytest.fixture
def patched_attention():
    """(original Attention module, the same weights with the low-rank forward)."""
    from samlabel.sam.modeling.sam1 import transformer

    lowrank = _load("lowrank_decoder_attention")
    torch.manual_seed(1)
    original = transformer.Attention(embedding_dim=64, num_heads=4, downsample_rate=2).eval()  # internal 32
    with torch.no_grad():
        for p in original.parameters():
            p.normal_(0, 0.2)

    class Patched(transformer.Attention):
        pass

    lowrank.install(Patched)
    patched = Patched(embedding_dim=64, num_heads=4, downsample_rate=2).eval()
    patched.load_state_dict(original.state_dict())
    return original, patched


def test_lowrank_token_to_image_equals_original(patched_attention):
    original, patched = patched_attention
    tokens, image = torch.randn(3, 5, 64), torch.randn(1, 300, 64)  # 4 heads x 5 tokens < 32 channels
    with torch.no_grad():
        torch.testing.assert_close(patched(q=tokens, k=image, v=image), original(q=tokens, k=image, v=image),
                                   atol=1e-5, rtol=1e-5)


def test_lowrank_image_to_token_equals_original_with_and_without_cached_queries(patched_attention):
    original, patched = patched_attention
    tokens, image = torch.randn(3, 6, 64), torch.randn(1, 300, 64)
    with torch.no_grad():
        expected = original(q=image, k=tokens, v=tokens)
        torch.testing.assert_close(patched(q=image, k=tokens, v=tokens), expected, atol=1e-5, rtol=1e-5)
        pre_q = original.project(image, "q")
        torch.testing.assert_close(patched(q=None, k=tokens, v=tokens, heads=(pre_q, None, None)), expected,
                                   atol=1e-5, rtol=1e-5)


def test_lowrank_falls_back_when_tokens_are_many(patched_attention):
    original, patched = patched_attention
    tokens, image = torch.randn(2, 12, 64), torch.randn(2, 50, 64)  # 4 x 12 >= 32: original path
    with torch.no_grad():
        assert torch.equal(patched(q=tokens, k=image, v=image), original(q=tokens, k=image, v=image))
