"""Bad or extreme predictor inputs found in review: each either works sensibly or raises a
ValueError that names what was expected (never NaN masks, a silent misreading, or a torch error)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samlabel.sam.embedding import compute_embedding
from samlabel.sam.predictor import SamPredictor
from samlabel.sam.resizer import ImageResizer, longest_side_shape


@pytest.fixture(scope="module")
def predictor():
    from samlabel.sam import build_sam

    torch.manual_seed(0)
    p = SamPredictor(build_sam("test_tiny"))
    p.set_image(np.random.default_rng(3).integers(0, 256, (60, 90, 3), dtype=np.uint8))
    return p


@pytest.mark.parametrize("shape", [(1, 4000), (4000, 1), (2, 3000)])
def test_extreme_aspect_ratio_images_are_embedded_and_predicted(predictor, shape):
    h, w = shape
    assert min(longest_side_shape(h, w, 1024)) >= 1  # used to round to 0 and fail in the resize
    img = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    emb = compute_embedding(predictor.model, img)
    p = SamPredictor(predictor.model)
    p.set_embedding(emb)
    masks, scores, logits = p.predict(np.array([[w - 1.0, h - 1.0]]), np.array([1]))
    assert masks.shape == (3, h, w) and np.isfinite(logits).all()
    mask_in = p.preprocess_masks(masks[0])
    assert tuple(mask_in.shape) == (1, 256, 256)
    up = ImageResizer(1024).postprocess_mask(logits, original_size=(h, w))
    assert up.shape == (3, h, w)
