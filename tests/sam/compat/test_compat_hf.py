"""The Hugging Face adapter against ``transformers``' own SamProcessor and SamModel, same weights.

Tolerances (the issue's): ``iou_scores`` within 1e-4, ``pred_masks`` logits within 1e-3,
post-processed masks differing in at most 0.1 % of pixels. ``transformers`` normalises the
decoder's tokens with eps 1e-6 where samlabel (like Meta) uses 1e-5, so the logits are not
bit-equal; the measured differences are printed (``pytest -s``).
"""

from __future__ import annotations

import pytest
import torch

from samlabel.sam.compat.hf_config import SamConfig
from samlabel.sam.compat.hf_processor import SamProcessor

IOU_TOL, LOGIT_TOL, PIXEL_FRACTION = 1e-4, 1e-3, 1e-3


@pytest.fixture(scope="module")
def hf_processor():
    from transformers import SamImageProcessor, SamProcessor as HFProcessor

    return HFProcessor(SamImageProcessor())


@pytest.fixture(scope="module")
def embeddings(hf_snapshot, hf_processor, images):
    """``transformers``' embeddings of the two images (one pass of its encoder each)."""
    pixels = hf_processor(images=images, return_tensors="pt")["pixel_values"]
    return hf_snapshot[1].get_image_embeddings(pixels)


def compare(hf_model, ours, hf_processor, hf_inputs, our_inputs, label, **model_kwargs):
    """Run both models on their own processors' inputs; check and print the differences."""
    with torch.no_grad():
        ref = hf_model(**model_inputs(hf_inputs), **model_kwargs)
    out = ours(**our_inputs, **model_kwargs)  # the processor's sizes are accepted and ignored
    assert out.iou_scores.shape == ref.iou_scores.shape and out.pred_masks.shape == ref.pred_masks.shape
    d_iou = (out.iou_scores - ref.iou_scores).abs().max().item()
    d_logit = (out.pred_masks - ref.pred_masks).abs().max().item()
    ref_masks = hf_processor.post_process_masks(ref.pred_masks, hf_inputs["original_sizes"],
                                                hf_inputs["reshaped_input_sizes"])
    our_masks = SamProcessor().post_process_masks(out.pred_masks, our_inputs["original_sizes"],
                                                  our_inputs["reshaped_input_sizes"])
    fractions = [(a != b).float().mean().item() for a, b in zip(ref_masks, our_masks)]
    for a, b in zip(ref_masks, our_masks):
        assert a.shape == b.shape and a.dtype == b.dtype == torch.bool
    print(f"\n{label}: iou {d_iou:.2e}, logits {d_logit:.2e} (max |logit| {ref.pred_masks.abs().max():.2f}), "
          f"pixels differing {max(fractions):.2e}")
    assert d_iou <= IOU_TOL and d_logit <= LOGIT_TOL and max(fractions) <= PIXEL_FRACTION
    return ref, out


def both(hf_processor, images, embeddings=None, **prompts):
    """The two processors' outputs for the same call; with ``embeddings``, they replace the pixels."""
    hf_inputs = dict(hf_processor(images=images, return_tensors="pt", **prompts))
    our_inputs = dict(SamProcessor()(images=images, **prompts))
    if embeddings is not None:
        for d in (hf_inputs, our_inputs):
            d.pop("pixel_values")
            d["image_embeddings"] = embeddings
    return hf_inputs, our_inputs


def model_inputs(d):
    return {k: v for k, v in d.items() if k not in ("original_sizes", "reshaped_input_sizes")}


# ---------------------------------------------------------------------- processor
@pytest.mark.parametrize("prompts", [
    {},
    {"input_points": [[[100, 50]], [[10.5, 20], [300, 400]]], "input_labels": [[1], [1, 0]]},  # ragged: padded
    {"input_points": [[[[100, 50]], [[200, 120]]], [[[1, 2]], [[3, 4]]]], "input_labels": [[[1], [0]], [[1], [1]]]},
    {"input_points": [[[100, 50], [7, 9]], [[10, 20], [30, 40]]]},
    {"input_boxes": [[[10, 20, 200, 300.7]], [[0, 0, 402, 600]]]},
    {"input_points": [[[[100, 50]]], [[[10, 20]]]], "input_boxes": [[[10, 20, 200, 300]], [[1, 2, 3, 4]]]},
])
def test_processor_outputs_equal_transformers(hf_processor, images, prompts):
    ref = hf_processor(images=images, return_tensors="pt", **prompts)
    out = SamProcessor()(images=images, **prompts)
    assert sorted(ref.keys()) == sorted(out.keys())
    for key in ref:
        assert ref[key].dtype == out[key].dtype, key
        assert ref[key].shape == out[key].shape, key
        assert torch.equal(ref[key], out[key]), key


