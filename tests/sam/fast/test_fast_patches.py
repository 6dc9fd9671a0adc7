"""The measured, not applied, speed patch in benchmarks/patches computes the same maths."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

PATCHES = Path(__file__).resolve().parents[3] / "benchmarks" / "patches"


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
