"""SAM 2 image model and predictor against Meta's ``sam2`` on a small random model.

The reference is the ``sam2.1_hiera_t`` YAML shrunk by hydra overrides (see conftest), with
random weights saved as an official checkpoint and loaded into ours. Every comparison is
with the reference's own outputs on the same image and prompts.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from samlabel.sam.sam2.image_predictor import SAM2ImagePredictor

EMB_TOL = 1e-4
LOGIT_TOL = 1e-3
SCORE_TOL = 1e-4
MASK_FRACTION = 1e-3  # at most 0.1 % of the pixels may differ

SHAPES = {"4:3": (480, 640), "16:9": (360, 640)}


def _prompts(h: int, w: int) -> dict:
    """Prompt sets in pixels of an ``(h, w)`` image."""
    return {
        "point": dict(point_coords=np.array([[0.55 * w, 0.4 * h]]), point_labels=np.array([1])),
        "points": dict(point_coords=np.array([[0.3 * w, 0.3 * h], [0.6 * w, 0.7 * h], [0.8 * w, 0.2 * h]]),
                       point_labels=np.array([1, 1, 0])),
        "box": dict(box=np.array([0.1 * w, 0.2 * h, 0.7 * w, 0.9 * h])),
        "points+box": dict(point_coords=np.array([[0.4 * w, 0.5 * h], [0.65 * w, 0.3 * h]]), point_labels=np.array([1, 0]),
                           box=np.array([0.2 * w, 0.1 * h, 0.8 * w, 0.8 * h])),
    }


@pytest.fixture(scope="module")
def predictors(small_pair, sam2_helpers, compute_path):
    """Per aspect ratio: (reference predictor, our predictor, image), both with the image set;
    ours embeds on each compute path (the fast Hiera encoder and the plain model)."""
    ref, ours, _ = small_pair
    out = {}
    for i, (key, (h, w)) in enumerate(SHAPES.items()):
        image = sam2_helpers.smooth_image(h, w, seed=10 + i)
        rp, op = sam2_helpers.reference_predictor(ref), SAM2ImagePredictor(ours, path=compute_path)
        assert op.path == compute_path
        rp.set_image(image)
        op.set_image(image)
        out[key] = (rp, op, image)
    return out


def _with_image_of(new, embedded):
    """``new`` predictor holding ``embedded``'s image and features (saves embedding it again)."""
    new._features, new._orig_hw, new._is_image_set = embedded._features, embedded._orig_hw, True
    return new


def _assert_outputs_equal(r, o, what=""):
    r_masks, r_scores, r_logits = r
    o_masks, o_scores, o_logits = o
    assert o_masks.shape == r_masks.shape and o_masks.dtype == r_masks.dtype, what
    assert o_scores.shape == r_scores.shape and o_logits.shape == r_logits.shape, what
    np.testing.assert_allclose(o_logits, r_logits, atol=LOGIT_TOL, rtol=0, err_msg=what)
    np.testing.assert_allclose(o_scores, r_scores, atol=SCORE_TOL, rtol=0, err_msg=what)
    if r_masks.dtype == bool or np.isin(r_masks, (0.0, 1.0)).all():  # masks (bool, or 0/1 floats): by pixels
        assert np.isin(o_masks, (0.0, 1.0)).all(), what
        assert (o_masks != r_masks).mean() <= MASK_FRACTION, what
    else:  # return_logits=True: the logits
        np.testing.assert_allclose(o_masks, r_masks, atol=LOGIT_TOL, rtol=0, err_msg=what)


def test_weights_loaded_equal(small_pair):
    ref, ours, _ = small_pair
    ref_sd = ref.state_dict()
    for k, v in ours.state_dict().items():
        assert torch.equal(v, ref_sd[k]), k


