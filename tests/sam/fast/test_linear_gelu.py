"""samlabel.sam.fast.linear: a linear's exact GELU as oneDNN's post-op or as a separate pass."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import samlabel.sam.fast.linear as linear

pytestmark = pytest.mark.skipif(not linear.HAS_LINEAR_POINTWISE, reason="this torch has no oneDNN fused linear")


@pytest.mark.parametrize("post_op", [True, False])
def test_linear_gelu_is_the_exact_gelu_of_the_product_either_way(post_op, monkeypatch, onednn_linear_calls):
    monkeypatch.setattr(linear, "gelu_post_op", lambda: post_op)
    g = torch.Generator().manual_seed(2)
    x, w, b = torch.randn(3, 70, 48, generator=g), torch.randn(96, 48, generator=g) * 0.2, torch.randn(96, generator=g)
    layer = torch.nn.Linear(48, 96)
    with torch.no_grad():
        layer.weight.copy_(w)
        layer.bias.copy_(b)
        got = linear.fused_linear(x, layer, gelu=True)
    torch.testing.assert_close(got, F.gelu(F.linear(x, w, b)), atol=1e-5, rtol=1e-5)
    assert onednn_linear_calls == [("pointwise", torch.float32, "gelu" if post_op else "none")]


def test_the_gelu_post_op_is_kept_for_avx512_and_left_out_on_avx2(monkeypatch):
    for capability, fused in (("AVX512", True), ("AVX2", False), ("DEFAULT", False)):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        linear.gelu_post_op.cache_clear()
        assert linear.gelu_post_op() is fused
    linear.gelu_post_op.cache_clear()