def test_processor_pads_every_ragged_list_and_refuses_bad_prompts(images):
    out = SamProcessor()(images=images[0], input_points=[[[[1, 2]], [[3, 4], [5, 6], [7, 8]]]],
                         input_labels=[[[1], [1, 0, 1]]])
    assert out["input_points"].shape == (1, 2, 3, 2)
    assert out["input_labels"].tolist() == [[[1, -10, -10], [1, 0, 1]]]
    assert (out["input_points"][0, 0, 1:] == -10).all()
    with pytest.raises(ValueError, match="input_labels"):
        SamProcessor()(images=images[0], input_points=[[[1, 2]]], input_labels=[[5]])
    with pytest.raises(ValueError, match="x0, y0, x1, y1"):
        SamProcessor()(images=images[0], input_boxes=[[[1, 2, 3]]])
    with pytest.raises(ValueError, match="without input_points"):
        SamProcessor()(images=images[0], input_labels=[[1]])
    with pytest.raises(ValueError, match="images"):
        SamProcessor()(input_points=[[[1, 2]]])


# ---------------------------------------------------------------------- model
def test_config_json_maps_onto_samlabel_config(hf_snapshot):
    cfg = SamConfig.from_pretrained(hf_snapshot[0]).to_sam_config()
    assert (cfg.encoder.embed_dim, cfg.encoder.depth, cfg.encoder.num_heads) == (32, 2, 2)
    assert cfg.encoder.global_attn_indexes == (1,) and cfg.encoder.mlp_ratio == 2.0
    assert (cfg.embed_dim, cfg.prompt_mask_hidden_dim, cfg.decoder.mlp_dim, cfg.decoder.num_heads) == (32, 8, 64, 2)
    assert cfg.input_size == 1024 and cfg.pixel_mean == pytest.approx((123.675, 116.28, 103.53))
    # the official configs round-trip through transformers' field names
    from samlabel.sam.config import get_config

    vit_b = get_config("vit_b")
    back = SamConfig.from_sam_config(vit_b).to_sam_config(name="vit_b")
    assert back.encoder == vit_b.encoder and back.decoder == vit_b.decoder
    with pytest.raises(ValueError, match="SAM 2"):
        SamConfig.from_dict({"model_type": "sam2"})
    with pytest.raises(ValueError, match="num_pos_feats"):
        SamConfig.from_dict({"vision_config": {"num_pos_feats": 16}}).to_sam_config()


@pytest.mark.parametrize("name, vision", [
    ("vit_b", {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "global_attn_indexes": [2, 5, 8, 11]}),
    ("vit_l", {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
               "global_attn_indexes": [5, 11, 17, 23]}),
    ("vit_h", {"hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16,
               "global_attn_indexes": [7, 15, 23, 31]}),
])
def test_facebook_sam_configs_map_onto_the_official_ones(name, vision):
    """``transformers``' own configs of facebook/sam-vit-{base,large,huge} -> samlabel's vit_b/l/h."""
    import transformers

    from samlabel.sam.config import get_config

    hf = transformers.SamConfig(vision_config=transformers.SamVisionConfig(**vision).to_dict())
    cfg = SamConfig.from_dict(hf.to_dict()).to_sam_config(name=name)
    official = get_config(name)
    assert cfg.encoder == official.encoder and cfg.decoder == official.decoder
    assert (cfg.embed_dim, cfg.prompt_mask_hidden_dim, cfg.input_size) == (256, 16, 1024)


