"""SAM 2 through samlabel's shared APIs (``SamPredictor``, ``ImageEmbedding``, ``DecoderSession``,
``SamAutomaticMaskGenerator``) against Meta's ``sam2`` (``SAM2ImagePredictor``,
``SAM2AutomaticMaskGenerator``) on the small random model of the conftest.

The same tolerances as the issue's: embedding and high-resolution features 1e-4, low-res
logits 1e-3, scores 1e-4, masks differing in at most 0.1 % of the pixels; generator masks
matched 1:1 at IoU >= 0.99. Both compute paths run (``compute_path`` fixture).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from samlabel.sam.automatic_mask_generator import SAM2AutomaticMaskGenerator, SamAutomaticMaskGenerator
from samlabel.sam.embedding import FORMAT_VERSION, ImageEmbedding, compute_embedding
from samlabel.sam.errors import EmbeddingError
from samlabel.sam.interactive import DecoderSession, Prompt
from samlabel.sam.predictor import SamPredictor

EMB_TOL = 1e-4
LOGIT_TOL = 1e-3
SCORE_TOL = 1e-4
MASK_FRACTION = 1e-3
H, W = 360, 480


def _prompts(h: int, w: int) -> dict:
    return {
        "point": dict(point_coords=np.array([[0.55 * w, 0.4 * h]]), point_labels=np.array([1])),
        "points": dict(point_coords=np.array([[0.3 * w, 0.3 * h], [0.6 * w, 0.7 * h], [0.8 * w, 0.2 * h]]),
                       point_labels=np.array([1, 1, 0])),
        "box": dict(box=np.array([0.1 * w, 0.2 * h, 0.7 * w, 0.9 * h])),
        "points+box": dict(point_coords=np.array([[0.4 * w, 0.5 * h], [0.65 * w, 0.3 * h]]),
                           point_labels=np.array([1, 0]), box=np.array([0.2 * w, 0.1 * h, 0.8 * w, 0.8 * h])),
    }


@pytest.fixture(scope="module")
def image(sam2_helpers):
    return sam2_helpers.smooth_image(H, W, seed=21)


@pytest.fixture(scope="module")
def reference(small_pair, sam2_helpers, image):
    ref, _, _ = small_pair
    rp = sam2_helpers.reference_predictor(ref)
    rp.set_image(image)
    return rp


@pytest.fixture(scope="module")
def embedding(small_pair, image):
    return compute_embedding(small_pair[1], image)


@pytest.fixture
def predictor(small_pair, embedding, compute_path):
    p = SamPredictor(small_pair[1], path=compute_path)
    p.set_embedding(embedding)
    return p


def _assert_close(r, o, what, logits=False):
    """``r`` from ``SAM2ImagePredictor`` (masks as float 0/1), ``o`` from ``SamPredictor``
    (SAM 1's API: bool masks, float logits with ``return_logits``)."""
    r_masks, r_scores, r_logits = r
    o_masks, o_scores, o_logits = o
    if not logits:
        assert set(np.unique(r_masks)) <= {0.0, 1.0}
        r_masks = r_masks.astype(bool)
    assert o_masks.shape == r_masks.shape and o_masks.dtype == r_masks.dtype, what
    np.testing.assert_allclose(o_logits, r_logits, atol=LOGIT_TOL, rtol=0, err_msg=what)
    np.testing.assert_allclose(o_scores, r_scores, atol=SCORE_TOL, rtol=0, err_msg=what)
    if r_masks.dtype == bool:
        assert (o_masks != r_masks).mean() <= MASK_FRACTION, what
    else:
        np.testing.assert_allclose(o_masks, r_masks, atol=LOGIT_TOL, rtol=0, err_msg=what)


def test_embedding_carries_high_res_features(embedding, reference):
    feats = reference._features
    assert embedding.input_size == (1024, 1024) and embedding.original_size == (H, W)
    np.testing.assert_allclose(embedding.features, feats["image_embed"], atol=EMB_TOL, rtol=0)
    assert len(embedding.high_res_features) == 2
    for ours, ref in zip(embedding.high_res_features, feats["high_res_feats"]):
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, atol=EMB_TOL, rtol=0)


