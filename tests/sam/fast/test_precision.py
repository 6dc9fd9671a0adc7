"""samlabel.sam.fast.precision: bf16 / int8 / auto image encoders on small models.

The bf16 numeric tests need a CPU with native bf16 (AVX512-BF16 or AMX; ARM bf16) and are
skipped elsewhere with that reason; the refusal, ``auto`` and int8 tests run everywhere.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import samlabel.sam.fast.precision as precision
from samlabel.sam import SamPredictor
from samlabel.sam.compute_path import encode_image
from samlabel.sam.embedding import ImageEmbedding, compute_embedding
from samlabel.sam.errors import Cancelled, EmbeddingError
from samlabel.sam.fast.precision import (PrecisionUnavailableError, encoder_precision, resolve_precision,
                                         set_encoder_precision)
from samlabel.sam.fast.quantize import is_quantized, quantize_encoder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_models import TinyVitHolder, noise_image  # noqa: E402

# Relative L2 deviation of a bf16 embedding from the fp32 one on these small random models
# (measured 0.8-1.3e-2; bf16 keeps 8 mantissa bits, 2**-9 = 2e-3 per rounding, accumulated
# over the blocks). Full-size models: benchmarks/bench_precision.py, docs/performance.md.
BF16_REL_L2_BOUND = 0.03

NATIVE_BF16, NATIVE_REASON = precision.native_bf16()
needs_bf16 = pytest.mark.skipif(not NATIVE_BF16, reason=f"no native bf16 on this CPU: {NATIVE_REASON}")


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


# ----------------------------------------------------------------------------- bf16 numerics
@needs_bf16
@pytest.mark.parametrize("path", ["fast", "plain"])
def test_bf16_vit_embedding_is_fp32_close_and_tagged(tiny_sam, path):
    image = noise_image()
    ref = compute_embedding(tiny_sam, image, path=path)
    model = set_encoder_precision(copy.deepcopy(tiny_sam), "bf16")
    emb = compute_embedding(model, image, path=path)
    assert emb.features.dtype == torch.float32 and emb.features.shape == ref.features.shape
    assert 0 < _rel(emb.features, ref.features) < BF16_REL_L2_BOUND  # really bf16, and close
    assert emb.model_id == tiny_sam.model_id + "+bf16" == model.model_id
    assert encoder_precision(model) == "bf16" and encoder_precision(tiny_sam) == "fp32"
    blocks = model.image_encoder.blocks
    assert blocks[0].attn.qkv.weight.dtype == torch.bfloat16  # stored in bf16, not autocast
    # the decoder side stays fp32
    assert all(p.dtype == torch.float32 for p in model.mask_decoder.parameters())


@needs_bf16
def test_bf16_tinyvit_both_paths():
    torch.manual_seed(0)
    holder = TinyVitHolder().eval()
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        ref = holder.image_encoder(x)
        model = set_encoder_precision(copy.deepcopy(holder), "bf16")
        for path in ("fast", "plain"):
            out = encode_image(model, x, path=path)
            assert out.dtype == torch.float32 and out.shape == ref.shape
            assert 0 < _rel(out, ref) < BF16_REL_L2_BOUND
    assert model.model_id == "tinyvit:abc+bf16"


@needs_bf16
@pytest.mark.parametrize("path", ["fast", "plain"])
def test_bf16_sam2_embedding_and_high_res_maps_are_fp32_close(small_sam2, path):
    image = noise_image(96, 128)
    ref = compute_embedding(small_sam2, image, path=path)
    model = set_encoder_precision(copy.deepcopy(small_sam2), "bf16")
    emb = compute_embedding(model, image, path=path)
    assert model.image_encoder.trunk.blocks[0].attn.qkv.weight.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.image_encoder.neck.parameters())  # neck stays fp32
    assert len(emb.high_res_features) == len(ref.high_res_features) == 2
    for got, want in zip((emb.features, *emb.high_res_features), (ref.features, *ref.high_res_features)):
        assert got.dtype == torch.float32 and got.shape == want.shape
        assert 0 < _rel(got, want) < BF16_REL_L2_BOUND
    assert emb.model_id.endswith("+bf16")


@needs_bf16
def test_bf16_masks_agree_with_fp32(tiny_sam):
    image = noise_image()
    fp32, bf16 = SamPredictor(tiny_sam), SamPredictor(set_encoder_precision(copy.deepcopy(tiny_sam), "bf16"))
    fp32.set_image(image)
    bf16.set_image(image)
    rng = np.random.default_rng(3)
    ious = []
    for _ in range(20):
        pt = np.array([[rng.uniform(0, 159), rng.uniform(0, 119)]])
        m0, _, _ = fp32.predict(pt, np.array([1]))
        m1, _, _ = bf16.predict(pt, np.array([1]))
        for a, b in zip(m0, m1):
            union = np.count_nonzero(a | b)
            ious.append(1.0 if union == 0 else np.count_nonzero(a & b) / union)
    assert np.median(ious) > 0.97 and min(ious) > 0.8


@needs_bf16
def test_bf16_encoder_keeps_the_cancel_argument(tiny_sam):
    model = set_encoder_precision(copy.deepcopy(tiny_sam), "bf16")
    x = torch.randn(1, 3, 1024, 1024)
    for path in ("fast", "plain"):
        with pytest.raises(Cancelled), torch.no_grad():
            encode_image(model, x, cancel=lambda: True, path=path)


@needs_bf16
def test_a_bf16_embedding_is_refused_by_the_fp32_model_and_back(tiny_sam, tmp_path):
    image = noise_image()
    bf16 = set_encoder_precision(copy.deepcopy(tiny_sam), "bf16")
    emb = compute_embedding(bf16, image)
    with pytest.raises(EmbeddingError, match=r"\+bf16"):
        SamPredictor(tiny_sam).set_embedding(emb)
    with pytest.raises(EmbeddingError):
        SamPredictor(bf16).set_embedding(compute_embedding(tiny_sam, image))
    path = Path(tmp_path) / "e.safetensors"
    emb.save(path)
    with pytest.raises(EmbeddingError, match="recompute"):
        ImageEmbedding.load(path, expected_model_id=tiny_sam.model_id)
    assert ImageEmbedding.load(path, expected_model_id=bf16.model_id).features.dtype == torch.float32
    SamPredictor(bf16).set_embedding(emb)  # its own model takes it


@needs_bf16
def test_quantize_encoder_bf16_and_auto_go_through_set_encoder_precision(tiny_sam):
    assert encoder_precision(quantize_encoder(copy.deepcopy(tiny_sam), "bf16")) == "bf16"
    auto = quantize_encoder(copy.deepcopy(tiny_sam), "auto")
    assert encoder_precision(auto) == "bf16" and auto.model_id.endswith("+bf16")


# ----------------------------------------------------------------------------- everywhere
def test_bf16_is_refused_clearly_without_native_bf16(tiny_sam, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda: (False, "this CPU (AVX2) lacks AVX512-BF16 and AMX"))
    model = copy.deepcopy(tiny_sam)
    with pytest.raises(PrecisionUnavailableError, match="needs native bf16.*AVX512-BF16.*'int8' or 'auto'"):
        set_encoder_precision(model, "bf16")
    assert encoder_precision(model) == "fp32" and model.model_id == tiny_sam.model_id  # untouched
    assert model.image_encoder.blocks[0].attn.qkv.weight.dtype == torch.float32


def test_auto_is_bf16_where_native_else_int8(tiny_sam, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda: (False, "no"))
    assert resolve_precision("auto") == "int8"
    model = set_encoder_precision(copy.deepcopy(tiny_sam), "auto")
    assert is_quantized(model) and encoder_precision(model) == "int8" and model.model_id.endswith("+int8")
    monkeypatch.setattr(precision, "native_bf16", lambda: (True, "yes"))
    assert resolve_precision("auto") == "bf16"
    with pytest.raises(ValueError, match="one of"):
        resolve_precision("fp16")


def test_native_bf16_agrees_with_the_cpu_flags():
    flags = precision._cpu_flags()
    ok, reason = precision.native_bf16()
    if not flags:
        pytest.skip("no /proc/cpuinfo flags to compare with")
    import platform

    if platform.machine().lower() in ("x86_64", "amd64"):
        assert ok == bool({"avx512_bf16", "amx_bf16"} & flags), reason
    assert reason


def test_int8_still_works_and_precisions_do_not_mix(tiny_sam, monkeypatch):
    image = noise_image()
    ref = compute_embedding(tiny_sam, image)
    q = set_encoder_precision(copy.deepcopy(tiny_sam), "int8")
    emb = compute_embedding(q, image)
    assert is_quantized(q) and emb.model_id == tiny_sam.model_id + "+int8"
    assert emb.features.dtype == torch.float32 and 0 < _rel(emb.features, ref.features) < 0.05
    assert set_encoder_precision(q, "int8") is q and q.model_id.count("+int8") == 1  # twice: no-op
    with pytest.raises(ValueError, match="already runs in int8"):
        set_encoder_precision(q, "bf16")
    with pytest.raises(ValueError, match="already runs in int8"):
        set_encoder_precision(q, "fp32")
    assert set_encoder_precision(tiny_sam, "fp32") is tiny_sam and encoder_precision(tiny_sam) == "fp32"
    with pytest.raises(ValueError, match="image_encoder"):
        set_encoder_precision(nn.Linear(2, 2), "int8")


@needs_bf16
def test_bf16_cannot_be_requantised(tiny_sam):
    b = set_encoder_precision(copy.deepcopy(tiny_sam), "bf16")
    assert set_encoder_precision(b, "bf16") is b and b.model_id.count("+bf16") == 1
    with pytest.raises(ValueError, match="already runs in bf16"):
        set_encoder_precision(b, "int8")
    with pytest.raises(ValueError, match="already runs in bf16"):
        quantize_encoder(b, "int8")


def test_int8_sam2_runs_on_the_fast_path(small_sam2):
    """The fast Hiera trunk calls int8 dynamic linears (their weight/bias are methods): its
    embedding is quantised (away from fp32) as much as the plain int8 model's, and nearer to that.

    Not "within 1e-4 of the plain int8 model": each product quantises its input per tensor, so a
    float rounding difference of 1e-7 upstream (the fast path's fused ops) moves some activation
    across a quantisation step, and random weights amplify it. Measured on an AVX2-only CPU: the
    plain int8 model's own embedding moved by 1.3 % for an input scaled by 1 + 1e-6 (fast against
    plain: 1.4 %, both 2.95 % from fp32); AVX-512 CPUs gave < 1e-4."""
    image = noise_image(96, 128)
    q = set_encoder_precision(copy.deepcopy(small_sam2), "int8")
    fast = compute_embedding(q, image, path="fast")
    plain = compute_embedding(q, image, path="plain")
    f32 = compute_embedding(small_sam2, image, path="plain")
    assert fast.model_id.endswith("+int8")
    off = _rel(plain.features, f32.features)
    assert 1e-3 < _rel(fast.features, f32.features) <= 1.25 * off  # really int8, and no worse
    assert _rel(fast.features, plain.features) < off
    for a, b, c in zip(fast.high_res_features, plain.high_res_features, f32.high_res_features):
        assert _rel(a, c) <= 1.25 * _rel(b, c) + 1e-4 and _rel(a, b) < max(_rel(b, c), 1e-4)
