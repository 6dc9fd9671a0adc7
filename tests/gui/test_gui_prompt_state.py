"""PromptState: hover vs clicks, boxes, refinement input, candidates (no Qt)."""

import numpy as np

from samlabel.gui.prompt_state import PromptState


def test_empty_state_gives_empty_prompt():
    s = PromptState()
    snap = s.snapshot()
    assert snap.empty and not snap.is_hover


def test_hover_is_a_single_positive_multimask_point():
    s = PromptState()
    assert s.set_hover(10.5, 20.0) is True
    snap = s.snapshot()
    assert snap.is_hover and snap.multimask
    assert snap.points.tolist() == [[10.5, 20.0]] and snap.labels.tolist() == [1]
    assert snap.box is None and snap.mask_input is None


def test_clicks_replace_hover_and_hover_stops_driving_the_prompt():
    s = PromptState()
    s.set_hover(1, 1)
    s.add_point(5, 6, positive=True)
    assert s.set_hover(100, 100) is False  # hover no longer changes the prompt
    snap = s.snapshot()
    assert not snap.is_hover
    assert snap.points.tolist() == [[5, 6]] and snap.labels.tolist() == [1]
    s.add_point(7, 8, positive=False)
    snap = s.snapshot()
    assert snap.labels.tolist() == [1, 0] and not snap.multimask


def test_points_and_box_combine_and_box_is_normalised():
    s = PromptState()
    s.add_point(3, 4)
    s.set_box(50, 60, 10, 20)
    snap = s.snapshot()
    assert snap.box.tolist() == [10, 20, 50, 60]
    assert len(snap.points) == 1 and not snap.multimask


def test_refinement_feeds_previous_logits_of_the_chosen_candidate_only_when_on():
    s = PromptState()
    s.add_point(1, 1)
    logits = np.stack([np.full((256, 256), k, np.float32) for k in range(3)])
    s.set_prediction(logits, best_index=2, from_clicks=True)
    assert s.snapshot().mask_input is None  # a single click has nothing to refine
    s.add_point(2, 2)
    mi = s.snapshot().mask_input
    assert mi.shape == (1, 256, 256) and float(mi[0, 0, 0]) == 2.0
    s.cycle_candidate()  # 2 -> 0
    assert float(s.snapshot().mask_input[0, 0, 0]) == 0.0
    assert s.toggle_refine() is False
    assert s.snapshot().mask_input is None


def test_hover_predictions_are_not_used_for_refinement():
    s = PromptState()
    s.set_hover(1, 1)
    s.set_prediction(np.ones((3, 256, 256), np.float32), 0, from_clicks=False)
    assert s.prev_logits is None


def test_cycle_candidates_wraps():
    s = PromptState()
    s.set_prediction(np.zeros((3, 256, 256), np.float32), 1, from_clicks=False)
    assert [s.cycle_candidate() for _ in range(4)] == [2, 0, 1, 2]
    s.set_prediction(np.zeros((1, 256, 256), np.float32), 0, from_clicks=False)
    assert s.cycle_candidate() == 0


def test_remove_last_point_then_box_then_nothing():
    s = PromptState()
    s.set_box(0, 0, 10, 10)
    s.add_point(5, 5)
    s.prev_logits = np.zeros((1, 256, 256), np.float32)
    assert s.remove_last_point() and s.box is not None and not s.points
    assert s.remove_last_point() and s.box is None
    assert s.prev_logits is None  # nothing left to refine
    assert s.remove_last_point() is False


def test_clear_keeps_hover_and_refine_toggle():
    s = PromptState()
    s.set_hover(4, 4)
    s.toggle_refine()
    s.add_point(1, 1)
    s.clear()
    assert s.snapshot().is_hover and s.refine is False