@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize("prompt", ["point", "points", "box", "points+box"])
def test_sam_predictor_equals_reference(predictor, reference, prompt, multimask):
    kw = _prompts(H, W)[prompt]
    r = reference.predict(multimask_output=multimask, **kw)
    o = predictor.predict(multimask_output=multimask, **kw)
    _assert_close(r, o, f"{prompt} multimask={multimask}")
    assert o[2].max() <= 32.0 and o[2].min() >= -32.0  # the reference clamps its low-res logits
    # the previous call's logits fed back, as a click-refine loop does
    r2 = reference.predict(mask_input=r[2][np.argmax(r[1])][None], multimask_output=multimask, **kw)
    o2 = predictor.predict(mask_input=o[2][np.argmax(o[1])][None], multimask_output=multimask, **kw)
    _assert_close(r2, o2, f"{prompt} + mask_input")


def test_return_logits_equal(predictor, reference):
    kw = _prompts(H, W)["points"]
    r = reference.predict(return_logits=True, **kw)
    o = predictor.predict(return_logits=True, **kw)
    assert o[0].dtype == np.float32
    _assert_close(r, o, "return_logits", logits=True)


def test_predict_torch_batched_boxes(predictor, reference):
    boxes = np.array([[20, 30, 200, 250], [150, 40, 460, 330], [0, 0, 479, 359]], dtype=np.float32)
    r_masks, r_scores, r_low = reference.predict(box=boxes, multimask_output=True)
    tb = predictor.transform.apply_boxes_torch(torch.as_tensor(boxes), (H, W))
    masks, scores, low = predictor.predict_torch(None, None, boxes=tb, multimask_output=True)
    assert masks.shape == (3, 3, H, W)
    np.testing.assert_allclose(low.numpy(), r_low, atol=LOGIT_TOL, rtol=0)
    np.testing.assert_allclose(scores.numpy(), r_scores, atol=SCORE_TOL, rtol=0)
    assert masks.dtype == torch.bool
    assert (masks.numpy() != r_masks.astype(bool)).mean() <= MASK_FRACTION