@pytest.mark.slow
def test_pixel_values_single_point(hf_snapshot, ours, hf_processor, images, embeddings):
    hf_inputs, our_inputs = both(hf_processor, images[0], input_points=[[[200, 150]]])
    assert torch.equal(hf_inputs["pixel_values"], our_inputs["pixel_values"])
    compare(hf_snapshot[1], ours, hf_processor, hf_inputs, our_inputs, "pixel_values, one point")
    emb = ours.get_image_embeddings(SamProcessor()(images=images)["pixel_values"])
    print(f"embeddings: {(emb - embeddings).abs().max().item():.2e}")
    assert emb.shape == embeddings.shape and (emb - embeddings).abs().max().item() <= 1e-4


@pytest.mark.slow
def test_embeddings_points(hf_snapshot, ours, hf_processor, images, embeddings):
    hf_inputs, our_inputs = both(hf_processor, images, embeddings,
                                 input_points=[[[[200, 150], [20, 30]], [[400, 10], [5, 5]]],
                                               [[[100, 100], [300, 500]], [[50, 60], [70, 80]]]],
                                 input_labels=[[[1, 0], [1, 1]], [[1, 0], [0, 1]]])
    compare(hf_snapshot[1], ours, hf_processor, hf_inputs, our_inputs, "embeddings, points, multimask")
    hf_inputs, our_inputs = both(hf_processor, images[1], embeddings[1:], input_points=[[[100, 100], [300, 500]]],
                                 input_labels=[[1, 0]])
    compare(hf_snapshot[1], ours, hf_processor, hf_inputs, our_inputs, "embeddings, points, one mask",
            multimask_output=False)


@pytest.mark.slow
def test_ragged_points_padded_with_pad_label(hf_snapshot, ours, hf_processor, images, embeddings):
    hf_inputs, our_inputs = both(hf_processor, images, embeddings,
                                 input_points=[[[200, 150]], [[100, 100], [300, 500]]], input_labels=[[1], [1, 0]])
    assert hf_inputs["input_labels"].tolist() == [[[1, -10]], [[1, 0]]]
    ref, out = compare(hf_snapshot[1], ours, hf_processor, hf_inputs, our_inputs, "ragged points, pad label -10")
    # the pad is a zero token, not Meta's not-a-point: dropping it changes the answer
    alone = ours(image_embeddings=embeddings[:1], input_points=our_inputs["input_points"][:1, :, :1])
    assert (alone.pred_masks[0] - ref.pred_masks[0]).abs().max() > 10 * LOGIT_TOL


@pytest.mark.slow
def test_boxes_and_points_with_boxes(hf_snapshot, ours, hf_processor, images, embeddings):
    boxes = [[[10, 20, 200, 300], [100, 50, 500, 320]], [[0, 0, 402, 600], [30, 40, 300, 200]]]
    compare(hf_snapshot[1], ours, hf_processor, *both(hf_processor, images, embeddings, input_boxes=boxes), "boxes")
    points = [[[[100, 100]], [[300, 100]]], [[[50, 300]], [[200, 100]]]]
    compare(hf_snapshot[1], ours, hf_processor,
            *both(hf_processor, images, embeddings, input_boxes=boxes, input_points=points,
                  input_labels=[[[1], [0]], [[1], [1]]]), "points + boxes")


@pytest.mark.slow
def test_mask_input(hf_snapshot, ours, hf_processor, images, embeddings):
    first = hf_snapshot[1](image_embeddings=embeddings, input_points=torch.tensor([[[[300.0, 200.0]]]] * 2))
    mask = first.pred_masks[:, 0, :1].detach()  # (B, 1, 256, 256): the first candidate's logits
    hf_inputs, our_inputs = both(hf_processor, images, embeddings, input_points=[[[[200, 150]]], [[[100, 300]]]])
    compare(hf_snapshot[1], ours, hf_processor, hf_inputs, our_inputs, "mask input", input_masks=mask)
    hf_inputs, our_inputs = both(hf_processor, images, embeddings)
    compare(hf_snapshot[1], ours, hf_processor, hf_inputs, our_inputs, "mask input only", input_masks=mask)


def test_model_refuses_bad_arguments(ours, embeddings):
    with pytest.raises(ValueError, match="Exactly one"):
        ours()
    with pytest.raises(ValueError, match="4D"):
        ours(image_embeddings=embeddings, input_points=torch.zeros(2, 1, 2))
    with pytest.raises(ValueError, match="as many bounding boxes"):
        ours(image_embeddings=embeddings, input_points=torch.zeros(2, 2, 1, 2), input_boxes=torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match="input_labels must be"):
        ours(image_embeddings=embeddings, input_points=torch.zeros(2, 1, 1, 2), input_labels=torch.full((2, 1, 1), 3))
    with pytest.raises(ValueError, match="pixel_values must be"):
        ours.get_image_embeddings(torch.zeros(1, 3, 512, 512))
    with pytest.raises(ValueError, match="not a folder"):
        type(ours).from_pretrained("facebook/sam-vit-base-not-here")


