"""The fast TinyViT encoder (``samlabel.sam.fast.tiny_vit_encoder``) equals the plain module.

Compared within 1e-4 (max abs) against the plain ``TinyViT`` forward, with seeded random weights
in which no parameter keeps an init constant (batch-norm statistics, attention biases and norm
scales randomised): a small config at odd, non-square sizes (partial 7x7 and 14x14 windows,
odd maps under the stride-2 convs), a batch of two, forced small bands (every halo and border
case of the banded MBConvs and MLPs), every rewrite switched off in turn, and the full-size
MobileSAM config at 1024x1024. Also: bf16 weights on the same kernels (close to the float32
encoder, as bf16 is), the fallback to the plain module for weights or inputs the fast kernels
do not handle (float64, mixed dtypes, autograd), the weights cache following in-place loads,
cancellation, and the switch in ``samlabel.sam.compute_path``.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from samlabel.sam.errors import Cancelled
from samlabel.sam.fast import tiny_vit_encoder as fast
from samlabel.sam.modeling.sam1.tiny_vit import TinyViT

ATOL = 1e-4

SMALL = dict(img_size=224, embed_dims=(16, 32, 40, 48), depths=(2, 2, 2, 1), num_heads=(2, 2, 2, 3),
             window_sizes=(7, 7, 14, 7), out_chans=32, num_classes=0)


def _randomise_(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights, batch-norm statistics, attention biases and norm scales (eval mode)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("attention_biases"):
                p.copy_(torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / p[0].numel()) ** 0.5)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def small_encoder() -> TinyViT:
    return _randomise_(TinyViT(**SMALL), seed=1)


def _input(b: int, h: int, w: int, seed: int) -> torch.Tensor:
    return torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _plain(encoder: TinyViT, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return encoder(x)


def _assert_matches(encoder: TinyViT, x: torch.Tensor, options: fast.Options = fast.DEFAULT_OPTIONS) -> torch.Tensor:
    want = _plain(encoder, x)
    with torch.no_grad():
        assert fast.supports(encoder, x)
        got = fast.encode(encoder, x, options=options)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert want.abs().mean() > 0.1  # a non-trivial output
    diff = (got - want).abs().max().item()
    assert diff <= ATOL, f"max abs deviation {diff:.3g} at {tuple(x.shape)} with {options}"
    return got


@pytest.mark.parametrize("hw", [(224, 224), (160, 224), (224, 100), (97, 131), (64, 64)])
def test_small_config_matches_plain_at_odd_sizes(small_encoder, hw):
    _assert_matches(small_encoder, _input(1, *hw, seed=hw[0] * 7 + hw[1]))


def test_batch_matches_plain_and_items_are_independent(small_encoder):
    x = _input(2, 160, 208, seed=5)
    got = _assert_matches(small_encoder, x)
    with torch.no_grad():
        one = fast.encode(small_encoder, x[1:])
    assert (got[1:] - one).abs().max().item() <= ATOL


@pytest.mark.parametrize("options", [
    fast.Options(mbconv_rows=3, mlp_tokens=17),  # many bands, halos at both ends, a 1-row last band
    fast.Options(attn_rows_min_tokens=0),  # every stage's attention a row of windows at a time
    fast.Options(mbconv_rows=1, mlp_tokens=1),
    fast.Options(fused_convs=False),
    fast.Options(fused_linears=False),
    fast.Options(real_tokens=False),
    fast.Options(attn_rows=False),
    fast.Options(mlp_rows=False),
    fast.Options(band_rows=False),
    fast.Options(neck_tokens=False),
], ids=lambda o: ",".join(f"{f.name}={getattr(o, f.name)}" for f in dataclasses.fields(o)
                          if getattr(o, f.name) != getattr(fast.DEFAULT_OPTIONS, f.name)))
def test_every_rewrite_matches_plain(small_encoder, options):
    _assert_matches(small_encoder, _input(1, 150, 202, seed=11), options)


@pytest.mark.slow
def test_full_size_mobilesam_config_matches_plain():
    from samlabel.sam.config import get_config

    encoder = _randomise_(TinyViT.from_config(get_config("vit_t").encoder), seed=3)
    got = _assert_matches(encoder, _input(1, 1024, 1024, seed=4))
    assert got.shape == (1, 256, 64, 64)


def test_without_onednn_the_rewrites_run_unfused(small_encoder, monkeypatch):
    """Non-x86 CPUs (no oneDNN fused ops): same result, and no ``torch.ops.mkldnn`` call."""
    monkeypatch.setattr(fast, "_HAS_ONEDNN", False)
    called = []
    monkeypatch.setattr(torch.ops.mkldnn, "_convolution_pointwise", lambda *a, **k: called.append("conv"))
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", lambda *a, **k: called.append("linear"))
    _assert_matches(small_encoder, _input(1, 150, 202, seed=16))
    assert called == []


def test_cache_follows_in_place_weight_loads(small_encoder):
    encoder = _randomise_(TinyViT(**SMALL), seed=7)
    x = _input(1, 112, 112, seed=8)
    with torch.no_grad():
        before = fast.encode(encoder, x)
    other = _randomise_(TinyViT(**SMALL), seed=9)
    encoder.load_state_dict(other.state_dict())  # copies in place: same tensors, new versions
    after = _assert_matches(encoder, x)
    assert (after - before).abs().max().item() > 10 * ATOL
    with torch.no_grad():
        encoder.layers[0].blocks[0].conv1.bn.running_var.mul_(2.0)  # a buffer, not a parameter
    _assert_matches(encoder, x)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float(), b.float()
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.skipif(not fast._bf16_kernels(), reason="oneDNN has no bf16 kernels on this CPU")
def test_bf16_weights_run_the_fast_kernels_in_bf16(small_encoder, monkeypatch):
    bf16 = TinyViT(**SMALL).eval()
    bf16.load_state_dict(small_encoder.state_dict())
    bf16 = bf16.to(torch.bfloat16)
    x = _input(1, 160, 224, seed=14)
    ran = []
    inner = fast._encode
    monkeypatch.setattr(fast, "_encode", lambda enc, prep, xx, *a: ran.append(xx.dtype) or inner(enc, prep, xx, *a))
    with torch.no_grad():
        assert fast.supports(bf16, x) and fast.supports(bf16, x.to(torch.bfloat16))
        got = fast.encode(bf16, x)  # a float32 input: cast in once, the embedding back in float32
        got_b = fast.encode(bf16, x.to(torch.bfloat16))
    assert ran == [torch.bfloat16, torch.bfloat16]
    assert got.dtype == torch.float32 and got_b.dtype == torch.bfloat16
    assert torch.equal(got, got_b.float())
    # the folded convolutions are folded in float32, then stored in bf16
    conv = bf16.layers[0].blocks[0].conv1
    w32, _ = small_encoder.layers[0].blocks[0].conv1.fused_weight_and_bias()
    assert fast.prepared(bf16).convs[conv].weight.dtype == torch.bfloat16
    assert _rel(fast.prepared(bf16).convs[conv].weight, w32) < 4e-3
    # as close to the float32 encoder as the plain module in bf16 is (3.6e-2 relative L2 on
    # these random weights; not equal: it is bf16), and close to that plain bf16 result
    want32 = _plain(small_encoder, x)
    plain_b = _plain(bf16, x.to(torch.bfloat16))
    assert 0 < _rel(got, want32) < 5e-2 and _rel(plain_b, want32) < 5e-2
    assert _rel(got, want32) <= 1.5 * _rel(plain_b, want32)
    assert _rel(got, plain_b) < 5e-2
    # where oneDNN has no bf16 kernels, bf16 weights take the plain module
    monkeypatch.setattr(fast, "_bf16_kernels", lambda: False)
    with torch.no_grad():
        assert not fast.supports(bf16, x) and fast.supports(small_encoder, x)


def test_other_dtypes_and_autograd_run_the_plain_module(small_encoder, monkeypatch):
    x = _input(1, 96, 96, seed=13)
    calls = []
    monkeypatch.setattr(fast, "_encode", lambda *a, **k: calls.append(1))
    f64 = TinyViT(**SMALL).eval()
    f64.load_state_dict(small_encoder.state_dict())
    f64 = f64.to(torch.float64)
    assert not fast.supports(f64, x.double()) and not fast.supports(f64, x)
    with torch.no_grad():
        out = fast.encode(f64, x.double())
    assert out.dtype == torch.float64 and torch.equal(out, _plain(f64, x.double()))
    mixed = TinyViT(**SMALL).eval().to(torch.bfloat16)
    mixed.neck[0].float()  # one layer left in float32: not one dtype
    bf16 = TinyViT(**SMALL).eval().to(torch.bfloat16)
    with torch.no_grad():
        assert fast.weights_dtype(mixed) is None and not fast.supports(mixed, x)
        assert not fast.supports(bf16, x.half())  # an input neither float32 nor the weights' dtype
        monkeypatch.setattr(fast, "_bf16_kernels", lambda: True)
        assert fast.supports(bf16, x)
        monkeypatch.setattr(fast, "_bf16_kernels", lambda: False)  # AVX2 alone: PyTorch would emulate bf16
        assert not fast.supports(bf16, x)
    with torch.enable_grad():
        x.requires_grad_(True)
        assert not fast.supports(small_encoder, x)
        y = fast.encode(small_encoder, x)
        assert y.requires_grad  # the plain module ran, with autograd
    assert calls == []


def test_cancel_stops_the_fast_encoder(small_encoder):
    polls = []

    def cancel():
        polls.append(1)
        return len(polls) >= 4

    with pytest.raises(Cancelled), torch.no_grad():
        fast.encode(small_encoder, _input(1, 96, 96, seed=14), cancel=cancel)
    assert len(polls) == 4


def test_compute_path_sends_tiny_vit_to_the_fast_encoder_only_on_the_fast_path(small_encoder, monkeypatch):
    from samlabel.sam import compute_path

    class Model:
        image_encoder = small_encoder

    x = _input(1, 96, 96, seed=15)
    seen = []
    real = fast.encode
    monkeypatch.setattr(fast, "encode", lambda enc, xx, cancel=None: seen.append(enc) or real(enc, xx, cancel))
    with torch.no_grad():
        fast_out = compute_path.encode_image(Model(), x, path="fast")
        assert seen == [small_encoder]
        plain_out = compute_path.encode_image(Model(), x, path="plain")
    assert seen == [small_encoder]
    assert (fast_out - plain_out).abs().max().item() <= ATOL