def test_region_mask_equals_crop_of_full_mask(small_pair, embedding):
    session = DecoderSession(small_pair[1], embedding)
    pred = session.decode(Prompt(points=[[240, 170]], labels=[1]))
    assert pred.stretched
    full = pred.logits_for(1)
    region = pred.logits_for(1, region=(100, 50, 300, 200))
    np.testing.assert_allclose(region, full[50:200, 100:300], atol=1e-4, rtol=0)
    small = pred.mask(1, region=(0, 0, W, H), out_size=(H // 2, W // 2))
    assert small.shape == (H // 2, W // 2)
    assert (small != (full > 0)[1::2, 1::2]).mean() <= MASK_FRACTION
    # the hover preview (image_only) reads the whole grid: SAM 2 has no padding
    assert session.image_window() == (256, 256)


def test_embedding_file_round_trip_and_refusals(small_pair, embedding, tmp_path, sam2_helpers):
    path = tmp_path / "e.safetensors"
    embedding.save(path)
    loaded = ImageEmbedding.load(path, expected_model_id=small_pair[1].model_id)
    assert FORMAT_VERSION == 2 and len(loaded.high_res_features) == 2
    for a, b in zip(loaded.high_res_features, embedding.high_res_features):
        assert torch.equal(a, b)
    # a decode from the loaded embedding equals one from the original
    a = DecoderSession(small_pair[1], loaded).decode(Prompt(points=[[100, 100]], labels=[1]))
    b = DecoderSession(small_pair[1], embedding).decode(Prompt(points=[[100, 100]], labels=[1]))
    np.testing.assert_array_equal(a.logits, b.logits)
    with pytest.raises(EmbeddingError, match="not by the current model"):
        ImageEmbedding.load(path, expected_model_id="vit_t:0123456789abcdef")
    # an embedding without SAM 2's maps (e.g. written for a SAM 1 model) is refused clearly
    bare = ImageEmbedding(embedding.features, embedding.original_size, embedding.input_size, embedding.model_id)
    with pytest.raises(ValueError, match="high-resolution feature maps"):
        DecoderSession(small_pair[1], bare)


@pytest.fixture(scope="module")
def tiny_model():
    """A random SAM 1 model of the smallest registered config."""
    from samlabel.sam.build import build_sam

    return build_sam("test_tiny")


def test_sam1_embedding_refused_by_sam2_model(small_pair, tiny_model, image):
    emb = compute_embedding(tiny_model, image)
    assert emb.high_res_features == ()
    with pytest.raises(EmbeddingError, match="not by the current model"):
        SamPredictor(small_pair[1]).set_embedding(emb)


def test_set_torch_image_equals_set_image(small_pair, image, embedding):
    import torch.nn.functional as F

    p = SamPredictor(small_pair[1])
    x = torch.as_tensor(image).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, (1024, 1024), mode="bilinear", align_corners=False, antialias=True)
    p.set_torch_image(x, (H, W))
    np.testing.assert_allclose(p.features, embedding.features, atol=EMB_TOL, rtol=0)


def test_preprocess_masks_covers_the_whole_grid(predictor):
    """A full-size mask maps onto SAM 2's stretched 256 x 256 grid (no padding, per-axis scale)."""
    yy, xx = np.mgrid[0:H, 0:W]
    ellipse = ((xx - 300) / 120.0) ** 2 + ((yy - 200) / 90.0) ** 2 <= 1.0
    back = predictor.preprocess_masks(ellipse)
    assert back.shape == (1, 256, 256)
    gy, gx = (np.mgrid[0:256, 0:256] + 0.5) * np.array([H / 256, W / 256])[:, None, None]
    expected = ((gx - 300) / 120.0) ** 2 + ((gy - 200) / 90.0) ** 2 <= 1.0
    assert ((back[0].numpy() > 0) != expected).mean() < 0.01
    assert (back[0, -1].numpy() != 0).all()  # the last row is image, not zero padding as in SAM 1


def _match(ref_masks: np.ndarray, our_masks: np.ndarray) -> np.ndarray:
    """Best IoU of each reference mask with any of ours."""
    r = ref_masks.reshape(len(ref_masks), -1).astype(np.float32)
    o = our_masks.reshape(len(our_masks), -1).astype(np.float32)
    inter = r @ o.T
    union = r.sum(1)[:, None] + o.sum(1)[None] - inter
    return (inter / np.maximum(union, 1)).max(1)


@pytest.mark.parametrize("extra", [{}, {"use_m2m": True}, {"multimask_output": False}],
                         ids=["default", "m2m", "single"])
def test_generator_equals_reference(small_pair, image, extra, compute_path):
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator as Ref

    ref, ours, _ = small_pair
    # NMS off and no filters: every candidate is compared, not only the few a random model keeps
    kw = dict(points_per_side=3, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = Ref(ref, **kw).generate(image)
    o = SAM2AutomaticMaskGenerator(ours, path=compute_path, **kw).generate(image)
    assert len(o) == len(r) > 0
    rm = np.stack([a["segmentation"] for a in r])
    om = np.stack([a["segmentation"] for a in o])
    assert _match(rm, om).min() >= 0.99 and _match(om, rm).min() >= 0.99
    np.testing.assert_allclose(sorted(a["predicted_iou"] for a in o), sorted(a["predicted_iou"] for a in r),
                               atol=SCORE_TOL, rtol=0)


def test_generator_defaults_follow_the_family(small_pair, tiny_model):
    assert SamAutomaticMaskGenerator(small_pair[1]).pred_iou_thresh == 0.8
    assert SamAutomaticMaskGenerator(tiny_model).pred_iou_thresh == 0.88
    g = SAM2AutomaticMaskGenerator(small_pair[1])
    assert (g.pred_iou_thresh, g.mask_threshold, g.use_m2m, g.multimask_output) == (0.8, 0.0, False, True)
