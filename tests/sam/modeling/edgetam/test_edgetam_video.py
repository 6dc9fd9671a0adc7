"""EdgeTAM's video model against Hugging Face ``transformers``' ``EdgeTamVideoModel`` on identical random weights.

The reference is ``EdgeTamVideoModel`` built from a small config (RepViT of widths 8-64 with
1-3 blocks through ``timm_wrapper``, FPN and decoder of width 128, a 256 px input so 16 x 16
tokens, 8 global + 4 x 4 windowed Perceiver latents) with seeded weights perturbed off their
init values (BatchNorm statistics included), saved as ``model.safetensors`` in a folder and
loaded by ``build_edgetam_video_predictor`` through the key map, strictly. Compared: (a) the
image encoder's FPN levels and position encodings, (b) one frame's mask decoding from a point
(multimask) and from a box plus a point, (c) a 5-frame clip with two objects (a click and a
box on frame 0) tracked by the reference's session API (``EdgeTamVideoInferenceSession``,
``forward(inference_session, frame_idx)``, ``propagate_in_video_iterator``, no processor)
against our ``propagate_in_video``: every frame's low-res mask logits (within 1e-3), the
video-resolution logits, and the object scores (within 1e-4); then a reverse pass from the
last frame, and a clip prompted by a mask. Our predictor runs with ``fill_hole_area=0`` (the
reference fills no holes). The weights are perturbed with noise of std ``1 / sqrt(fan_in)`` so
that logits and scores are of order 1, and the object score head's bias shifted so that the
clip has frames without the objects (occlusion embedding, no-object pointer). A perturbed
weight must break (a)-(c). Not compared: a click added to a frame that already has an output
for the object (a correction on a tracked frame, a second click on a prompted frame), where
``transformers`` differs from Meta's predictor (and so ours) by design: it does not feed that
output's mask logits to the decoder with the clicks, and it stores a corrected tracked frame
as a non-conditioning frame (Meta, ``add_all_frames_to_correct_as_cond=True``: conditioning).
Also checked: the key map is strict on a full-size ``EdgeTamVideoModel`` (RepViT-M1) against
our default config, and ``samlabel.video.propagate`` drives the predictor unchanged.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from samlabel.sam.errors import CheckpointError
from samlabel.sam.modeling.edgetam.config import EdgeTamConfig, PerceiverConfig, RepVitConfig
from samlabel.sam.modeling.sam2.config import DecoderConfig, FpnConfig

pytestmark = pytest.mark.reference

if importlib.util.find_spec("transformers.models.edgetam_video") is None or importlib.util.find_spec("timm") is None:
    pytest.skip("transformers with models.edgetam_video (and timm) is needed for the EdgeTAM reference",
                allow_module_level=True)

LOGIT_TOL = 1e-3
SCORE_TOL = 1e-4
FEATURE_TOL = 1e-4
IMAGE_SIZE = 256
NUM_FRAMES = 5
FRAME_HW = (72, 96)
EMBED_DIM = (8, 16, 32, 64)
DEPTH = (1, 2, 3, 1)
D_MODEL = 128
OBJ_SCORE_SHIFT = 0.42


def small_config() -> EdgeTamConfig:
    from dataclasses import replace

    from samlabel.sam.modeling.edgetam.config import EDGETAM_VIDEO_CONFIG
    from samlabel.sam.modeling.sam2.config import MemoryAttentionConfig

    video = replace(EDGETAM_VIDEO_CONFIG, memory_attention=MemoryAttentionConfig(num_layers=2, dim_feedforward=64))
    return EdgeTamConfig(
        name="edgetam_test_small",
        trunk=RepVitConfig(embed_dim=EMBED_DIM, depth=DEPTH),
        neck=FpnConfig(d_model=D_MODEL),
        decoder=DecoderConfig(transformer_mlp_dim=64, iou_head_hidden_dim=32),
        video=video,
        perceiver=PerceiverConfig(num_latents=8, num_latents_2d=16, ff_dim=32),
        rope_k_sizes=(4, 4),
        image_size=IMAGE_SIZE,
    )


def reference_config():
    from transformers import EdgeTamVideoConfig
    from transformers.models.edgetam.configuration_edgetam import EdgeTamVisionConfig

    s = IMAGE_SIZE
    vision = EdgeTamVisionConfig(
        backbone_config={
            "model_type": "timm_wrapper", "architecture": "repvit_m1", "do_pooling": False, "num_classes": 1000,
            "model_args": {"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3],
                           "embed_dim": list(EMBED_DIM), "depth": list(DEPTH)},
        },
        backbone_channel_list=list(reversed(EMBED_DIM)),
        backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
        fpn_hidden_size=D_MODEL,
    )
    return EdgeTamVideoConfig(
        vision_config=vision, image_size=s,
        prompt_encoder_config={"hidden_size": D_MODEL, "image_size": s, "patch_size": 16},
        mask_decoder_config={"hidden_size": D_MODEL, "mlp_dim": 64, "iou_head_hidden_dim": 32},
        memory_attention_hidden_size=D_MODEL, memory_attention_mlp_hidden_size=64,
        memory_attention_rope_feat_sizes=[s // 16, s // 16], memory_attention_rope_k_sizes=[4, 4],
        perceiver_resampler_num_latents=8, perceiver_resampler_num_latents_2d=16,
        perceiver_resampler_mlp_intermediate_size=32, memory_encoder_hidden_size=D_MODEL,
        mask_downsampler_embed_dim=D_MODEL, memory_fuser_embed_dim=D_MODEL, memory_fuser_intermediate_dim=4 * D_MODEL,
    )


def perturb_(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Move every parameter and BatchNorm statistic off its init value, in place. Matrices get
    noise of std ``1 / sqrt(fan_in)``, so activations (and mask logits, object scores) are of
    order 1 rather than the near-zero outputs of a freshly initialised model."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.dim() >= 2:
                p.add_(noise / max(1, p[0].numel()) ** 0.5)
            else:
                p.add_(noise * 0.1)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.add_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.mul_(torch.exp(torch.randn(b.shape, generator=g) * 0.2))
    return model


def smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 9, 12, generator=g) * 255
    image = F.interpolate(coarse, size=(h, w), mode="bilinear")[0]
    image = (image + torch.rand(3, h, w, generator=g) * 30).clamp(0, 255)
    return image.permute(1, 2, 0).round().to(torch.uint8).numpy()


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """``(reference EdgeTamVideoModel, checkpoint folder)``."""
    from safetensors.torch import save_file
    from transformers import EdgeTamVideoModel

    torch.manual_seed(0)
    ref = perturb_(EdgeTamVideoModel(reference_config()), 1).eval()
    with torch.no_grad():
        # One Fourier matrix, stored twice (as in the released weights).
        ref.prompt_encoder.shared_embedding.positional_embedding.copy_(ref.shared_image_embedding.positional_embedding)
        # Object scores near zero, so that the clip has frames with and without the objects
        # (the occlusion embedding, the no-object pointer and masks are then compared too).
        ref.mask_decoder.pred_obj_score_head.proj_out.bias.sub_(OBJ_SCORE_SHIFT)
    folder = tmp_path_factory.mktemp("edgetam_ckpt")
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(folder / "model.safetensors"))
    return ref, folder


@pytest.fixture(scope="module")
def ours(reference):
    from samlabel.sam.video.edgetam_video_predictor import build_edgetam_video_predictor

    return build_edgetam_video_predictor(reference[1], config=small_config(), fill_hole_area=0)


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory):
    """A clip: a still background with a red bar moving right and a dark disc moving down."""
    d = tmp_path_factory.mktemp("edgetam_frames")
    h, w = FRAME_HW
    background = smooth_image(h, w, seed=5)
    yy, xx = np.mgrid[:h, :w]
    for i in range(NUM_FRAMES):
        img = background.copy()
        img[20:40, 8 + 5 * i : 34 + 5 * i] = (240, 30, 30)
        img[(yy - 20 - 4 * i) ** 2 + (xx - 70) ** 2 < 100] = (20, 20, 60)
        Image.fromarray(img).save(d / f"{i:05d}.jpg", quality=95)
    return d


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.float() - b.float()).abs().max().item()


# --- loading ----------------------------------------------------------------------------------------


def test_checkpoint_loads_strictly(reference, ours):
    from samlabel.sam.modeling.edgetam.hf_mapping import hf_to_samlabel

    renamed, _ = hf_to_samlabel(reference[0].state_dict())
    assert set(renamed) == set(ours.state_dict())
    for k, v in ours.state_dict().items():
        assert torch.equal(v, renamed[k]), k


def test_checkpoint_problems_raise(reference, tmp_path):
    from safetensors.torch import save_file

    from samlabel.sam.video.edgetam_video_predictor import build_edgetam_video_predictor

    sd = {k: v.contiguous() for k, v in reference[0].state_dict().items()}
    extra = dict(sd, **{"memory_attention.layers.0.bogus.weight": torch.zeros(2)})
    save_file(extra, str(tmp_path / "extra.safetensors"))
    with pytest.raises(CheckpointError, match=r"extra\.safetensors.*unexpected keys: memory_attention\.layers\.0\.bogus\.weight"):
        build_edgetam_video_predictor(tmp_path / "extra.safetensors", config=small_config())
    missing = {k: v for k, v in sd.items() if k != "spatial_perceiver.latents_2d"}
    save_file(missing, str(tmp_path / "missing.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing\.safetensors.*missing keys: spatial_perceiver\.latents_2d"):
        build_edgetam_video_predictor(tmp_path / "missing.safetensors", config=small_config())
    counters = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    assert len(counters) < len(sd)
    save_file(counters, str(tmp_path / "no_counters.safetensors"))
    build_edgetam_video_predictor(tmp_path / "no_counters.safetensors", config=small_config())  # loads
    empty = tmp_path / "empty_snapshot"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="empty_snapshot has none of model.safetensors"):
        build_edgetam_video_predictor(empty, config=small_config())
    bad_shape = dict(sd, **{"spatial_perceiver.latents_1d": torch.zeros(3, 64)})
    save_file(bad_shape, str(tmp_path / "shape.safetensors"))
    with pytest.raises(CheckpointError, match=r"shape mismatch: spatial_perceiver\.latents_1d \(expected \(8, 64\), found \(3, 64\)\)"):
        build_edgetam_video_predictor(tmp_path / "shape.safetensors", config=small_config())


def test_full_size_key_map_is_strict():
    """The default config has exactly the parameters (names and shapes) of a full-size
    ``EdgeTamVideoModel`` with RepViT-M1, as ``facebook/EdgeTAM`` is described."""
    from transformers import EdgeTamVideoConfig, EdgeTamVideoModel
    from transformers.models.edgetam.configuration_edgetam import EdgeTamVisionConfig

    from samlabel.sam.modeling.edgetam.build import build_edgetam_video_model
    from samlabel.sam.modeling.edgetam.hf_mapping import hf_to_samlabel

    vision = EdgeTamVisionConfig(backbone_config={
        "model_type": "timm_wrapper", "architecture": "repvit_m1", "do_pooling": False, "num_classes": 1000,
        "model_args": {"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]},
    })
    ref = EdgeTamVideoModel(EdgeTamVideoConfig(vision_config=vision))
    with torch.no_grad():
        ref.prompt_encoder.shared_embedding.positional_embedding.copy_(ref.shared_image_embedding.positional_embedding)
    renamed, _ = hf_to_samlabel(ref.state_dict())
    expected = build_edgetam_video_model().state_dict()
    assert sorted(renamed) == sorted(expected)
    assert all(tuple(renamed[k].shape) == tuple(v.shape) for k, v in expected.items())


# --- (a) image encoder -------------------------------------------------------------------------------


def _pixels(seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g)


def _image_diffs(ref, model, x) -> list[float]:
    with torch.no_grad():
        r = ref.vision_encoder(x, return_dict=True)
        o = model.image_encoder(x)
    diffs = [_max_diff(a, b) for a, b in zip(r.fpn_hidden_states, o["backbone_fpn"])]
    diffs += [_max_diff(a, b) for a, b in zip(r.fpn_position_encoding, o["vision_pos_enc"])]
    assert len(diffs) == 6
    return diffs


def test_image_encoder_equals_reference(reference, ours):
    diffs = _image_diffs(reference[0], ours, _pixels())
    assert max(diffs) < FEATURE_TOL, diffs


# --- (b) one frame's mask decoding ---------------------------------------------------------------------


def _decode_both(ref, model, x, coords, labels, multimask):
    """Reference ``_single_frame_forward`` and our ``_forward_sam_heads`` on the same image and prompts."""
    with torch.no_grad():
        r = ref._single_frame_forward(pixel_values=x, input_points=coords[None], input_labels=labels,
                                      multimask_output=multimask)
        feats = model.image_features(x)
        o = model._forward_sam_heads(feats["image_embed"], point_inputs={"point_coords": coords, "point_labels": labels[0]},
                                     high_res_features=feats["high_res_feats"], multimask_output=multimask)
    _, _, ious, low_res_masks, _, obj_ptr, score = o
    return {
        "masks": _max_diff(r.pred_masks, low_res_masks),
        "ious": _max_diff(r.iou_scores.squeeze(1), ious),
        "pointer": _max_diff(r.object_pointer.squeeze(1), obj_ptr),
        "score": _max_diff(r.object_score_logits.squeeze(1), score),
    }


PROMPTS = {
    "point": (torch.tensor([[[100.0, 90.0]]]), torch.tensor([[[1]]], dtype=torch.int32), True),
    "box_and_point": (torch.tensor([[[40.0, 50.0], [180.0, 200.0], [100.0, 120.0]]]),
                      torch.tensor([[[2, 3, 1]]], dtype=torch.int32), False),
}


@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_frame_decoding_equals_reference(reference, ours, prompt):
    coords, labels, multimask = PROMPTS[prompt]
    d = _decode_both(reference[0], ours, _pixels(), coords, labels, multimask)
    assert d["masks"] < LOGIT_TOL and d["ious"] < SCORE_TOL and d["pointer"] < SCORE_TOL and d["score"] < SCORE_TOL, d


# --- (c) tracking a clip ---------------------------------------------------------------------------------

POINT = np.array([[20.0, 30.0]], dtype=np.float32)  # video pixels (x, y): on the red bar
BOX = np.array([60.0, 8.0, 82.0, 32.0], dtype=np.float32)  # around the disc


def _run_ours(model, frames_dir):
    state = model.init_state(str(frames_dir))
    model.add_new_points_or_box(state, 0, 1, points=POINT, labels=np.array([1], np.int32))
    model.add_new_points_or_box(state, 0, 2, box=BOX)
    video = {f: m.clone() for f, _, m in model.propagate_in_video(state)}
    low, scores = {}, {}
    for f in range(NUM_FRAMES):
        outs = []
        for obj_idx in range(2):
            d = state["output_dict_per_obj"][obj_idx]
            outs.append(d["cond_frame_outputs"].get(f) or d["non_cond_frame_outputs"][f])
        low[f] = torch.cat([o["pred_masks"] for o in outs])
        scores[f] = torch.cat([o["object_score_logits"] for o in outs]).flatten()
    # then back from the last frame (re-tracking the tracked frames)
    reverse = {f: m.clone() for f, _, m in model.propagate_in_video(state, start_frame_idx=NUM_FRAMES - 1, reverse=True)}
    return state, video, low, scores, reverse


def _run_reference(ref, state):
    from transformers.models.edgetam_video.modeling_edgetam_video import EdgeTamVideoInferenceSession

    h, w = FRAME_HW
    frames = torch.stack([state["images"][i] for i in range(NUM_FRAMES)])
    session = EdgeTamVideoInferenceSession(video=frames, video_height=h, video_width=w, dtype=torch.float32)
    scale = torch.tensor([IMAGE_SIZE / w, IMAGE_SIZE / h])
    box_corners = torch.from_numpy(BOX).view(2, 2) * scale
    prompts = [(1, torch.from_numpy(POINT) * scale, torch.tensor([1])), (2, box_corners, torch.tensor([2, 3]))]
    for obj_id, coords, labels in prompts:
        obj_idx = session.obj_id_to_idx(obj_id)
        session.add_point_inputs(obj_idx, 0, {"point_coords": coords.view(1, 1, -1, 2),
                                             "point_labels": labels.view(1, 1, -1).to(torch.int32)})
        session.obj_with_new_inputs = [obj_id]
        ref(inference_session=session, frame_idx=0)
    low, scores = {}, {}
    for out in ref.propagate_in_video_iterator(session, start_frame_idx=0):
        low[out.frame_idx] = out.pred_masks.clone()
        scores[out.frame_idx] = out.object_score_logits.clone().flatten()
    reverse = {out.frame_idx: out.pred_masks.clone()
               for out in ref.propagate_in_video_iterator(session, start_frame_idx=NUM_FRAMES - 1, reverse=True)}
    return low, scores, reverse


def _clip_diffs(ref, model, frames_dir):
    state, video, low, scores, reverse = _run_ours(model, frames_dir)
    r_low, r_scores, r_reverse = _run_reference(ref, state)
    assert sorted(r_low) == sorted(low) == sorted(r_reverse) == sorted(reverse) == list(range(NUM_FRAMES))
    out = {"low": [], "video": [], "score": [], "reverse": []}
    for f in range(NUM_FRAMES):
        out["low"].append(_max_diff(r_low[f], low[f]))
        r_video = F.interpolate(r_low[f], size=FRAME_HW, mode="bilinear", align_corners=False)
        out["video"].append(_max_diff(r_video, video[f]))
        out["score"].append(_max_diff(r_scores[f], scores[f]))
        r_video = F.interpolate(r_reverse[f], size=FRAME_HW, mode="bilinear", align_corners=False)
        out["reverse"].append(_max_diff(r_video, reverse[f]))
    return out, scores


def test_clip_tracking_equals_reference(reference, ours, frames_dir):
    d, scores = _clip_diffs(reference[0], ours, frames_dir)
    assert max(d["low"]) < LOGIT_TOL and max(d["video"]) < LOGIT_TOL and max(d["score"]) < SCORE_TOL, d
    assert max(d["reverse"]) < LOGIT_TOL, d
    all_scores = torch.cat(list(scores.values()))
    assert (all_scores > 1e-3).any() and (all_scores < -1e-3).any(), "the clip should have frames with and without the objects"


def test_mask_prompt_clip_equals_reference(reference, ours, frames_dir):
    """A mask prompt on frame 0 (resized to the input as both processors do), then tracking."""
    from transformers.models.edgetam_video.modeling_edgetam_video import EdgeTamVideoInferenceSession

    h, w = FRAME_HW
    mask = np.zeros((h, w), bool)
    mask[20:40, 8:34] = True  # the red bar
    state = ours.init_state(str(frames_dir))
    ours.add_new_mask(state, 0, 1, mask)
    video = {f: m.clone() for f, _, m in ours.propagate_in_video(state)}
    outputs = state["output_dict_per_obj"][0]
    ref = reference[0]
    session = EdgeTamVideoInferenceSession(video=torch.stack([state["images"][i] for i in range(NUM_FRAMES)]),
                                           video_height=h, video_width=w, dtype=torch.float32)
    resized = F.interpolate(torch.from_numpy(mask)[None, None].float(), size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear",
                            align_corners=False, antialias=True)
    session.add_mask_inputs(session.obj_id_to_idx(1), 0, (resized >= 0.5).float())
    session.obj_with_new_inputs = [1]
    ref(inference_session=session, frame_idx=0)
    for out in ref.propagate_in_video_iterator(session, start_frame_idx=0):
        f = out.frame_idx
        ours_out = outputs["cond_frame_outputs"].get(f) or outputs["non_cond_frame_outputs"][f]
        assert _max_diff(out.pred_masks, ours_out["pred_masks"]) < LOGIT_TOL, f
        r_video = F.interpolate(out.pred_masks, size=FRAME_HW, mode="bilinear", align_corners=False)
        assert _max_diff(r_video, video[f]) < LOGIT_TOL, f
        assert _max_diff(out.object_score_logits.flatten(), ours_out["object_score_logits"].flatten()) < SCORE_TOL, f


# --- the comparisons can fail --------------------------------------------------------------------------


def _perturbed_copy(model, key: str):
    import copy

    other = copy.deepcopy(model)
    with torch.no_grad():
        p = other.state_dict()[key]
        p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(7)) * 0.5)
    return other


def test_perturbed_weights_break_the_comparisons(reference, ours, frames_dir):
    ref = reference[0]
    bad = _perturbed_copy(ours, "image_encoder.trunk.stages.1.blocks.0.channel_mixer.conv1.c.weight")
    assert max(_image_diffs(ref, bad, _pixels())) > 1e-2
    bad = _perturbed_copy(ours, "sam_mask_decoder.transformer.layers.0.self_attn.q_proj.weight")
    coords, labels, multimask = PROMPTS["point"]
    assert _decode_both(ref, bad, _pixels(), coords, labels, multimask)["masks"] > 1e-2
    # Memory-only weights change nothing on the prompted frame but every tracked one.
    bad = _perturbed_copy(ours, "spatial_perceiver.layers.0.cross_attention.v_proj.weight")
    d, _ = _clip_diffs(ref, bad, frames_dir)
    assert d["low"][0] < LOGIT_TOL and max(d["low"][1:]) > 1e-2, d


# --- behind samlabel's propagation engine ----------------------------------------------------------------


def test_samlabel_propagate_drives_edgetam(tmp_path, ours):
    """``samlabel.video.propagate`` runs EdgeTAM's predictor unchanged (mask prompts from the
    labelled frame, ``release_memory``), writing every other frame's sidecar."""
    import importlib.util as iu
    from pathlib import Path

    from samlabel.video.propagate import propagate

    spec = iu.spec_from_file_location("video_testing", Path(__file__).parents[3] / "video" / "video_testing.py")
    video_testing = iu.module_from_spec(spec)
    spec.loader.exec_module(video_testing)
    sequence = video_testing.make_sequence(tmp_path / "seq")
    report = propagate(sequence, 0, predictor=ours, model_label="edgetam-test")
    assert report.frames == report.written == video_testing.NUM_FRAMES - 1 and not report.cancelled
    assert sorted(p.name for p in sequence.glob("*.json") if p.name.startswith("frame_")) == [
        f"frame_{i:06d}.json" for i in range(video_testing.NUM_FRAMES)
    ]
