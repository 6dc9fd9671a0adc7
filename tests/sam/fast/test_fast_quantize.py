"""samlabel.sam.fast.quantize on a small ViT encoder: what is replaced, and how far int8 deviates."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from samlabel.sam.modeling.sam1.image_encoder import ImageEncoderViT
from samlabel.sam.fast.quantize import is_quantized, quantize_encoder

# Documented bound (docs/performance.md): relative L2 deviation of int8 embeddings from fp32.
# Measured ~1e-2 on small random encoders; full vit_b is reported by benchmarks/bench_speed.py.
INT8_REL_L2_BOUND = 0.05


class _TinySam(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image_encoder = ImageEncoderViT(
            img_size=128, patch_size=16, embed_dim=64, depth=2, num_heads=4, out_chans=32,
            use_rel_pos=True, window_size=3, global_attn_indexes=(1,),  # 8x8 grid: windows pad
        )
        self.model_id = "tiny:abc"


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = _TinySam().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "pos" in name:
                p.normal_(0, 0.02)
    return model


def test_int8_replaces_every_linear_and_tags_the_model_id(tiny):
    n_linear = sum(isinstance(m, nn.Linear) for m in tiny.image_encoder.modules())
    q = quantize_encoder(copy.deepcopy(tiny))
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    assert n_linear == 2 * 4  # qkv, proj, lin1, lin2 per block
    assert sum(isinstance(m, DynamicLinear) for m in q.image_encoder.modules()) == n_linear
    assert not any(type(m) is nn.Linear for m in q.image_encoder.modules())
    assert q.model_id == "tiny:abc+int8"
    assert is_quantized(q) and not is_quantized(tiny)
    # quantising twice changes nothing
    assert quantize_encoder(q).model_id == "tiny:abc+int8"


def test_int8_embedding_deviation_is_within_the_documented_bound(tiny):
    q = quantize_encoder(copy.deepcopy(tiny))
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        ref = tiny.image_encoder(x)
        out = q.image_encoder(x)
    rel = ((out - ref).norm() / ref.norm()).item()
    assert out.shape == ref.shape == (2, 32, 8, 8)
    assert 0 < rel < INT8_REL_L2_BOUND  # changed (really quantised), but only slightly


def test_int8_encoder_keeps_the_cancel_argument(tiny):
    from samlabel.sam.errors import Cancelled

    q = quantize_encoder(copy.deepcopy(tiny))
    with pytest.raises(Cancelled), torch.no_grad():
        q.image_encoder(torch.randn(1, 3, 128, 128), cancel=lambda: True)


def test_fp32_mode_is_a_no_op_and_bad_modes_are_refused(tiny):
    assert quantize_encoder(tiny, "fp32") is tiny and not is_quantized(tiny)
    with pytest.raises(ValueError, match="int4"):
        quantize_encoder(copy.deepcopy(tiny), "int4")
    with pytest.raises(ValueError, match="image_encoder"):
        quantize_encoder(nn.Linear(2, 2))
