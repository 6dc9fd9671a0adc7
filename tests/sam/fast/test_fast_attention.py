"""The optimised attention (chunked, fused) equals Meta's explicit rel-pos attention.

Small shapes, float32; the chunk size is forced down so that several bands are used.
"""

from __future__ import annotations

import pytest
import torch

from samlabel.sam.fast import vit_encoder as fast_enc
from samlabel.sam.modeling.sam1 import image_encoder as enc
from samlabel.sam.modeling.windows import grid_to_windows, windows_to_grid


def _reference_attention(q, k, v, rel_pos_h, rel_pos_w, hw):
    """Meta's segment_anything Attention core: explicit scores + decomposed rel-pos bias."""
    from segment_anything.modeling.image_encoder import add_decomposed_rel_pos

    B, nH, N, hd = q.shape
    qq, kk, vv = (t.reshape(B * nH, N, hd) for t in (q, k, v))
    attn = (qq * hd**-0.5) @ kk.transpose(-2, -1)
    attn = add_decomposed_rel_pos(attn, qq, rel_pos_h, rel_pos_w, hw, hw)
    return (attn.softmax(dim=-1) @ vv).reshape(B, nH, N, hd)


@pytest.mark.parametrize("hw,batch", [((8, 8), 1), ((6, 10), 2), ((14, 14), 3)])
@pytest.mark.parametrize("max_bias_elements", [1, 1000, 1 << 30])
def test_chunked_rel_pos_attention_equals_reference(hw, batch, max_bias_elements):
    torch.manual_seed(0)
    H, W = hw
    nH, hd = 3, 16
    q, k, v = (torch.randn(batch, nH, H * W, hd) for _ in range(3))
    rel_h = torch.randn(2 * H - 1, hd) * 0.5
    rel_w = torch.randn(2 * W - 1, hd) * 0.5
    expected = _reference_attention(q, k, v, rel_h, rel_w, hw)
    got = fast_enc.rel_pos_attention(q, k, v, rel_h, rel_w, hw, max_bias_elements)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=2e-6, rtol=1e-5)


def test_non_contiguous_qkv_views_give_the_same_result():
    """The encoder passes q, k, v as strided views of one qkv tensor."""
    torch.manual_seed(1)
    B, H, W, nH, hd = 1, 8, 8, 2, 8
    qkv = torch.randn(B, H * W, 3, nH, hd).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    rel_h, rel_w = torch.randn(2 * H - 1, hd), torch.randn(2 * W - 1, hd)
    expected = _reference_attention(q.contiguous(), k.contiguous(), v.contiguous(), rel_h, rel_w, (H, W))
    got = fast_enc.rel_pos_attention(q, k, v, rel_h, rel_w, (H, W), 64)
    torch.testing.assert_close(got, expected, atol=2e-6, rtol=1e-5)


def test_attention_block_matches_reference_module():
    """A whole global-attention module with the official parameter names and weights, plain and fast."""
    from segment_anything.modeling.image_encoder import Attention as RefAttention

    torch.manual_seed(2)
    ref = RefAttention(dim=48, num_heads=4, qkv_bias=True, use_rel_pos=True, input_size=(10, 12)).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.1)
    ours = enc.Attention(dim=48, num_heads=4, qkv_bias=True, use_rel_pos=True, input_size=(10, 12)).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 10, 12, 48)
    with torch.no_grad():
        expected = ref(x)
        torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)
        fast = fast_enc.global_attention(ours, x, max_bias_elements=500)  # several bands
        torch.testing.assert_close(fast, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "hw,window,qkv_bias,batch",
    [((10, 12), 4, True, 2), ((9, 7), 4, False, 1), ((8, 8), 4, True, 1), ((5, 6), 14, True, 1)],
)
def test_windowed_block_matches_reference_block(hw, window, qkv_bias, batch):
    """Plain and fast blocks equal the reference; fast windowed blocks skip qkv/proj on the padding and fill padded keys/values with the qkv bias.

    Grids that are not a multiple of the window (10x12 / 4, 9x7 / 4, 5x6 / 14) pad; the
    official block zero-pads the normalised input, so its padded keys are ``qkv(0) = bias``.
    """
    from segment_anything.modeling.image_encoder import Block as RefBlock

    torch.manual_seed(3)
    ref = RefBlock(48, 4, qkv_bias=qkv_bias, use_rel_pos=True, window_size=window, input_size=hw).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.1)
    ours = enc.Block(48, 4, qkv_bias=qkv_bias, use_rel_pos=True, window_size=window, input_size=hw).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(batch, *hw, 48)
    with torch.no_grad():
        expected = ref(x)
        torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fast_enc.block_forward(ours, x), expected, atol=1e-5, rtol=1e-5)


