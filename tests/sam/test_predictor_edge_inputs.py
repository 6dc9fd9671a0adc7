"""Bad or extreme predictor inputs found in review: each either works sensibly or raises a
ValueError that names what was expected (never NaN masks, a silent misreading, or a torch error)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samlabel.sam.embedding import compute_embedding
from samlabel.sam.predictor import SamPredictor
from samlabel.sam.sam1.resizer import ImageResizer, longest_side_shape


@pytest.fixture(scope="module")
def predictor():
    from samlabel.sam import build_sam

    torch.manual_seed(0)
    p = SamPredictor(build_sam("test_tiny"))
    p.set_image(np.random.default_rng(3).integers(0, 256, (60, 90, 3), dtype=np.uint8))
    return p


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(box=np.array([np.nan, 1.0, 20.0, 30.0])), "box must be finite"),
        (dict(box=np.array([0.0, 1.0, np.inf, 30.0])), "box must be finite"),
        (dict(point_coords=np.array([[5.0, 5.0]]), point_labels=np.array([5])), "point_labels must be 1"),
        (dict(point_coords=np.array([[5.0, 5.0]]), point_labels=np.array([0.5])), "point_labels must be 1"),
        (dict(mask_input=np.full((1, 256, 256), np.nan, np.float32)), "mask_input must be finite"),
    ],
)
def test_non_finite_prompts_and_unknown_labels_are_refused(predictor, kwargs, match):
    with pytest.raises(ValueError, match=match):
        predictor.predict(**kwargs)


def test_inverted_box_means_the_same_box(predictor):
    _, s_ok, lg_ok = predictor.predict(box=np.array([10.0, 5.0, 70.0, 50.0]))
    _, s_inv, lg_inv = predictor.predict(box=np.array([70.0, 50.0, 10.0, 5.0]))
    _, s_half, lg_half = predictor.predict(box=np.array([70.0, 5.0, 10.0, 50.0]))
    for s, lg in ((s_inv, lg_inv), (s_half, lg_half)):
        np.testing.assert_array_equal(s, s_ok)
        np.testing.assert_array_equal(lg, lg_ok)


def test_points_outside_the_image_still_give_finite_masks(predictor):
    masks, scores, logits = predictor.predict(np.array([[-20.0, -5.0], [500.0, 900.0]]), np.array([1, 0]))
    assert masks.shape == (3, 60, 90) and np.isfinite(scores).all() and np.isfinite(logits).all()


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


def test_failed_set_image_does_not_leave_the_previous_image_set(predictor):
    p = SamPredictor(predictor.model)
    p.set_image(np.zeros((20, 30, 3), np.uint8))
    assert p.is_image_set
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        p.set_image(np.zeros((20, 30, 2), np.uint8))
    assert not p.is_image_set
    with pytest.raises(RuntimeError, match="set_image"):
        p.predict(np.array([[1.0, 1.0]]), np.array([1]))
    p.set_image(np.zeros((20, 30, 3), np.uint8))
    with pytest.raises(ValueError, match="transformed image"):
        p.set_torch_image(torch.zeros(1, 3, 10, 10), (20, 30))
    assert not p.is_image_set


def test_crop_layers_on_a_one_pixel_high_image_make_no_empty_crops(predictor):
    from samlabel.sam import SamAutomaticMaskGenerator
    from samlabel.sam.amg_utils import generate_crop_boxes

    boxes, layers = generate_crop_boxes((1, 4000), 1, 512 / 1500)
    assert boxes[0] == [0, 0, 4000, 1] and len(boxes) == len(layers) == 3
    assert all(x1 > x0 and y1 > y0 for x0, y0, x1, y1 in boxes)
    # normal sizes keep the full (2**i)**2 crops per layer
    assert len(generate_crop_boxes((600, 900), 2, 512 / 1500)[0]) == 1 + 4 + 16
    gen = SamAutomaticMaskGenerator(predictor.model, points_per_side=4, crop_n_layers=1,
                                    pred_iou_thresh=0.0, stability_score_thresh=0.0)
    records = gen.generate(np.random.default_rng(0).integers(0, 256, (1, 4000, 3), dtype=np.uint8))
    assert all(r["segmentation"].shape == (1, 4000) for r in records)