def test_video_only_keys_listed(small_pair):
    """Every reference key outside the image model is listed in ``ignored_keys``, and only those."""
    ref, ours, _ = small_pair
    image_parts = ("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed")
    video = sorted(k for k in ref.state_dict() if not k.startswith(image_parts))
    assert video and ours.ignored_keys == video
    assert {k.split(".")[0] for k in video} >= {"memory_attention", "memory_encoder", "maskmem_tpos_enc", "obj_ptr_proj"}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_transform_equals_reference(small_pair, sam2_helpers, shape):
    """Resize (bilinear, antialiased, aspect not kept) and normalisation equal torchvision's."""
    ref, ours, _ = small_pair
    h, w = SHAPES[shape]
    image = sam2_helpers.smooth_image(h, w, seed=3)
    rp, op = sam2_helpers.reference_predictor(ref), SAM2ImagePredictor(ours)
    for x in (image, Image.fromarray(image)):
        r = rp._transforms(x)
        o = op._transforms(x)
        assert o.shape == r.shape == (3, 1024, 1024)
        torch.testing.assert_close(o, r, atol=1e-5, rtol=0)
    big = sam2_helpers.smooth_image(1200, 1500, seed=4)  # a downscale, where antialiasing matters
    torch.testing.assert_close(op._transforms(big), rp._transforms(big), atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_image_features_equal(predictors, shape):
    rp, op, image = predictors[shape]
    assert op.orig_hw == rp._orig_hw == [image.shape[:2]]
    r, o = rp._features, op._features
    assert o["image_embed"].shape == r["image_embed"].shape == (1, 32, 64, 64)
    torch.testing.assert_close(o["image_embed"], r["image_embed"], atol=EMB_TOL, rtol=0)
    assert len(o["high_res_feats"]) == len(r["high_res_feats"]) == 2
    for a, b in zip(o["high_res_feats"], r["high_res_feats"]):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=EMB_TOL, rtol=0)
    torch.testing.assert_close(op.get_image_embedding(), rp.get_image_embedding(), atol=EMB_TOL, rtol=0)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("prompt", ["point", "points", "box", "points+box"])
@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize("normalize_coords", [True, False])
def test_predict_equal(predictors, shape, prompt, multimask, normalize_coords):
    rp, op, image = predictors[shape]
    h, w = image.shape[:2]
    kwargs = dict(_prompts(h, w)[prompt])
    if not normalize_coords:  # coordinates in [0, 1] of the image instead of pixels
        if "point_coords" in kwargs:
            kwargs["point_coords"] = kwargs["point_coords"] / np.array([w, h])
        if "box" in kwargs:
            kwargs["box"] = kwargs["box"] / np.array([w, h, w, h])
    kwargs.update(multimask_output=multimask, normalize_coords=normalize_coords)
    r = rp.predict(**kwargs)
    o = op.predict(**kwargs)
    assert r[0].shape == ((3 if multimask else 1), h, w)
    _assert_outputs_equal(r, o, f"{shape} {prompt} multimask={multimask} normalize={normalize_coords}")


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("multimask", [True, False])
def test_predict_with_previous_mask_input(predictors, shape, multimask):
    """The reference's low-res logits of a first call as ``mask_input`` of a second."""
    rp, op, image = predictors[shape]
    h, w = image.shape[:2]
    first = rp.predict(point_coords=np.array([[0.5 * w, 0.5 * h]]), point_labels=np.array([1]), multimask_output=True)
    mask_input = first[2][np.argmax(first[1])][None]  # (1, 256, 256)
    kwargs = dict(point_coords=np.array([[0.5 * w, 0.5 * h], [0.2 * w, 0.8 * h]]), point_labels=np.array([1, 0]),
                  mask_input=mask_input, multimask_output=multimask)
    _assert_outputs_equal(rp.predict(**kwargs), op.predict(**kwargs), f"{shape} mask_input")
    only_mask = dict(mask_input=mask_input, multimask_output=multimask)
    _assert_outputs_equal(rp.predict(**only_mask), op.predict(**only_mask), f"{shape} mask_input only")


