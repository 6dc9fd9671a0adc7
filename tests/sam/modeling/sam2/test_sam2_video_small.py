"""SAM 2.1 video tracking against Meta's ``sam2`` ``SAM2VideoPredictor`` on a small random model.

The reference is built by ``sam2.build_sam.build_sam2_video_predictor`` from the
``sam2.1_hiera_t`` YAML shrunk by hydra overrides (conftest's ``SMALL_OVERRIDES`` plus a
256 px input and narrow memory modules), its weights perturbed and saved as an official
``{"model": ...}`` checkpoint, which ours must load strictly (every key, video modules
included). On a clip of JPEG frames both predictors get the same session: two objects on
frame 0 (a click and a box), a forward pass, a correction click on a middle frame and a
second pass, then a reverse pass from the last frame; every returned mask and every stored
object score is compared. The reference keeps its CPU quirks out of the comparison:
``fill_hole_area=0`` (it skips the filling without its CUDA extension; ours is tested on its
own) and its memory attention patched to cast the bf16 memory bank to fp32 (it fails
otherwise when no object pointer is in reach, e.g. reversing from the last frame).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from samlabel.sam.errors import CheckpointError
from samlabel.sam.modeling.sam2.config import (
    SAM2_VIDEO_CONFIG_20,
    SAM2_VIDEO_CONFIG_21,
    FpnConfig,
    HieraConfig,
    MemoryAttentionConfig,
    MemoryEncoderConfig,
    Sam2Config,
    Sam2VideoConfig,
)
from samlabel.sam.video.sam2_video_predictor import SAM2VideoPredictor, build_sam_video_predictor, fill_holes_in_mask_scores

pytestmark = pytest.mark.reference

LOGIT_TOL = 1e-3
SCORE_TOL = 1e-4
MASK_FRACTION = 1e-3  # at most 0.1 % of the pixels may differ
NUM_FRAMES = 6
FRAME_HW = (72, 96)
CORRECTION_FRAME = 3
IMAGE_SIZE = 256

# On top of conftest's SMALL_OVERRIDES (neck width 32): a 256 px input (16 x 16 tokens for the
# memory attention, whose RoPE then recomputes its 64 x 64 tables), memory attention of 2 layers
# of width 32, memory width 16 (so each object pointer is split into 2 tokens, as 256 / 64 -> 4
# in the releases).
VIDEO_OVERRIDES = [
    f"++model.image_size={IMAGE_SIZE}",
    "++model.memory_attention.d_model=32",
    "++model.memory_attention.num_layers=2",
    "++model.memory_attention.layer.d_model=32",
    "++model.memory_attention.layer.dim_feedforward=64",
    "++model.memory_attention.layer.self_attention.embedding_dim=32",
    "++model.memory_attention.layer.cross_attention.embedding_dim=32",
    "++model.memory_attention.layer.cross_attention.kv_in_dim=16",
    "++model.memory_encoder.out_dim=16",
    "++model.memory_encoder.in_dim=32",
    "++model.memory_encoder.position_encoding.num_pos_feats=16",
    "++model.memory_encoder.mask_downsampler.embed_dim=32",
    "++model.memory_encoder.fuser.layer.dim=32",
]


REFERENCE_YAML = {"sam2.1": "configs/sam2.1/sam2.1_hiera_t.yaml", "sam2": "configs/sam2/sam2_hiera_t.yaml"}


def small_video_configs(family: str = "sam2.1") -> tuple[Sam2Config, Sam2VideoConfig]:
    trunk = HieraConfig(embed_dim=16, num_heads=2, stages=(1, 2, 3, 1), global_att_blocks=(4,),
                        window_pos_embed_bkg_spatial_size=(7, 7))
    config = Sam2Config(name="test_video_small", trunk=trunk, neck=FpnConfig(d_model=32), image_size=IMAGE_SIZE)
    video = replace(SAM2_VIDEO_CONFIG_21 if family == "sam2.1" else SAM2_VIDEO_CONFIG_20,
                    memory_attention=MemoryAttentionConfig(num_layers=2, dim_feedforward=64),
                    memory_encoder=MemoryEncoderConfig(out_dim=16))
    return config, video


@pytest.fixture(scope="module", autouse=True)
def _pinned_threads():
    # One thread: the same kernels on both sides, and on a shared 2-core machine one thread runs
    # these small ops about 5x faster than two.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory, sam2_helpers):
    """A clip: a still background with a red bar moving right and a dark disc moving down."""
    d = tmp_path_factory.mktemp("video_frames")
    h, w = FRAME_HW
    background = sam2_helpers.smooth_image(h, w, seed=5)
    yy, xx = np.mgrid[:h, :w]
    for i in range(NUM_FRAMES):
        img = background.copy()
        img[20:40, 8 + 5 * i : 34 + 5 * i] = (240, 30, 30)
        img[(yy - 20 - 4 * i) ** 2 + (xx - 70) ** 2 < 100] = (20, 20, 60)
        Image.fromarray(img).save(d / f"{i:05d}.jpg", quality=95)
    return d


def _patch_reference_memory_dtype(ref) -> None:
    """The fix ours has built in: the bf16 memory bank in fp32 before the memory attention."""
    forward = ref.memory_attention.forward

    def patched(curr, memory, curr_pos=None, memory_pos=None, num_obj_ptr_tokens=0):
        return forward(curr, memory.float(), curr_pos, memory_pos.float(), num_obj_ptr_tokens)

    ref.memory_attention.forward = patched


def build_reference_video(sam2_helpers, add_all_frames_to_correct_as_cond: bool, seed: int = 0, family: str = "sam2.1"):
    from sam2.build_sam import build_sam2_video_predictor

    overrides = list(sam2_helpers.SMALL_OVERRIDES) + VIDEO_OVERRIDES
    if add_all_frames_to_correct_as_cond:
        overrides.append("++model.add_all_frames_to_correct_as_cond=true")
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = build_sam2_video_predictor(REFERENCE_YAML[family], ckpt_path=None, device="cpu",
                                         hydra_overrides_extra=overrides)
    sam2_helpers.perturb_(ref, seed + 1).eval()
    assert ref.add_all_frames_to_correct_as_cond is add_all_frames_to_correct_as_cond
    assert ref.fill_hole_area == 8 and ref.binarize_mask_from_pts_for_mem_enc
    ref.fill_hole_area = 0
    _patch_reference_memory_dtype(ref)
    return ref


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, sam2_helpers):
    """The reference (with the default ``add_all_frames_to_correct_as_cond``) and its checkpoint."""
    ref = build_reference_video(sam2_helpers, add_all_frames_to_correct_as_cond=False)
    path = tmp_path_factory.mktemp("sam2_video") / "sam2.1_video_small_random.pt"
    sam2_helpers.save_official(ref, path)
    return ref, path


def build_ours(path, family: str = "sam2.1", **options) -> SAM2VideoPredictor:
    config, video = small_video_configs(family)
    return build_sam_video_predictor(config, checkpoint=path, video_config=video, **options)


def _all_scores(state) -> list[torch.Tensor]:
    """Per object, the stored object score logits of every frame, in frame order."""
    out = []
    for obj_idx in range(len(state["obj_ids"])):
        d = state["output_dict_per_obj"][obj_idx]
        frames = {**d["non_cond_frame_outputs"], **d["cond_frame_outputs"]}
        out.append(torch.cat([frames[t]["object_score_logits"] for t in sorted(frames)]))
    return out


def _frozen(output):
    """A step's ``(frame_idx, obj_ids, masks)`` with its own copy of ``obj_ids`` (the state's list)."""
    return output[0], list(output[1]), output[2]


def _frozen_all(outputs) -> list:
    return [_frozen(x) for x in outputs]


def run_session(predictor, video_dir) -> dict:
    """The labelling session both predictors go through; every output, keyed by step."""
    h, w = FRAME_HW
    rec = {}
    state = predictor.init_state(str(video_dir))
    rec["point"] = _frozen(predictor.add_new_points_or_box(state, 0, 1, points=[[0.25 * w, 0.4 * h]], labels=[1]))
    rec["box"] = _frozen(predictor.add_new_points_or_box(state, 0, 2, box=[0.55 * w, 0.1 * h, 0.95 * w, 0.7 * h]))
    t0 = time.perf_counter()
    rec["forward"] = _frozen_all(predictor.propagate_in_video(state))
    rec["seconds_per_frame"] = (time.perf_counter() - t0) / NUM_FRAMES
    rec["correction"] = _frozen(predictor.add_new_points_or_box(
        state, CORRECTION_FRAME, 1, points=[[0.5 * w, 0.5 * h]], labels=[0], clear_old_points=False
    ))
    rec["forward_again"] = _frozen_all(predictor.propagate_in_video(state))
    rec["reverse"] = _frozen_all(predictor.propagate_in_video(state, start_frame_idx=NUM_FRAMES - 1, reverse=True))
    rec["scores"] = _all_scores(state)
    rec["cond_frames"] = [sorted(state["output_dict_per_obj"][i]["cond_frame_outputs"]) for i in range(2)]
    rec["state"] = state
    return rec


def _compare_masks(r, o, what: str) -> tuple[float, float]:
    """Assert one step's ``(frame_idx, obj_ids, video_res_masks)`` equal; returns (max |dlogit|, fraction)."""
    assert o[0] == r[0] and list(o[1]) == list(r[1]), what
    assert o[2].shape == r[2].shape == (len(r[1]), 1, *FRAME_HW), what
    diff = (o[2] - r[2]).abs().max().item()
    fraction = ((o[2] > 0) != (r[2] > 0)).float().mean().item()
    assert diff <= LOGIT_TOL, f"{what}: max logit deviation {diff}"
    assert fraction <= MASK_FRACTION, f"{what}: {fraction:.4%} of the mask pixels differ"
    return diff, fraction