def test_window_partition_round_trip_and_fill():
    """grid_to_windows pads with the fill vector; windows_to_grid inverts it and drops the padding."""
    torch.manual_seed(4)
    B, H, W, nH, hd, ws = 2, 9, 11, 3, 4, 4
    grid = torch.randn(B, H, W, nH * hd)
    fill = torch.arange(nH * hd, dtype=torch.float32) + 100.0
    wins = grid_to_windows(grid, ws, fill)  # (B, 3, 3, 4, 4, C)
    assert wins.shape == (B, 3, 3, ws, ws, nH * hd)
    padded = fill.expand(B, 12, 12, nH * hd).clone()
    padded[:, :H, :W] = grid
    expected = padded.view(B, 3, ws, 3, ws, -1).permute(0, 1, 3, 2, 4, 5)
    assert torch.equal(wins, expected)
    per_head = wins.view(B, 3, 3, ws, ws, nH, hd).permute(0, 1, 2, 5, 3, 4, 6)  # (B, nh, nw, nH, ws, ws, hd)
    assert torch.equal(windows_to_grid(per_head, (H, W)), grid)


def test_window_partition_pads_with_zeros_by_default():
    """TinyViT's windows: zero padding, and windows without a head axis go back as one head."""
    torch.manual_seed(5)
    grid = torch.randn(1, 5, 6, 8)
    wins = grid_to_windows(grid, 4)  # (1, 2, 2, 4, 4, 8)
    padded = torch.nn.functional.pad(grid, (0, 0, 0, 2, 0, 3))
    assert torch.equal(wins, padded.view(1, 2, 4, 2, 4, 8).permute(0, 1, 3, 2, 4, 5))
    assert torch.equal(windows_to_grid(wins.view(1, 2, 2, 1, 4, 4, 8), (5, 6)), grid)


@pytest.mark.skipif(not __import__("samlabel.sam.fast.linear", fromlist=["x"]).onednn_bf16(),
                    reason="oneDNN has no bf16 kernels on this CPU")
def test_a_bf16_vit_fuses_its_linears_and_float32_keeps_the_modules(monkeypatch, onednn_linear_calls):
    """A bf16 encoder (``fast/precision.py``) runs qkv, proj + residual, lin1 + GELU and lin2 +
    residual as fused oneDNN calls, as close to float32 as the module calls in bf16; float32
    never takes them (MKL's products, as before), nor bf16 without oneDNN's bf16 kernels."""
    import copy

    from samlabel.sam.fast import linear as fast_linear

    torch.manual_seed(3)
    encoder = enc.ImageEncoderViT(img_size=128, patch_size=16, embed_dim=64, depth=2, num_heads=4, out_chans=32,
                                  use_rel_pos=True, window_size=3, global_attn_indexes=(1,)).eval()
    with torch.no_grad():
        for name, p in encoder.named_parameters():
            if "pos" in name:
                p.normal_(0, 0.02)
    x = torch.randn(1, 3, 128, 128)
    calls = onednn_linear_calls
    with torch.no_grad():
        want32 = fast_enc.encode(encoder, x)
        assert calls == []  # float32: the modules
        bf16 = copy.deepcopy(encoder).to(torch.bfloat16)
        fused = fast_enc.encode(bf16, x.to(torch.bfloat16)).float()
        # per block: qkv (none), proj + residual, lin1 + GELU, lin2 + residual
        assert sorted(calls) == sorted([("pointwise", torch.bfloat16, "none"), ("binary", torch.bfloat16, "add"),
                                        ("pointwise", torch.bfloat16, "gelu"), ("binary", torch.bfloat16, "add")] * 2)
        monkeypatch.setattr(fast_linear, "onednn_bf16", lambda: False)
        unfused = fast_enc.encode(bf16, x.to(torch.bfloat16)).float()
    assert len(calls) == 8  # none without bf16 kernels

    def rel(a, b):
        return float((a - b).norm() / b.norm())

    assert 0 < rel(fused, want32) < 3e-2 and rel(fused, want32) <= 1.5 * rel(unfused, want32) + 1e-3