def test_predict_return_logits_and_threshold(small_pair, predictors, sam2_helpers):
    rp, op, image = predictors["4:3"]
    kwargs = dict(point_coords=np.array([[200, 150]]), point_labels=np.array([1]), return_logits=True)
    _assert_outputs_equal(rp.predict(**kwargs), op.predict(**kwargs), "return_logits")
    ref, ours, _ = small_pair
    rp2 = _with_image_of(sam2_helpers.reference_predictor(ref, mask_threshold=2.5), rp)
    op2 = _with_image_of(SAM2ImagePredictor(ours, mask_threshold=2.5), op)
    kwargs = dict(point_coords=np.array([[200, 150]]), point_labels=np.array([1]))
    _assert_outputs_equal(rp2.predict(**kwargs), op2.predict(**kwargs), "mask_threshold")


def test_batched_prompts(predictors):
    """Several objects at once (``repeat_image``): points ``(B, N, 2)`` and boxes ``(B, 4)``."""
    rp, op, image = predictors["16:9"]
    kwargs = dict(point_coords=np.array([[[100, 100]], [[400, 200]], [[300, 300]]]), point_labels=np.array([[1], [1], [1]]),
                  box=np.array([[50, 50, 300, 250], [350, 100, 600, 340], [10, 10, 630, 350]]))
    for multimask in (True, False):
        r = rp.predict(**kwargs, multimask_output=multimask)
        o = op.predict(**kwargs, multimask_output=multimask)
        assert r[0].shape[0] == 3
        _assert_outputs_equal(r, o, f"batched multimask={multimask}")


def test_set_image_batch_and_predict_batch(small_pair, sam2_helpers, compute_path):
    ref, ours, _ = small_pair
    images = [sam2_helpers.smooth_image(480, 640, seed=21), sam2_helpers.smooth_image(360, 640, seed=22)]
    rp, op = sam2_helpers.reference_predictor(ref), SAM2ImagePredictor(ours, path=compute_path)
    rp.set_image_batch(images)
    op.set_image_batch(images)
    torch.testing.assert_close(op._features["image_embed"], rp._features["image_embed"], atol=EMB_TOL, rtol=0)
    for a, b in zip(op._features["high_res_feats"], rp._features["high_res_feats"]):
        torch.testing.assert_close(a, b, atol=EMB_TOL, rtol=0)
    kwargs = dict(point_coords_batch=[np.array([[100, 120]]), np.array([[300, 200], [50, 60]])],
                  point_labels_batch=[np.array([1]), np.array([1, 0])],
                  box_batch=[None, np.array([20, 30, 500, 300])])
    r = rp.predict_batch(**{k: v for k, v in kwargs.items() if k != "box_batch"}, multimask_output=True)
    o = op.predict_batch(**{k: v for k, v in kwargs.items() if k != "box_batch"}, multimask_output=True)
    for i in range(2):
        _assert_outputs_equal((r[0][i], r[1][i], r[2][i]), (o[0][i], o[1][i], o[2][i]), f"batch image {i}")


def test_dynamic_multimask_fallback(small_pair, predictors):
    """Single-mask output: token 0's mask when stable, else the best multimask output. A
    threshold above 1 makes every single mask "unstable" (fallback always), one below 0
    makes every mask "stable" (never); both paths are compared, and must differ."""
    ref, ours, _ = small_pair
    rp, op, image = predictors["4:3"]
    kwargs = dict(point_coords=np.array([[300, 200]]), point_labels=np.array([1]), multimask_output=False)
    old = ref.sam_mask_decoder.dynamic_multimask_stability_thresh
    assert ours.sam_mask_decoder.dynamic_multimask_stability_thresh == old == 0.98
    results = {}
    try:
        for thresh in (1.01, -1.0):
            ref.sam_mask_decoder.dynamic_multimask_stability_thresh = thresh
            ours.sam_mask_decoder.dynamic_multimask_stability_thresh = thresh
            results[thresh] = (rp.predict(**kwargs), op.predict(**kwargs))
    finally:
        ref.sam_mask_decoder.dynamic_multimask_stability_thresh = old
        ours.sam_mask_decoder.dynamic_multimask_stability_thresh = old
    assert not np.array_equal(results[1.01][0][2], results[-1.0][0][2]), "both paths chose the same mask"
    for thresh, (r, o) in results.items():
        _assert_outputs_equal(r, o, f"stability threshold {thresh}")


