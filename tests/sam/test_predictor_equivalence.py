"""SamPredictor against the reference segment_anything.SamPredictor on the same random weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from segment_anything import SamPredictor as RefPredictor

from samlabel.sam.predictor import SamPredictor

SIZES = [(600, 900), (1000, 400)]


@pytest.fixture(scope="module", params=SIZES, ids=["600x900", "1000x400"])
def predictors(request, small_pair, make_image, compute_path):
    ref_model, our_model = small_pair
    h, w = request.param
    image = make_image(h, w, seed=h)
    ref, ours = RefPredictor(ref_model), SamPredictor(our_model, path=compute_path)
    ref.set_image(image)
    ours.set_image(image)
    return ref, ours, (h, w)


def _compare(ref_out, our_out, what):
    (rm, rs, rl), (om, os_, ol) = ref_out, our_out
    assert om.shape == rm.shape and os_.shape == rs.shape and ol.shape == rl.shape, what
    assert np.abs(os_ - rs).max() <= 1e-4, f"{what}: scores differ by {np.abs(os_ - rs).max()}"
    assert np.abs(ol - rl).max() <= 1e-3, f"{what}: low-res logits differ by {np.abs(ol - rl).max()}"
    if rm.dtype == np.bool_:
        assert om.dtype == np.bool_
        frac = (om != rm).mean()
        assert frac <= 1e-3, f"{what}: {frac:.4%} of mask pixels differ"
    else:
        assert np.abs(om - rm).max() <= 1e-3, what


def test_embeddings_match(predictors):
    ref, ours, size = predictors
    assert ours.original_size == tuple(ref.original_size) == size
    assert ours.input_size == tuple(ref.input_size)
    diff = (ours.get_image_embedding() - ref.get_image_embedding()).abs().max().item()
    assert diff <= 1e-4


@pytest.mark.parametrize("multimask", [True, False])
def test_predict_matches_reference_for_all_prompt_kinds(predictors, multimask):
    ref, ours, (h, w) = predictors
    cases = {
        "single point": dict(point_coords=np.array([[w * 0.4, h * 0.3]]), point_labels=np.array([1])),
        "multiple points": dict(
            point_coords=np.array([[w * 0.2, h * 0.2], [w * 0.7, h * 0.6], [w * 0.5, h * 0.9]]),
            point_labels=np.array([1, 1, 0]),
        ),
        "box": dict(box=np.array([w * 0.1, h * 0.2, w * 0.6, h * 0.7])),
        "box+points": dict(
            point_coords=np.array([[w * 0.3, h * 0.4], [w * 0.5, h * 0.5]]),
            point_labels=np.array([1, 0]),
            box=np.array([w * 0.1, h * 0.2, w * 0.6, h * 0.7]),
        ),
    }
    nontrivial = 0
    for name, kw in cases.items():
        r = ref.predict(multimask_output=multimask, **kw)
        nontrivial += int(0.001 < r[0].mean() < 0.999)
        o = ours.predict(multimask_output=multimask, **kw)
        assert o[0].shape == (3 if multimask else 1, h, w)
        _compare(r, o, f"{name}, multimask={multimask}")
    assert nontrivial >= 2, "random weights gave only empty/full masks: the comparison would be vacuous"
    # previous logits fed back as mask_input
    kw = cases["single point"]
    r_prev = ref.predict(multimask_output=True, **kw)
    best = int(np.argmax(r_prev[1]))
    mask_input = r_prev[2][best][None]
    r = ref.predict(mask_input=mask_input, multimask_output=multimask, **cases["multiple points"])
    o = ours.predict(mask_input=mask_input, multimask_output=multimask, **cases["multiple points"])
    _compare(r, o, f"mask_input, multimask={multimask}")
    r = ref.predict(return_logits=True, multimask_output=multimask, **kw)
    o = ours.predict(return_logits=True, multimask_output=multimask, **kw)
    _compare(r, o, "return_logits")


def test_predict_torch_several_boxes_and_point_sets(predictors):
    ref, ours, (h, w) = predictors
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.3, 0.2, 0.9, 0.8], [0.0, 0.5, 0.4, 1.0]]) * [w, h, w, h]
    rb = ref.transform.apply_boxes_torch(torch.as_tensor(boxes, dtype=torch.float), (h, w))
    ob = ours.transform.scale_boxes(torch.as_tensor(boxes, dtype=torch.float), (h, w))
    assert torch.equal(rb, ob)
    r = [t.numpy() for t in ref.predict_torch(None, None, boxes=rb, multimask_output=False)]
    o = [t.numpy() for t in ours.predict_torch(None, None, boxes=ob, multimask_output=False)]
    assert o[0].shape == (3, 1, h, w)
    _compare(r, o, "predict_torch boxes")
    pts = torch.as_tensor(np.array([[[w * 0.2, h * 0.2]], [[w * 0.6, h * 0.5]]]), dtype=torch.float)
    pts = ours.transform.scale_points(pts, (h, w))
    labels = torch.ones(2, 1, dtype=torch.int)
    r = [t.numpy() for t in ref.predict_torch(pts, labels, multimask_output=True)]
    o = [t.numpy() for t in ours.predict_torch(pts, labels, multimask_output=True)]
    assert o[0].shape == (2, 3, h, w)
    _compare(r, o, "predict_torch point sets")


@pytest.mark.slow
def test_predict_matches_reference_with_vit_b_width_encoder(vitb2_pair, make_image, compute_path):
    """vit_b widths (768, 12 heads) with 2 blocks, one global: the encoder path end to end."""
    ref_model, our_model = vitb2_pair
    image = make_image(600, 900, seed=5)
    ref, ours = RefPredictor(ref_model), SamPredictor(our_model, path=compute_path)
    ref.set_image(image)
    ours.set_image(image)
    assert (ours.features - ref.features).abs().max().item() <= 1e-4
    kw = dict(point_coords=np.array([[400.0, 250.0]]), point_labels=np.array([1]))
    _compare(ref.predict(**kw), ours.predict(**kw), "vit_b width, one point")
