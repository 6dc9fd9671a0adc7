"""Full-size MobileSAM (``vit_t``): samlabel matches the official code given identical weights.

The reference (``mobile_sam``) state dict goes through samlabel's loader. One 1024x1024 input
is encoded by both encoders (about a second each); prompts are then decoded by the reference
``prompt_encoder``/``mask_decoder`` and by samlabel's, through the official module API and
through samlabel's per-image fast path; finally both ``SamPredictor`` classes run end to end
on a non-square image.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samlabel.sam.compute_path import decoder_for

pytestmark = [pytest.mark.slow, pytest.mark.reference]

EMB_TOL, LOGIT_TOL, IOU_TOL = 1e-4, 1e-3, 1e-4


def test_every_reference_weight_is_loaded(mobilesam_pair):
    ref, ours, *_ = mobilesam_pair
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert set(our_sd) == set(ref_sd)
    for key, value in ref_sd.items():
        assert torch.equal(our_sd[key], value), key
    assert ours.model_id.startswith("vit_t:") and "random" not in ours.model_id


def test_image_embeddings_match(mobilesam_pair):
    *_, ref_emb, our_emb = mobilesam_pair
    assert our_emb.shape == ref_emb.shape == (1, 256, 64, 64)
    assert our_emb.abs().mean() > 0.1  # random weights still give a non-trivial embedding
    assert (ref_emb - our_emb).abs().max().item() <= EMB_TOL


@pytest.fixture(scope="module")
def prompt_cases(mobilesam_pair):
    """Prompts in the 1024 input frame; ``mask_input`` is a reference low-res output."""
    ref, _ours, _image, _x, ref_emb, _our_emb = mobilesam_pair
    pts1 = torch.tensor([[[412.3, 501.7]]])
    lbl1 = torch.tensor([[1]])
    pts4 = torch.tensor([[[100.0, 120.0], [640.5, 300.2], [900.0, 880.0], [20.0, 1000.0]]])
    lbl4 = torch.tensor([[1, 0, 1, 0]])
    box = torch.tensor([[150.0, 200.0, 700.5, 810.0]])
    prev, _ = _decode_modules(ref, ref_emb, dict(point_coords=pts1, point_labels=lbl1), False)
    return {
        "point": dict(point_coords=pts1, point_labels=lbl1),
        "points": dict(point_coords=pts4, point_labels=lbl4),
        "box": dict(boxes=box),
        "box_and_points": dict(point_coords=pts4[:, :2], point_labels=lbl4[:, :2], boxes=box),
        "mask_input_and_points": dict(point_coords=pts4[:, :2], point_labels=lbl4[:, :2], mask_input=prev),
        "mask_input": dict(mask_input=prev),
    }


CASES = ["point", "points", "box", "box_and_points", "mask_input_and_points", "mask_input"]


def _decode_modules(model, emb, prompt, multimask):
    """Official module-level decoding: prompt_encoder then mask_decoder."""
    points = (prompt["point_coords"], prompt["point_labels"]) if "point_coords" in prompt else None
    with torch.no_grad():
        sparse, dense = model.prompt_encoder(points=points, boxes=prompt.get("boxes"), masks=prompt.get("mask_input"))
        return model.mask_decoder(
            image_embeddings=emb,
            image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
        )


def _assert_close(logits, iou, ref_logits, ref_iou, k):
    assert logits.shape == ref_logits.shape and logits.shape[1:] == (k, 256, 256)
    assert iou.shape == ref_iou.shape == (logits.shape[0], k)
    assert (logits - ref_logits).abs().max().item() <= LOGIT_TOL
    assert (iou - ref_iou).abs().max().item() <= IOU_TOL


@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize("case", CASES)
def test_decoding_matches_reference(mobilesam_pair, prompt_cases, compute_path, case, multimask):
    """The official module API, and the per-image decoder of each path (plain and fast)."""
    ref, ours, _image, _x, ref_emb, our_emb = mobilesam_pair
    prompt = prompt_cases[case]
    k = 3 if multimask else 1
    ref_logits, ref_iou = _decode_modules(ref, ref_emb, prompt, multimask)
    assert ref_logits.std() > 0.01  # the decoder output is not degenerate
    logits, iou = _decode_modules(ours, our_emb, prompt, multimask)
    _assert_close(logits, iou, ref_logits, ref_iou, k)
    decoder = decoder_for(ours, compute_path)
    logits, iou = decoder.decode(decoder.prepare(our_emb), multimask_output=multimask, **prompt)
    _assert_close(logits, iou, ref_logits, ref_iou, k)


def test_end_to_end_forward_matches_reference(mobilesam_pair, prompt_cases):
    """``Sam.forward`` of both models, encoders included, on a box plus points."""
    ref, ours, image, _x, _ref_emb, _our_emb = mobilesam_pair
    record = {"image": image, "original_size": (1024, 1024), **prompt_cases["box_and_points"]}
    with torch.no_grad():
        (r,) = ref([record], multimask_output=True)
        (o,) = ours([record], multimask_output=True)
    _assert_close(o["low_res_logits"], o["iou_predictions"], r["low_res_logits"], r["iou_predictions"], 3)
    assert o["masks"].shape == r["masks"].shape == (1, 3, 1024, 1024)
    assert (o["masks"] != r["masks"]).float().mean().item() <= 1e-3


# --------------------------------------------------------------------------- predictor
@pytest.fixture(scope="module")
def predictors(mobilesam_pair, make_smooth_image, compute_path):
    """Reference and samlabel ``SamPredictor`` with the same weights, on a 600x900 image."""
    from mobile_sam import SamPredictor as RefPredictor

    from samlabel.sam.predictor import SamPredictor

    ref_model, our_model, *_ = mobilesam_pair
    image = make_smooth_image(600, 900, seed=7).permute(1, 2, 0).round().to(torch.uint8).numpy()
    ref, ours = RefPredictor(ref_model), SamPredictor(our_model, path=compute_path)
    ref.set_image(image)
    ours.set_image(image)
    return ref, ours, image.shape[:2]


def _compare_predictions(ref_out, our_out, what):
    (rm, rs, rl), (om, os_, ol) = ref_out, our_out
    assert om.shape == rm.shape and os_.shape == rs.shape and ol.shape == rl.shape, what
    assert np.abs(os_ - rs).max() <= IOU_TOL, f"{what}: scores differ by {np.abs(os_ - rs).max()}"
    assert np.abs(ol - rl).max() <= LOGIT_TOL, f"{what}: low-res logits differ by {np.abs(ol - rl).max()}"
    assert om.dtype == rm.dtype == np.bool_, what
    assert (om != rm).mean() <= 1e-3, f"{what}: {(om != rm).mean():.4%} of mask pixels differ"


def test_predictor_embeddings_match(predictors):
    ref, ours, size = predictors
    assert ours.original_size == tuple(ref.original_size) == size
    assert ours.input_size == tuple(ref.input_size)
    assert (ours.get_image_embedding() - ref.get_image_embedding()).abs().max().item() <= EMB_TOL


@pytest.mark.parametrize("multimask", [True, False])
def test_predictor_matches_reference_for_every_prompt_kind(predictors, multimask):
    ref, ours, (h, w) = predictors
    box = np.array([w * 0.1, h * 0.2, w * 0.6, h * 0.7])
    cases = {
        "point": dict(point_coords=np.array([[w * 0.4, h * 0.3]]), point_labels=np.array([1])),
        "points": dict(
            point_coords=np.array([[w * 0.2, h * 0.2], [w * 0.7, h * 0.6], [w * 0.5, h * 0.9]]),
            point_labels=np.array([1, 1, 0]),
        ),
        "box": dict(box=box),
        "box+points": dict(point_coords=np.array([[w * 0.3, h * 0.4], [w * 0.5, h * 0.5]]),
                           point_labels=np.array([1, 0]), box=box),
    }
    nontrivial = 0
    for name, kw in cases.items():
        r = ref.predict(multimask_output=multimask, **kw)
        o = ours.predict(multimask_output=multimask, **kw)
        assert o[0].shape == (3 if multimask else 1, h, w)
        _compare_predictions(r, o, f"{name}, multimask={multimask}")
        nontrivial += int(0.001 < r[0].mean() < 0.999)
    assert nontrivial >= 1, "random weights gave only empty/full masks: the comparison would be vacuous"
    # the previous low-res logits fed back as mask_input
    r_prev = ref.predict(multimask_output=True, **cases["point"])
    mask_input = r_prev[2][int(np.argmax(r_prev[1]))][None]
    r = ref.predict(mask_input=mask_input, multimask_output=multimask, **cases["points"])
    o = ours.predict(mask_input=mask_input, multimask_output=multimask, **cases["points"])
    _compare_predictions(r, o, f"mask_input, multimask={multimask}")