def test_stability_selection_on_crafted_logits(small_pair):
    """The stability score and selection on logits where some masks are stable and some not."""
    ref, ours, _ = small_pair
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(6, 4, 32, 32, generator=g) * 3
    logits[::2, 0] = logits[::2, 0].sign() * 5  # far from 0: stable
    logits[1::2, 0] = torch.rand(3, 32, 32, generator=g) * 0.2 - 0.1  # within +-delta: unstable
    ious = torch.rand(6, 4, generator=g)
    rm, ri = ref.sam_mask_decoder._dynamic_multimask_via_stability(logits, ious)
    om, oi = ours.sam_mask_decoder._dynamic_multimask_via_stability(logits, ious)
    assert torch.equal(om, rm) and torch.equal(oi, ri)
    torch.testing.assert_close(ours.sam_mask_decoder._get_stability_scores(logits),
                               ref.sam_mask_decoder._get_stability_scores(logits), atol=0, rtol=0)


def test_decoder_outputs_tokens_and_object_scores(small_pair):
    """The decoder's four outputs (masks, IoU, SAM tokens, object-score logits) equal the reference's."""
    ref, ours, _ = small_pair
    g = torch.Generator().manual_seed(7)
    emb = torch.randn(1, 32, 64, 64, generator=g)
    feats = [torch.randn(1, 4, 256, 256, generator=g), torch.randn(1, 8, 128, 128, generator=g)]
    points = (torch.rand(2, 3, 2, generator=g) * 1024, torch.tensor([[1, 0, 2], [3, 1, -1]], dtype=torch.int))
    mask = torch.randn(2, 1, 256, 256, generator=g)
    with torch.no_grad():
        for multimask in (True, False):
            outs = []
            for model in (ref, ours):
                sparse, dense = model.sam_prompt_encoder(points=points, boxes=None, masks=mask)
                outs.append(model.sam_mask_decoder(emb, model.sam_prompt_encoder.get_dense_pe(), sparse, dense,
                                                   multimask_output=multimask, repeat_image=True, high_res_features=feats))
            for r, o in zip(*outs):
                torch.testing.assert_close(o, r, atol=1e-4, rtol=0)


