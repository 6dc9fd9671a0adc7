"""One pass over a long clip keeps only the memory the model attends to, with the same masks.

``propagate_in_video(..., release_memory=True)`` drops each object's tracked-frame outputs
once they are more than ``memory_window()`` frames behind; the engine propagates that way, so
its memory does not grow with the clip's length. Checked on the small random video model over
a clip longer than the window, forwards and in reverse, against the same pass keeping all."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samlabel.video.propagate import init_state
from video_testing import make_sequence

N = 26  # frames: longer than the window (16 for SAM 2.1's 7 memories and 16 object pointers)


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = make_sequence(tmp_path_factory.mktemp("long") / "seq", n=N, labelled=None)
    return sorted(folder.glob("*.jpg"))


def run(predictor, frames, start: int, reverse: bool, release: bool, sizes: list | None = None):
    state = init_state(predictor, frames)
    predictor.add_new_points_or_box(state, frame_idx=start, obj_id=1, box=[8, 10, 28, 30])
    predictor.add_new_points_or_box(state, frame_idx=start, obj_id=2, points=[[70, 40]], labels=[1])
    out = {}
    for t, ids, logits in predictor.propagate_in_video(state, start_frame_idx=start, reverse=reverse,
                                                       release_memory=release):
        out[t] = logits.clone()
        if sizes is not None:
            sizes.append(max(len(d["non_cond_frame_outputs"]) for d in state["output_dict_per_obj"].values()))
    return out


@pytest.mark.parametrize("reverse", [False, True])
def test_released_memory_gives_the_same_masks_and_stays_within_the_window(small_predictor, frames, reverse):
    start = N - 1 if reverse else 0
    window = small_predictor.memory_window()
    assert window == 16  # SAM 2.1: num_maskmem 7 (stride 1) and max_obj_ptrs_in_encoder 16
    kept = run(small_predictor, frames, start, reverse, release=False)
    sizes: list = []
    released = run(small_predictor, frames, start, reverse, release=True, sizes=sizes)
    assert sorted(kept) == sorted(released) == list(range(N))
    for t in kept:
        assert torch.equal(kept[t], released[t]), f"frame {t} differs"
    assert max(sizes) == window + 1 < N - 1  # the window and the frame just tracked, never more


def test_a_window_too_small_changes_the_masks(small_predictor, frames, monkeypatch):
    """The comparison above can fail: dropping frames the model still reads changes its masks."""
    kept = run(small_predictor, frames, 0, False, release=False)
    monkeypatch.setattr(type(small_predictor), "memory_window", lambda self: 2)
    short = run(small_predictor, frames, 0, False, release=True)
    differ = [t for t in kept if not torch.equal(kept[t], short[t])]
    assert differ and min(differ) >= 3
    assert np.isfinite(torch.stack([short[t] for t in differ]).numpy()).all()


def test_the_engine_propagates_with_released_memory(small_predictor, tmp_path, monkeypatch):
    from samlabel.video.propagate import propagate

    folder = make_sequence(tmp_path / "seq", n=N, labelled=0)
    calls = []
    real = type(small_predictor)._release_memory_behind
    monkeypatch.setattr(type(small_predictor), "_release_memory_behind",
                        lambda self, state, t, reverse: calls.append(t) or real(self, state, t, reverse))
    report = propagate(folder, 0, predictor=small_predictor, model_label="small")
    assert report.frames == N - 1 and calls == list(range(N))
