"""The mask tokens' hypernetwork MLPs as one batched product per layer (fast.stacked_mlp.StackedMLP)
give what the MLPs give one by one, and the decoder uses them."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from samlabel.sam.build import build_sam
from samlabel.sam.fast.stacked_mlp import StackedMLP
from samlabel.sam.modeling.common import MLP
from samlabel.sam.fast.decoder import FastDecoder


def _mlps(n=4, seed=0):
    torch.manual_seed(seed)
    return [MLP(32, 32, 4, 3) for _ in range(n)]


@pytest.mark.parametrize("first,count", [(0, 4), (1, 3), (0, 1), (2, 1)])
@pytest.mark.parametrize("batch", [1, 3])
def test_stack_equals_the_mlps_one_by_one(first, count, batch):
    mlps = _mlps()
    stack = StackedMLP.of(mlps)
    torch.manual_seed(1)
    x = torch.randn(batch, count, 32)
    with torch.no_grad():
        expected = torch.stack([mlps[first + j](x[:, j]) for j in range(count)], dim=1)
        got = stack(x, first=first)
    assert got.shape == (batch, count, 4)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_no_stack_for_unlike_mlps():
    assert StackedMLP.of([]) is None
    assert StackedMLP.of([MLP(32, 32, 4, 3), MLP(32, 16, 4, 3)]) is None
    assert StackedMLP.of([MLP(32, 32, 4, 3), MLP(32, 32, 4, 3, sigmoid_output=True)]) is None


@pytest.mark.parametrize("multimask", [True, False])
def test_decoder_uses_the_stack_and_gets_the_same_masks(monkeypatch, multimask):
    model = build_sam("test_tiny")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    ctx = FastDecoder(model).prepare(torch.randn(1, 32, 64, 64))
    assert isinstance(ctx.hypernetworks, StackedMLP)
    calls = []
    real = StackedMLP.__call__
    monkeypatch.setattr(StackedMLP, "__call__", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    pts, labels = torch.tensor([[[300.0, 200.0], [500.0, 700.0]]]), torch.tensor([[1, 0]])
    masks, iou = FastDecoder(model).decode(ctx, pts, labels, multimask_output=multimask)
    assert calls
    plain_masks, plain_iou = FastDecoder(model).decode(dataclasses.replace(ctx, hypernetworks=None), pts, labels,
                                                  multimask_output=multimask)
    assert len(calls) == 1  # the plain context took the per-MLP path
    torch.testing.assert_close(masks, plain_masks, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(iou, plain_iou, rtol=1e-5, atol=1e-6)
