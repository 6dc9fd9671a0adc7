"""The tfimm-style adapter: config mapping, the model against ``Sam.forward``, the predictor
against samlabel's ``SamPredictor`` on the same prompts, and ``ImageResizer`` round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samlabel.sam.build import build_sam
from samlabel.sam.compat.tfimm import ImageResizer, SAMPredictor, SegmentAnythingModel, SegmentAnythingModelConfig
from samlabel.sam.config import get_config
from samlabel.sam.predictor import SamPredictor
from samlabel.sam.sam1.resizer import ImageResizer as SamResizer

TINY = SegmentAnythingModelConfig(
    name="tiny", encoder_embed_dim=32, encoder_nb_blocks=2, encoder_nb_heads=2, encoder_global_attn_indices=(1,),
    embed_dim=32, prompt_mask_hidden_dim=8, decoder_nb_heads=2, decoder_mlp_channels=64, decoder_iou_hidden_dim=32,
)


@pytest.fixture(scope="module")
def sam():
    torch.manual_seed(0)
    model = build_sam(TINY.to_sam_config())
    with torch.no_grad():  # weights large enough for logits of a few units
        for name, p in model.named_parameters():
            base = 1.0 if "norm" in name and name.endswith("weight") else 0.0
            p.copy_(base + 0.25 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def image():
    h, w = 301, 457
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(xx / 37.0), np.cos(yy / 23.0), np.sin((xx + yy) / 51.0)], -1)
    return (127.5 + 100 * base).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def predictors(sam, image):
    """``(tfimm-style predictor, samlabel SamPredictor)`` on the same model and image."""
    ours = SAMPredictor(SegmentAnythingModel.from_sam(sam))
    ours.set_image(image)
    ref = SamPredictor(sam)
    ref.set_image(image)
    return ours, ref


# ---------------------------------------------------------------------- config
def test_config_names_map_onto_samlabel_configs():
    for tfimm_name, ours in (("sam_vit_b", "vit_b"), ("sam_vit_l", "vit_l"), ("sam_vit_h", "vit_h")):
        cfg = SegmentAnythingModelConfig.from_name(tfimm_name)
        native, official = cfg.to_sam_config(), get_config(ours)
        assert native.encoder == official.encoder and native.decoder == official.decoder
        assert native.pixel_mean == pytest.approx(official.pixel_mean) and native.pixel_std == pytest.approx(official.pixel_std)
        assert cfg.url == official.checkpoint_url
    assert SegmentAnythingModelConfig.from_name("sam_vit_l").encoder_global_attn_indices == (5, 11, 17, 23)
    native = TINY.replace(encoder_norm_layer="layer_norm", mask_threshold=0.5, nb_multimask_outputs=4).to_sam_config()
    assert native.encoder.norm_eps == 1e-5 and native.mask_threshold == 0.5 and native.nb_multimask_outputs == 4
    assert (native.encoder.embed_dim, native.encoder.depth, native.decoder.mlp_dim) == (32, 2, 64)
    for bad, match in (({"input_size": (1024, 768)}, "square"), ({"encoder_act_layer": "relu"}, "gelu"),
                       ({"encoder_norm_layer": "batch_norm"}, "encoder_norm_layer")):
        with pytest.raises(ValueError, match=match):
            TINY.replace(**bad).to_sam_config()
    with pytest.raises(ValueError, match="sam_vit_b"):
        SegmentAnythingModelConfig.from_name("sam_vit_t")


# ---------------------------------------------------------------------- model
def test_model_geometry_and_dummy_inputs(sam):
    model = SegmentAnythingModel.from_sam(sam)
    assert model.grid_size() == (64, 64) and model.mask_size() == (256, 256)
    assert model.grid_size((512, 768)) == (32, 48) and model.mask_size((512, 768)) == (128, 192)
    assert model.mask_threshold == 0.0
    dummy = model.dummy_inputs
    assert dummy["images"].shape == (1, 1024, 1024, 3) and dummy["masks"].shape == (1, 1, 256, 256)
    with pytest.raises(ValueError, match="images must be"):
        model({"images": np.zeros((1, 3, 1024, 1024), np.float32)})
    with pytest.raises(ValueError, match="at most one box"):
        model({**dummy, "boxes": np.zeros((1, 2, 4), np.float32)})
    with pytest.raises(ValueError, match="unknown input keys"):
        model({**dummy, "point_coords": dummy["points"]})
    with pytest.raises(ValueError, match="training"):
        model(dummy, training=True)


@pytest.mark.slow
def test_model_call_equals_sam_forward(sam, image):
    """Two images, points + box + mask prompts, against the reference-shaped ``Sam.forward``."""
    model = SegmentAnythingModel.from_sam(sam)
    resizer = SamResizer(1024)
    pixels = [torch.as_tensor(resizer.scale_image(im)).permute(2, 0, 1).float() for im in (image, image[::-1, ::2])]
    pixels = [torch.nn.functional.pad(p, (0, 1024 - p.shape[2], 0, 1024 - p.shape[1])) for p in pixels]
    normalised = torch.stack([sam.preprocess(p) for p in pixels]).permute(0, 2, 3, 1).numpy()
    points = np.array([[[300.0, 200.0], [50.0, 400.0]], [[100.0, 100.0], [400.0, 300.0]]], np.float32)
    labels = np.array([[1, 0], [1, 1]])
    boxes = np.array([[[100.0, 50.0, 600.0, 500.0]], [[10.0, 20.0, 300.0, 700.0]]], np.float32)
    gen = torch.Generator().manual_seed(0)
    masks = (torch.randn(2, 1, 256, 256, generator=gen) * 3).numpy()
    cases = ((2, True, {"points": points, "labels": labels, "boxes": boxes, "masks": masks}),
             (1, False, {"boxes": boxes[:1]}))
    for n, multimask, prompt in cases:
        out_masks, scores, logits = model({"images": normalised[:n], **prompt}, multimask_output=multimask,
                                          return_logits=True)
        batched = [{"image": p, "original_size": (1024, 1024)} for p in pixels[:n]]
        for i, record in enumerate(batched):
            if "points" in prompt:
                record.update(point_coords=torch.as_tensor(points[i : i + 1]), point_labels=torch.as_tensor(labels[i : i + 1]))
            if "boxes" in prompt:
                record["boxes"] = torch.as_tensor(boxes[i])
            if "masks" in prompt:
                record["mask_inputs"] = torch.as_tensor(masks[i : i + 1])
        ref = sam(batched, multimask_output=multimask, return_logits=True)
        k = 3 if multimask else 1
        assert out_masks.shape == (n, k, 1024, 1024) and scores.shape == (n, k) and logits.shape == (n, k, 256, 256)
        for i, r in enumerate(ref):
            d_score = np.abs(scores[i] - r["iou_predictions"][0].numpy()).max()
            d_logit = np.abs(logits[i] - r["low_res_logits"][0].numpy()).max()
            d_mask = np.abs(out_masks[i] - r["masks"][0].numpy()).max()
            print(f"\ntfimm model vs Sam.forward, image {i}, {sorted(prompt)}: scores {d_score:.2e}, "
                  f"logits {d_logit:.2e}, upscaled {d_mask:.2e}")
            assert d_score < 1e-4 and d_logit < 1e-3 and d_mask < 1e-3
    binary = model({"images": normalised[:1], "points": points[:1], "labels": labels[:1]})[0]
    assert binary.dtype == bool and binary.shape == (1, 1, 1024, 1024)


# ---------------------------------------------------------------------- predictor
PROMPTS = [
    {"points": np.array([[120.0, 80.0]]), "labels": np.array([1])},
    {"points": np.array([[120.0, 80.0], [300.0, 250.0]]), "labels": np.array([1, 0]), "multimask_output": False},
    {"boxes": np.array([[40.0, 30.0, 400.0, 280.0]])},
    {"boxes": np.array([[400.0, 280.0, 40.0, 30.0]]), "points": np.array([[200.0, 100.0]]), "labels": np.array([0])},
    {"points": np.array([[10.0, 290.0]]), "labels": np.array([1]), "return_logits": True},
]


def _ref_kwargs(prompt):
    out = {"point_coords": prompt.get("points"), "point_labels": prompt.get("labels"),
           "multimask_output": prompt.get("multimask_output", True), "return_logits": prompt.get("return_logits", False)}
    if "boxes" in prompt:
        out["box"] = prompt["boxes"][0]
    if "masks" in prompt:
        out["mask_input"] = prompt["masks"]
    return out


@pytest.mark.parametrize("prompt", PROMPTS)
def test_predictor_equals_sam_predictor(predictors, image, prompt):
    ours, ref = predictors
    masks, scores, logits = ours(**prompt)
    r_masks, r_scores, r_logits = ref.predict(**_ref_kwargs(prompt))
    assert masks.shape == r_masks.shape == (len(r_scores), *image.shape[:2])
    assert masks.dtype == r_masks.dtype
    assert np.array_equal(masks, r_masks) and np.array_equal(scores, r_scores) and np.array_equal(logits, r_logits)


def test_predictor_mask_prompt_through_preprocess_masks(predictors, image):
    ours, ref = predictors
    full, _, _ = ref.predict(point_coords=np.array([[200.0, 150.0]]), point_labels=np.array([1]), return_logits=True)
    mask = ours.preprocess_masks(full[:1])  # (1, H0, W0) -> (1, 256, 256)
    assert mask.shape == (1, 256, 256)
    assert np.array_equal(mask, ref.preprocess_masks(full[:1]).numpy())
    assert ours.preprocess_masks(full[None, :2]).shape == (1, 2, 256, 256)
    prompt = {"points": np.array([[220.0, 160.0]]), "labels": np.array([1]), "masks": mask}
    out = ours(**prompt)
    expected = ref.predict(**_ref_kwargs(prompt))
    assert all(np.array_equal(a, b) for a, b in zip(out, expected))


def test_batched_prompts_equal_each_prompt_alone(predictors, image):
    ours, ref = predictors
    points = np.array([[[120.0, 80.0], [300.0, 250.0]], [[10.0, 20.0], [400.0, 100.0]], [[50.0, 250.0], [60.0, 260.0]]])
    labels = np.array([[1, 0], [1, 1], [0, 1]])
    boxes = np.array([[[40.0, 30.0, 400.0, 280.0]], [[450.0, 290.0, 5.0, 5.0]], [[0.0, 0.0, 100.0, 100.0]]])
    masks, scores, logits = ours(points=points, labels=labels, boxes=boxes)
    assert masks.shape == (3, 3, *image.shape[:2]) and scores.shape == (3, 3) and logits.shape == (3, 3, 256, 256)
    for i in range(3):
        r_masks, r_scores, r_logits = ref.predict(point_coords=points[i], point_labels=labels[i], box=boxes[i, 0])
        assert np.abs(scores[i] - r_scores).max() < 1e-5 and np.abs(logits[i] - r_logits).max() < 1e-4
        assert (masks[i] != r_masks).mean() < 1e-5
    with pytest.raises(ValueError, match="same batch shape"):
        ours(points=points, labels=labels[:2])
    with pytest.raises(ValueError, match="at most one box"):
        ours(boxes=np.zeros((2, 4)))


def test_predictor_needs_an_image(sam):
    predictor = SAMPredictor(sam)
    with pytest.raises(ValueError, match="set image"):
        predictor(points=np.array([[1.0, 2.0]]), labels=np.array([1]))
    with pytest.raises(ValueError, match="preprocessing"):
        SAMPredictor(sam, preprocessing=lambda x: x)


def test_clear_image(sam, image):
    predictor = SAMPredictor(sam)
    predictor.set_image(image[:40, :50])
    assert predictor.image_set and predictor.image_embedding.shape == (1, 64, 64, 32)
    assert predictor.resizer.src_size == (40, 50) and predictor.resizer.rescaled_size == (819, 1024)
    predictor.clear_image()
    assert not predictor.image_set and predictor.image_embedding is None and predictor.resizer is None


# ---------------------------------------------------------------------- resizer
@pytest.mark.parametrize("size", [(301, 457), (457, 301), (17, 1023), (1500, 999)])
def test_resizer_round_trips_both_layouts(size):
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    hwc = (127.5 + 100 * np.stack([np.sin(xx / 61.0), np.cos(yy / 47.0), np.sin((xx + yy) / 83.0)], -1))
    resizer = ImageResizer(src_size=(h, w), dst_size=(1024, 1024))
    assert resizer.rescaled_size == SamResizer(1024).scale_to_size((h, w))
    assert max(resizer.rescaled_size) == 1024
    for arr, channels_last in ((hwc.astype(np.uint8), True), (hwc.astype(np.float32), True),
                               (np.transpose(hwc, (2, 0, 1)).astype(np.float32), False),
                               (torch.as_tensor(np.transpose(hwc, (2, 0, 1))).float()[None], False),
                               (hwc.astype(np.float32)[None].repeat(2, 0), True)):
        scaled = resizer.scale_image(arr, channels_last=channels_last)
        padded = resizer.pad_image(scaled, channels_last=channels_last)
        hw = tuple(padded.shape[-3:-1] if channels_last else padded.shape[-2:])
        assert hw == (1024, 1024) and padded.ndim == arr.ndim
        assert type(padded) is type(arr) and padded.dtype == arr.dtype
        cropped = resizer.crop_image(padded, channels_last=channels_last)
        assert np.array_equal(np.asarray(cropped), np.asarray(scaled))  # pad then crop: exact
        back = resizer.unscale_image(cropped, channels_last=channels_last)
        assert back.shape == arr.shape
        err = np.abs(np.asarray(back, dtype=np.float64) - np.asarray(arr, dtype=np.float64))
        assert err.mean() < 1.5 and err.max() < 12  # smooth image: resampling there and back loses little
    # uint8 HWC resizes bit-identically to samlabel's (and Meta's) predictor input
    assert np.array_equal(resizer.scale_image(hwc.astype(np.uint8)), SamResizer(1024).scale_image(hwc.astype(np.uint8)))
    # 2-D masks, and pad_only
    mask = hwc[..., 0].astype(np.float32)
    assert resizer.scale_image(mask).shape == resizer.rescaled_size
    if max(h, w) <= 1024:
        pad_only = ImageResizer((h, w), (1024, 1024), pad_only=True)
        assert pad_only.scale == 1.0 and pad_only.rescaled_size == (h, w)
        assert np.array_equal(pad_only.crop_image(pad_only.pad_image(hwc)), hwc)


def test_resizer_prompts_and_masks_match_sam_predictor():
    resizer = ImageResizer(src_size=(333, 517), dst_size=(1024, 1024))
    sam_resizer = SamResizer(1024)
    pts = np.array([[[0.0, 0.0], [516.5, 332.5]], [[100.0, 7.0], [3.0, 300.0]]])
    assert np.array_equal(resizer.scale_points(pts), sam_resizer.scale_points(pts, (333, 517)))
    boxes = np.array([[10.0, 20.0, 500.0, 300.0]])
    assert np.array_equal(resizer.scale_boxes(boxes), sam_resizer.scale_boxes(boxes, (333, 517)))
    assert torch.equal(resizer.scale_points(torch.as_tensor(pts)), sam_resizer.scale_points(torch.as_tensor(pts), (333, 517)))
    gen = torch.Generator().manual_seed(0)
    low = torch.randn(2, 3, 256, 256, generator=gen)
    up = torch.nn.functional.interpolate(low, (1024, 1024), mode="bilinear", align_corners=False)
    expected = sam_resizer.for_image((333, 517)).postprocess_mask(low.numpy())
    assert np.abs(resizer.postprocess_mask(up.numpy()) - expected).max() < 1e-5
    assert (resizer.postprocess_mask(up.numpy(), threshold=0.0) != (expected > 0.0)).mean() < 1e-5
    with pytest.raises(ValueError, match="dst_size"):
        ImageResizer((10, 10), (5, 5), pad_only=True).pad_image(np.zeros((10, 10, 3)))
    with pytest.raises(ValueError, match="src_size"):
        ImageResizer((0, 10), (5, 5))
    with pytest.raises(ValueError, match="bound to images"):
        resizer.scale_image(np.zeros((10, 10, 3), np.uint8))
