"""The decoder's low-rank cross attention (transformer.Attention._few_queries/_few_keys) equals plain attention."""

from __future__ import annotations

import math

import pytest
import torch

from samlabel.sam import transformer as T


def _plain(att, q, k, v):
    """Textbook multi-head attention with the module's weights (the official maths)."""
    def split(x):
        b, n, c = x.shape
        return x.reshape(b, n, att.num_heads, c // att.num_heads).transpose(1, 2)

    qh, kh, vh = split(att.q_proj(q)), split(att.k_proj(k)), split(att.v_proj(v))
    attn = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(qh.shape[-1]), dim=-1)
    out = attn @ vh
    b, h, n, c = out.shape
    return att.out_proj(out.transpose(1, 2).reshape(b, n, h * c))


@pytest.fixture(scope="module")
def att():
    torch.manual_seed(0)
    module = T.Attention(embedding_dim=64, num_heads=4, downsample_rate=2).eval()  # internal width 32
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.2)
    return module


@pytest.mark.parametrize("batch,image_batch", [(1, 1), (3, 1), (3, 3)])
def test_tokens_to_image_and_image_to_tokens(att, batch, image_batch):
    tokens, image = torch.randn(batch, 5, 64), torch.randn(image_batch, 200, 64)  # 4 heads x 5 < 32
    with torch.no_grad():
        expected_t2i = _plain(att, tokens, image.expand(batch, -1, -1), image.expand(batch, -1, -1))
        torch.testing.assert_close(att(q=tokens, k=image, v=image), expected_t2i, atol=2e-5, rtol=1e-5)
        expected_i2t = _plain(att, image.expand(batch, -1, -1), tokens, tokens)
        torch.testing.assert_close(att(q=image, k=tokens, v=tokens), expected_i2t, atol=2e-5, rtol=1e-5)
        pre_q = att.project(image, "q")
        torch.testing.assert_close(att(q=None, k=tokens, v=tokens, heads=(pre_q, None, None)), expected_i2t,
                                   atol=2e-5, rtol=1e-5)


def test_many_tokens_and_cached_keys_take_the_plain_path(att):
    tokens, image = torch.randn(2, 9, 64), torch.randn(1, 120, 64)  # 4 heads x 9 >= 32
    with torch.no_grad():
        torch.testing.assert_close(att(q=tokens, k=image, v=image),
                                   _plain(att, tokens, image.expand(2, -1, -1), image.expand(2, -1, -1)),
                                   atol=2e-5, rtol=1e-5)
        pre_k, pre_v = att.project(image, "k"), att.project(image, "v")
        torch.testing.assert_close(att(q=tokens, k=None, v=image, heads=(None, pre_k, pre_v)),
                                   _plain(att, tokens, image.expand(2, -1, -1), image.expand(2, -1, -1)),
                                   atol=2e-5, rtol=1e-5)