def test_hole_and_sprinkle_removal(small_pair, sam2_helpers, predictors, monkeypatch):
    """``max_hole_area`` / ``max_sprinkle_area`` against the reference post-processing, whose
    CUDA connected-components kernel is replaced by scipy's 8-connected labelling (the
    reference skips the step on CPU otherwise)."""
    from scipy import ndimage
    import sam2.utils.misc as ref_misc

    def scipy_components(mask):
        m = mask.to(torch.uint8).numpy()
        labels = np.zeros(m.shape, np.int32)
        areas = np.zeros(m.shape, np.int32)
        for i in range(m.shape[0]):
            lab, n = ndimage.label(m[i, 0], structure=np.ones((3, 3)))
            sizes = np.bincount(lab.ravel(), minlength=n + 1)
            sizes[0] = 0
            labels[i, 0], areas[i, 0] = lab, sizes[lab]
        return torch.from_numpy(labels), torch.from_numpy(areas)

    monkeypatch.setattr(ref_misc, "get_connected_components", scipy_components)
    ref, ours, _ = small_pair
    g = torch.Generator().manual_seed(9)
    logits = torch.nn.functional.interpolate(torch.randn(2, 3, 16, 16, generator=g) * 4, size=(256, 256), mode="bilinear")
    logits = logits + (torch.rand(2, 3, 256, 256, generator=g) < 0.01).float() * 20 - 10 * (torch.rand(2, 3, 256, 256, generator=g) < 0.01).float()
    for hole, sprinkle in ((40, 0), (0, 25), (100, 60)):
        rp = sam2_helpers.reference_predictor(ref, max_hole_area=hole, max_sprinkle_area=sprinkle)
        op = SAM2ImagePredictor(ours, max_hole_area=hole, max_sprinkle_area=sprinkle)
        r = rp._transforms.postprocess_masks(logits, (300, 400))
        o = op._transforms.postprocess_masks(logits, (300, 400))
        torch.testing.assert_close(o, r, atol=1e-5, rtol=0)
    untouched = torch.nn.functional.interpolate(logits, (300, 400), mode="bilinear", align_corners=False)
    assert not torch.allclose(r, untouched), "post-processing changed nothing: the test would not see it"
    # End to end through predict.
    rp0, op0, _ = predictors["4:3"]
    rp = _with_image_of(sam2_helpers.reference_predictor(ref, max_hole_area=50, max_sprinkle_area=50), rp0)
    op = _with_image_of(SAM2ImagePredictor(ours, max_hole_area=50, max_sprinkle_area=50), op0)
    kwargs = dict(point_coords=np.array([[320, 240]]), point_labels=np.array([1]))
    _assert_outputs_equal(rp.predict(**kwargs), op.predict(**kwargs), "hole/sprinkle predict")


def test_the_default_path_is_the_fast_encoder(small_pair, monkeypatch):
    """Without path=, SAM2ImagePredictor embeds with the fast Hiera encoder (the environment
    variable chooses the plain one); a bad path is named."""
    import samlabel.sam.fast.hiera_encoder as fast_hiera

    _, ours, _ = small_pair
    calls = []
    real = fast_hiera.image_features
    monkeypatch.setattr(fast_hiera, "image_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    image = np.zeros((32, 48, 3), np.uint8)
    monkeypatch.delenv("SAMLABEL_COMPUTE_PATH", raising=False)
    SAM2ImagePredictor(ours).set_image(image)
    assert calls == [1]
    monkeypatch.setenv("SAMLABEL_COMPUTE_PATH", "plain")
    plain = SAM2ImagePredictor(ours)
    plain.set_image(image)
    assert plain.path == "plain" and calls == [1]
    with pytest.raises(ValueError, match="path= must be one of"):
        SAM2ImagePredictor(ours, path="quick")


def test_errors_before_set_image(small_pair):
    _, ours, _ = small_pair
    op = SAM2ImagePredictor(ours)
    with pytest.raises(RuntimeError, match="set_image"):
        op.predict(point_coords=np.array([[1, 1]]), point_labels=np.array([1]))
    with pytest.raises(RuntimeError, match="set_image"):
        op.get_image_embedding()
    op.set_image(np.zeros((20, 30, 3), np.uint8))
    op.reset_predictor()
    assert op.orig_hw is None and op._features is None
    with pytest.raises(RuntimeError):
        op.predict(point_coords=np.array([[1, 1]]), point_labels=np.array([1]))


def test_set_image_from_pil(small_pair, predictors):
    """A PIL image embeds like the same pixels as an array (the reference's, compared)."""
    _, ours, _ = small_pair
    rp, _, image = predictors["16:9"]
    op = SAM2ImagePredictor(ours)
    op.set_image(Image.fromarray(image))
    assert op.orig_hw == [image.shape[:2]]
    torch.testing.assert_close(op._features["image_embed"], rp._features["image_embed"], atol=EMB_TOL, rtol=0)
    kwargs = dict(point_coords=np.array([[320, 180]]), point_labels=np.array([1]))
    _assert_outputs_equal(rp.predict(**kwargs), op.predict(**kwargs), "PIL image")