# (id, add_all_frames_to_correct_as_cond, shift of the object-score head's output bias, family). The
# random model's object scores are all about +0.05 (every object always "present"); shifted by
# -0.055 they straddle 0, so objects get lost and found again: NO_OBJ_SCORE masks, the
# ``no_obj_ptr`` pointer and the ``no_obj_embed_spatial`` memory are exercised too. SAM 2.0
# (no temporal encoding of the pointers, no ``no_obj_embed_spatial``) has its own random weights,
# whose scores (about -0.2) are shifted to find objects.
SESSIONS = [("correct_as_cond", True, 0.0, "sam2.1"), ("reference_default", False, 0.0, "sam2.1"),
            ("objects_lost", True, -0.055, "sam2.1"), ("sam2.0", True, 0.22, "sam2")]


@pytest.fixture(scope="module", params=SESSIONS, ids=[s[0] for s in SESSIONS])
def sessions(request, checkpoint, frames_dir, sam2_helpers, tmp_path_factory):
    """``(case, reference record, our record)``: the session run by both predictors."""
    case, flag, score_shift, family = request.param
    ref = build_reference_video(sam2_helpers, add_all_frames_to_correct_as_cond=flag, family=family, seed=0 if family == "sam2.1" else 4)
    path = checkpoint[1]
    if family == "sam2.1":
        ref.load_state_dict(checkpoint[0].state_dict())
    else:
        path = tmp_path_factory.mktemp("sam2_video_20") / "sam2_video_small_random.pt"
        sam2_helpers.save_official(ref, path)
    if score_shift:
        with torch.no_grad():
            ref.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.add_(score_shift)
        path = tmp_path_factory.mktemp("sam2_video_shifted") / "shifted.pt"
        sam2_helpers.save_official(ref, path)
    ours = build_ours(path, family=family, fill_hole_area=0, add_all_frames_to_correct_as_cond=flag)
    assert sorted(ours.state_dict()) == sorted(ref.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = run_session(ref, frames_dir)
    o = run_session(ours, frames_dir)
    return case, r, o


def test_checkpoint_loads_strictly(checkpoint):
    ref, path = checkpoint
    ours = build_ours(path)
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert sorted(our_sd) == sorted(ref_sd)
    for k, v in our_sd.items():
        assert v.shape == ref_sd[k].shape and torch.equal(v, ref_sd[k]), k
    assert ours.ignored_keys == []
    assert not ours.training and ours.fill_hole_area == 8 and ours.add_all_frames_to_correct_as_cond


def test_checkpoint_problems_raise(checkpoint, tmp_path):
    ref, _ = checkpoint
    sd = dict(ref.state_dict())
    del sd["memory_attention.layers.0.linear1.weight"]
    sd["maskmem_tpos_enc"] = torch.zeros(3, 1, 1, 16)
    torch.save({"model": sd}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="memory_attention.layers.0.linear1.weight") as info:
        build_ours(tmp_path / "bad.pt")
    assert "maskmem_tpos_enc" in str(info.value)


def test_frames_equal_reference_loading(checkpoint, frames_dir):
    from sam2.utils.misc import load_video_frames as ref_load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_images, rh, rw = ref_load(str(frames_dir), IMAGE_SIZE, offload_video_to_cpu=True, compute_device=torch.device("cpu"))
    ours = build_ours(checkpoint[1])
    from samlabel.sam.video.sam2_video_predictor import load_video_frames

    frames, h, w = load_video_frames(frames_dir, IMAGE_SIZE)
    assert (h, w) == (rh, rw) == FRAME_HW and len(frames) == len(ref_images) == NUM_FRAMES
    for i in (3, 0, 5, 3):
        assert torch.equal(frames[i], ref_images[i]), i
    assert ours.image_size == IMAGE_SIZE


def test_session_equals_reference(sessions):
    case, r, o = sessions
    worst = {"logit": 0.0, "fraction": 0.0, "score": 0.0}

    def note(diff_fraction):
        worst["logit"] = max(worst["logit"], diff_fraction[0])
        worst["fraction"] = max(worst["fraction"], diff_fraction[1])

    for step in ("point", "box", "correction"):
        note(_compare_masks(r[step], o[step], step))
    for step in ("forward", "forward_again", "reverse"):
        assert [x[0] for x in o[step]] == [x[0] for x in r[step]], step
        for rr, oo in zip(r[step], o[step]):
            note(_compare_masks(rr, oo, f"{step} frame {rr[0]}"))
    assert [x[0] for x in r["reverse"]] == list(range(NUM_FRAMES - 1, -1, -1))
    assert o["cond_frames"] == r["cond_frames"]
    for rs, os_ in zip(r["scores"], o["scores"]):
        assert os_.shape == rs.shape == (NUM_FRAMES, 1)
        worst["score"] = max(worst["score"], (os_ - rs).abs().max().item())
    assert worst["score"] <= SCORE_TOL
    scores = torch.cat(r["scores"])
    if case == "objects_lost":
        assert (scores > 0).any() and (scores <= 0).any(), scores.flatten()
    elif case == "sam2.0":
        assert (scores > 0).sum() >= len(scores) // 2, scores.flatten()
    else:
        assert (scores > 0).all(), scores.flatten()
    print(f"{case}: max |d logit| {worst['logit']:.3g}, max mask pixels differing "
          f"{worst['fraction']:.3%}, max |d object score| {worst['score']:.3g}; s/frame (2 objects) reference "
          f"{r['seconds_per_frame']:.3f}, ours {o['seconds_per_frame']:.3f}")


def test_correction_is_kept(sessions):
    """With ``add_all_frames_to_correct_as_cond`` the corrected frame becomes a conditioning frame
    and the next pass returns the corrected mask there; with the reference default the pass
    overwrites it with a tracked mask (sam2 issues #719, #731)."""
    case, _, o = sessions
    flag = case != "reference_default"
    corrected = o["correction"][2][0]
    again = next(m for t, _, m in o["forward_again"] if t == CORRECTION_FRAME)[0]
    if flag:
        assert o["cond_frames"][0] == [0, CORRECTION_FRAME]
        assert torch.equal(again, corrected)
    else:
        assert o["cond_frames"][0] == [0]
        assert CORRECTION_FRAME in o["state"]["output_dict_per_obj"][0]["non_cond_frame_outputs"]


def test_reference_fails_without_the_memory_cast(checkpoint, frames_dir, sam2_helpers):
    """Why the reference is patched: reversing from the last frame, no object pointer is in reach,
    the bank is all bf16 and its memory attention fails on CPU; ours tracks (same masks as the
    patched reference, see the sessions above)."""
    ref = build_reference_video(sam2_helpers, add_all_frames_to_correct_as_cond=False)
    ref.load_state_dict(checkpoint[0].state_dict())
    del ref.memory_attention.forward  # the unpatched method again
    ours = build_ours(checkpoint[1], fill_hole_area=0)
    last = NUM_FRAMES - 1
    for p in (ref, ours):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = p.init_state(str(frames_dir))
            p.add_new_points_or_box(state, 0, 1, points=[[30, 30]], labels=[1])
            list(p.propagate_in_video(state))
            if p is ref:
                with pytest.raises(RuntimeError, match="dtype"):
                    list(p.propagate_in_video(state, start_frame_idx=last, reverse=True))
            else:
                assert [t for t, _, _ in p.propagate_in_video(state, start_frame_idx=last, reverse=True)] == list(
                    range(last, -1, -1))


def test_fill_holes_in_mask_scores():
    mask = torch.full((2, 1, 12, 14), 5.0)
    mask[0, 0, 2:4, 2:4] = -3.0  # a 4-pixel hole: filled
    mask[0, 0, 6:9, 6:10] = -1.0  # a 12-pixel hole: kept
    mask[0, 0, 0, 13] = 0.0  # a corner pixel at exactly 0 (background): filled
    mask[1, 0, 3, 3] = -2.0  # two diagonal pixels: one 8-connected hole of 2
    mask[1, 0, 4, 4] = -2.0
    mask[1, 0, :, 10:] = -4.0  # the touching-the-border background strip of 24 pixels: kept
    out = fill_holes_in_mask_scores(mask, 8)
    expected = mask.clone()
    expected[0, 0, 2:4, 2:4] = 0.1
    expected[0, 0, 0, 13] = 0.1
    expected[1, 0, 3, 3] = expected[1, 0, 4, 4] = 0.1
    assert torch.equal(out, expected)
    assert torch.equal(fill_holes_in_mask_scores(mask, 12)[0, 0, 6:9, 6:10], torch.full((3, 4), 0.1))


def test_fill_hole_area_applied(checkpoint, frames_dir):
    """The predictor's masks with ``fill_hole_area`` are its masks without, holes filled."""
    path = checkpoint[1]
    plain, filled = build_ours(path, fill_hole_area=0), build_ours(path, fill_hole_area=1000)
    outs = []
    for p in (plain, filled):
        state = p.init_state(str(frames_dir))
        p.add_new_points_or_box(state, 0, 1, points=[[30, 30]], labels=[1])
        list(p.propagate_in_video(state, max_frame_num_to_track=1))
        outs.append([state["output_dict_per_obj"][0][k][t]["pred_masks"]
                     for k, t in (("cond_frame_outputs", 0), ("non_cond_frame_outputs", 1))])
    (a0, a1), (b0, b1) = outs
    # The prompted frame: the same scores, holes filled. The tracked frame differs otherwise too
    # (its memory came from the filled mask, as in the reference), but has no holes left.
    assert torch.equal(b0, fill_holes_in_mask_scores(a0, 1000))
    assert not torch.equal(a0, b0)
    assert torch.equal(b1, fill_holes_in_mask_scores(b1, 1000))


def test_mask_prompt_and_object_edits_equal_reference(checkpoint, frames_dir, sam2_helpers):
    """``add_new_mask``, ``clear_all_prompts_in_frame``, ``remove_object`` and ``reset_state``
    (reference default settings, a short pass)."""
    ref, path = checkpoint
    ours = build_ours(path, fill_hole_area=0, add_all_frames_to_correct_as_cond=False)
    h, w = FRAME_HW
    mask = np.zeros(FRAME_HW, dtype=bool)
    mask[20:40, 8:34] = True
    results = []
    for p in (ref, ours):
        rec = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = p.init_state(str(frames_dir))
            rec["mask"] = _frozen(p.add_new_mask(state, 0, 5, mask))
            rec["point"] = _frozen(p.add_new_points_or_box(state, 1, 7, points=[[0.7 * w, 0.3 * h]], labels=[1]))
            rec["pass"] = _frozen_all(p.propagate_in_video(state, max_frame_num_to_track=2))
            rec["clear"] = _frozen(p.clear_all_prompts_in_frame(state, 1, 7))
            rec["point2"] = _frozen(p.add_new_points_or_box(state, 1, 7, points=[[0.7 * w, 0.4 * h]], labels=[1]))
            ids, updated = p.remove_object(state, 5)
            rec["remove"] = (list(ids), [t for t, _ in updated])
            rec["pass2"] = _frozen_all(p.propagate_in_video(state, max_frame_num_to_track=1))
            p.reset_state(state)
            rec["reset"] = (list(state["obj_ids"]), dict(state["output_dict_per_obj"]))
        results.append(rec)
    r, o = results
    for step in ("mask", "point", "clear", "point2"):
        _compare_masks(r[step], o[step], step)
    for step in ("pass", "pass2"):
        assert [x[0] for x in o[step]] == [x[0] for x in r[step]]
        for rr, oo in zip(r[step], o[step]):
            _compare_masks(rr, oo, f"{step} frame {rr[0]}")
    assert o["remove"] == r["remove"] == ([7], [0])
    assert o["reset"] == r["reset"] == ([], {})