# ---------------------------------------------------------------------- mask generation helpers
def test_mask_generation_helpers_equal_transformers(hf_processor, images):
    from samlabel.sam.compat.hf_processor import SamImageProcessor

    ref_ip, our_ip = hf_processor.image_processor, SamImageProcessor()
    image = images[1]
    ref = ref_ip.generate_crop_boxes(image, 1024, crop_n_layers=1, points_per_crop=8)
    out = our_ip.generate_crop_boxes(image, 1024, crop_n_layers=1, points_per_crop=8)
    assert torch.equal(ref[0], out[0]) and torch.equal(ref[3], out[3])
    assert ref[1].shape == out[1].shape and (ref[1] - out[1]).abs().max() <= 1e-4
    assert [tuple(c.shape) for c in ref[2]] == [tuple(c.shape) for c in out[2]]
    assert all(torch.equal(torch.as_tensor(a), torch.as_tensor(b)) for a, b in zip(ref[2], out[2]))

    h, w = image.shape[:2]
    gen = torch.Generator().manual_seed(3)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    centres = torch.rand(6, 2, generator=gen) * torch.tensor([w, h])
    radii = 40 + 80 * torch.rand(6, generator=gen)
    logits = (radii[:, None, None] - ((xx - centres[:, 0, None, None]) ** 2 + (yy - centres[:, 1, None, None]) ** 2).sqrt())
    logits = logits.reshape(3, 2, h, w) / 4
    scores = torch.tensor([[0.95, 0.5], [0.99, 0.93], [0.91, 0.97]])
    crop = [0, 0, w, h]
    r_rle, r_scores, r_boxes = ref_ip.filter_masks(logits, scores, (h, w), crop, stability_score_thresh=0.8)
    o_rle, o_scores, o_boxes = our_ip.filter_masks(logits, scores, (h, w), crop, stability_score_thresh=0.8)
    assert len(r_rle) >= 2 and r_rle == o_rle and torch.equal(r_scores, o_scores) and torch.equal(r_boxes, o_boxes)
    r = ref_ip.post_process_for_mask_generation(r_rle, r_scores, r_boxes, 0.3)
    o = our_ip.post_process_for_mask_generation(o_rle, o_scores, o_boxes, 0.3)
    assert len(r[0]) == len(o[0]) and all(torch.equal(a, b) for a, b in zip(r[0], o[0]))
    assert torch.equal(r[1], o[1]) and r[2] == o[2] and torch.equal(r[3], o[3])
    # a crop in the image's interior: masks cut by its edge are dropped, the rest padded back
    crop = [100, 150, 400, 601]
    sub = logits[..., 150:601, 100:400]
    r_rle, r_scores, r_boxes = ref_ip.filter_masks(sub, scores, (h, w), crop, 0.0, 0.0)
    o_rle, o_scores, o_boxes = our_ip.filter_masks(sub, scores, (h, w), crop, 0.0, 0.0)
    assert r_rle == o_rle and torch.equal(r_scores, o_scores) and torch.equal(r_boxes, o_boxes)


def test_post_process_masks_binarize_and_pad_size(hf_processor):
    gen = torch.Generator().manual_seed(0)
    low = [torch.randn(2, 3, 256, 256, generator=gen)]
    for kwargs in ({}, {"binarize": False}, {"mask_threshold": 0.5},
                   {"pad_size": {"height": 1024, "width": 1024}, "binarize": False}):
        ref = hf_processor.post_process_masks([m.clone() for m in low], [[333, 517]], [[659, 1024]], **kwargs)
        out = SamProcessor().post_process_masks(low, [[333, 517]], [[659, 1024]], **kwargs)
        assert torch.equal(ref[0], out[0]), kwargs
    with pytest.raises(ValueError, match="original_sizes"):
        SamProcessor().post_process_masks(low, [[333, 517], [1, 1]], [[659, 1024]])
