"""TinyViT encoder pieces that need no full-size run: config, cancellation, offsets, BN folding."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from samlabel.sam.config import get_config
from samlabel.sam.errors import Cancelled
from samlabel.sam.modeling.sam1.tiny_vit import TinyViT
from samlabel.sam.modeling.sam1.tiny_vit_blocks import Conv2d_BN, relative_offset_index

TINY_CFG = get_config("vit_t").encoder


def _reference_attention(window_size: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mobile_sam.modeling.tiny_vit_sam import Attention

    dim = 32
    return Attention(dim, dim // 2, num_heads=2, attn_ratio=1, resolution=(window_size, window_size))


@pytest.mark.parametrize("window_size", [7, 14])
def test_relative_offset_table_matches_the_official_numbering(window_size):
    ref = _reference_attention(window_size)
    ours = relative_offset_index(window_size)
    assert torch.equal(ours, ref.attention_bias_idxs)
    assert int(ours.max()) + 1 == ref.attention_biases.shape[1]


def test_from_config_builds_the_official_architecture():
    enc = TinyViT.from_config(TINY_CFG)
    assert enc.img_size == 1024 and enc.output_stride == 16
    assert len(enc.layers) == 4
    assert [len(layer.blocks) for layer in enc.layers] == [2, 2, 6, 2]
    n_params = sum(p.numel() for name, p in enc.named_parameters() if not name.startswith(("head", "norm_head")))
    assert 5.0e6 < n_params < 6.0e6  # "TinyViT-5M"


def test_from_config_refuses_training_only_settings_and_bad_strides():
    with pytest.raises(ValueError, match="drop_path_rate"):
        TinyViT.from_config(dataclasses.replace(TINY_CFG, drop_path_rate=0.1))
    with pytest.raises(ValueError, match="patch_size"):
        TinyViT.from_config(dataclasses.replace(TINY_CFG, patch_size=32))
    with pytest.raises(ValueError, match="one entry per stage"):
        TinyViT.from_config(dataclasses.replace(TINY_CFG, num_heads=(2, 4, 5)))


class _CancelAfter:
    """A cancel flag that turns True on its ``n``-th poll."""

    def __init__(self, n: int) -> None:
        self.n, self.polls = n, 0

    def __call__(self) -> bool:
        self.polls += 1
        return self.polls >= self.n


def test_cancel_flag_stops_the_encoder_between_blocks():
    enc = TinyViT.from_config(TINY_CFG).eval()
    x = torch.zeros(1, 3, 1024, 1024)
    total_blocks = sum(TINY_CFG.depths)
    cancel = _CancelAfter(3)  # polled before the stem, then before each block
    with torch.no_grad(), pytest.raises(Cancelled):
        enc(x, cancel=cancel)
    assert cancel.polls == 3 < total_blocks


def test_cancel_flag_is_polled_before_every_block():
    # A small encoder (64x64 input) keeps this cheap; the polls are what is counted.
    enc = TinyViT(img_size=64, embed_dims=(8, 16, 16, 32), num_heads=(1, 2, 2, 4), out_chans=16).eval()
    cancel = _CancelAfter(10**9)
    with torch.no_grad():
        out = enc(torch.zeros(1, 3, 64, 64), cancel=cancel)
    assert out.shape == (1, 16, 4, 4)
    assert cancel.polls == sum(TINY_CFG.depths) + 2  # stem, every block, neck


def test_cancelled_embedding_through_the_model_layer():
    from samlabel.sam import build_sam
    from samlabel.sam.embedding import compute_embedding

    model = build_sam("vit_t")
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    with pytest.raises(Cancelled):
        compute_embedding(model, image, cancel=lambda: True)


def test_folded_batch_norm_equals_conv_then_batch_norm():
    torch.manual_seed(0)
    layer = Conv2d_BN(6, 6, kernel_size=3, stride=2, padding=1, groups=3)
    with torch.no_grad():
        layer.bn.weight.uniform_(0.5, 1.5)
        layer.bn.bias.normal_()
        layer.bn.running_mean.normal_()
        layer.bn.running_var.uniform_(0.5, 1.5)
    layer.eval()
    x = torch.randn(2, 6, 9, 9)
    with torch.no_grad():
        expected = layer.bn(layer.c(x))
        assert torch.allclose(layer(x), expected, atol=1e-5)
