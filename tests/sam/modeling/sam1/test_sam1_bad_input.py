"""Wrong images and prompts raise ValueError saying what was expected."""

from __future__ import annotations

import pytest
import torch

from samlabel.sam import build_sam
from samlabel.sam.compute_path import decoder_for


@pytest.fixture(scope="module")
def model():
    return build_sam("test_tiny")


@pytest.fixture(scope="module")
def decoder(model, compute_path):
    return decoder_for(model, compute_path)


@pytest.fixture(scope="module")
def ctx(decoder):
    return decoder.prepare(torch.zeros(1, 32, 64, 64))


@pytest.mark.parametrize(
    "image,match",
    [
        (torch.zeros(3, 100, 100, dtype=torch.int32), "float or uint8"),
        (torch.zeros(3, 100, 100, dtype=torch.bool), "float or uint8"),
        (torch.zeros(100, 100), r"\(3, H, W\) torch tensor"),
        (torch.zeros(1, 3, 100, 100), r"\(3, H, W\) torch tensor"),
        (torch.zeros(4, 100, 100), "3 channels"),
        (torch.zeros(100, 100, 3), "3 channels"),
        (torch.zeros(3, 1100, 900), "longest side is at most 1024"),
        ([[0.0]], r"\(3, H, W\) torch tensor"),
    ],
)
def test_forward_rejects_bad_images(model, image, match):
    with pytest.raises(ValueError, match=match):
        model([{"image": image, "original_size": (100, 100)}], multimask_output=True)


def test_forward_rejects_bad_records(model):
    with pytest.raises(ValueError, match="non-empty list"):
        model([], multimask_output=True)
    with pytest.raises(ValueError, match="'image' and 'original_size'"):
        model([{"image": torch.zeros(3, 8, 8)}], multimask_output=True)


@pytest.mark.parametrize(
    "x,match",
    [
        (torch.zeros(3, 1024, 1024), r"\(B, 3, S, S\) tensor"),
        (torch.zeros(1, 3, 1024, 1024, dtype=torch.uint8), "floating point"),
        (torch.zeros(1, 1, 1024, 1024), "3 channels"),
        (torch.zeros(1, 3, 1000, 1000), "1024x1024"),
    ],
)
def test_encoder_rejects_bad_input(model, x, match):
    with pytest.raises(ValueError, match=match):
        model.image_encoder(x)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(point_coords=torch.zeros(1, 2)), "need point_labels"),
        (dict(point_labels=torch.ones(1, 1)), "without point_coords"),
        (dict(point_coords=torch.zeros(2, 2), point_labels=torch.ones(2)), r"point_coords must have shape \(B, N, 2\)"),
        (dict(point_coords=torch.zeros(1, 2, 3), point_labels=torch.ones(1, 2)), r"point_coords must have shape \(B, N, 2\)"),
        (dict(point_coords=torch.zeros(1, 2, 2), point_labels=torch.ones(1, 3)), r"point_labels must have shape \(B, N\) = \(1, 2\)"),
        (dict(point_coords=[[[1.0, 2.0]]], point_labels=torch.ones(1, 1)), "must be a torch tensor"),
        (dict(point_coords=torch.zeros(1, 1, 2, dtype=torch.bool), point_labels=torch.ones(1, 1)), "real-valued"),
        (dict(boxes=torch.zeros(4)), r"boxes must have shape \(B, 4\)"),
        (dict(boxes=torch.zeros(1, 5)), r"boxes must have shape \(B, 4\)"),
        (dict(point_coords=torch.zeros(2, 1, 2), point_labels=torch.ones(2, 1), boxes=torch.zeros(3, 4)), "boxes have batch 3"),
        (dict(mask_input=torch.zeros(1, 256, 256)), r"mask_input must have shape \(B, 1, 256, 256\)"),
        (dict(mask_input=torch.zeros(1, 1, 64, 64)), r"mask_input must have shape \(B, 1, 256, 256\)"),
        (dict(point_coords=torch.zeros(2, 1, 2), point_labels=torch.ones(2, 1), mask_input=torch.zeros(3, 1, 256, 256)), "mask_input has batch 3"),
    ],
)
def test_decoder_rejects_bad_prompts(decoder, ctx, kwargs, match):
    with pytest.raises(ValueError, match=match):
        decoder.decode(ctx, **kwargs)


def test_forward_rejects_bad_prompt_shapes(model):
    record = {"image": torch.zeros(3, 64, 64), "original_size": (64, 64), "boxes": torch.zeros(1, 3)}
    with pytest.raises(ValueError, match=r"boxes must have shape \(B, 4\)"):
        model([record], multimask_output=False)


@pytest.mark.parametrize("emb", [torch.zeros(1, 16, 64, 64), torch.zeros(2, 32, 64, 64), torch.zeros(1, 32, 32, 32), "x"])
def test_decoder_prepare_rejects_bad_embeddings(decoder, emb):
    with pytest.raises(ValueError, match=r"image_embeddings must have shape \(1, 32, 64, 64\)"):
        decoder.prepare(emb)


def test_valid_prompt_variants_are_accepted(decoder, ctx):
    """Integer coordinates, (B, 1, 4) boxes and a prompt of only a mask all work."""
    logits, iou = decoder.decode(ctx, torch.tensor([[[10, 20]]]), torch.tensor([[1]]), torch.tensor([[[0, 0, 50, 50]]]))
    assert logits.shape == (1, 3, 256, 256) and iou.shape == (1, 3)
    logits, _ = decoder.decode(ctx, mask_input=torch.zeros(2, 1, 256, 256), multimask_output=False)
    assert logits.shape == (2, 1, 256, 256)
    logits, _ = decoder.decode(ctx)  # no prompt at all: one empty prompt, as the official model
    assert logits.shape == (1, 3, 256, 256)
