"""Segment everything: generator in a task with progress and cancel -> ProposalSet."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from samlabel.gui.dialogs.segment_everything import SegmentEverythingDialog
from samlabel.gui.proposals import ProposalSet, Thresholds, no_proposals_message

IMAGE = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)


def _record(i, area):
    seg = np.zeros(IMAGE.shape[:2], dtype=bool)
    seg.flat[:area] = True
    return {"segmentation": seg, "area": area, "bbox": [0, 0, 40, 1 + area // 40], "predicted_iou": 0.9 - i / 10,
            "stability_score": 0.96, "point_coords": [[1.0, 1.0]], "crop_box": [0, 0, 40, 30]}


class FakeGenerator:
    def __init__(self, gate: threading.Event | None = None, error: Exception | None = None, records=None):
        self.gate = gate
        self.error = error
        self.records = records
        self.started = threading.Event()

    def generate(self, image, progress=None, cancel=None):
        assert image.shape == IMAGE.shape
        self.started.set()
        for done in (4, 8):
            progress(done, 16)
        if self.gate is not None:
            assert self.gate.wait(10)
            if cancel():
                from samlabel.sam.errors import Cancelled

                raise Cancelled("mask generation cancelled")
        if self.error is not None:
            raise self.error
        progress(16, 16)
        if self.records is not None:
            return self.records
        return [_record(0, 200), _record(1, 50), _record(2, 300)]


def _dialog(qtbot, **kwargs):
    dialog = SegmentEverythingDialog(IMAGE, image_key="img.png", **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_proposals_arrive_with_progress(qtbot):
    dialog = _dialog(qtbot, generator=FakeGenerator())
    dialog.area_spin.setValue(100)
    reports = []
    with qtbot.waitSignal(dialog.proposalsReady, timeout=10000) as blocker:
        dialog.start_button.click()
        dialog.task.progress.connect(lambda d, t, m: reports.append((d, t)))
    proposals = blocker.args[0]
    assert isinstance(proposals, ProposalSet) and proposals.image_key == "img.png"
    assert [p.area for p in proposals] == [200, 300]  # 50 px left out by min area; best IoU first
    assert reports[-1] == (16, 16)
    assert dialog.proposals is proposals and not dialog.isVisible()  # closes itself


def test_cancel(qtbot):
    gate = threading.Event()
    generator = FakeGenerator(gate=gate)
    dialog = _dialog(qtbot, generator=generator)
    task = dialog.start()
    assert generator.started.wait(10)
    with qtbot.waitSignal(task.cancelled, timeout=10000):
        dialog.cancel_button.click()
        gate.set()
    assert dialog.proposals is None and dialog.start_button.isEnabled()
    assert dialog.status_label.text() == "Cancelled."


def test_failure_is_shown(qtbot):
    dialog = _dialog(qtbot, generator=FakeGenerator(error=RuntimeError("out of memory")))
    with qtbot.waitSignal(dialog.failed, timeout=10000) as blocker:
        dialog.start()
    assert blocker.args == ["out of memory"]
    assert "out of memory" in dialog.status_label.text() and dialog.isVisible()


def test_bad_arguments():
    with pytest.raises(ValueError):
        SegmentEverythingDialog(IMAGE)
    with pytest.raises(ValueError):
        SegmentEverythingDialog(IMAGE[..., 0], generator=FakeGenerator())


def test_real_generator_on_a_tiny_random_model(qtbot):
    import torch

    from samlabel.sam import build_sam

    torch.manual_seed(0)
    model = build_sam("test_tiny")
    dialog = _dialog(qtbot, model=model)
    dialog.points_spin.setValue(4)
    dialog.iou_spin.setValue(0.0)
    dialog.stability_spin.setValue(0.0)
    dialog.area_spin.setValue(0)
    with qtbot.waitSignal(dialog.proposalsReady, timeout=120000) as blocker:
        dialog.start()
    proposals = blocker.args[0]
    assert len(proposals) > 0
    scores = [p.score for p in proposals]
    assert scores == sorted(scores, reverse=True)
    mask = proposals[0].mask()
    assert mask.shape == IMAGE.shape[:2] and mask.sum() == proposals[0].area


def test_no_proposals_message_suggests_lower_thresholds():
    message = no_proposals_message(Thresholds(pred_iou=0.88, stability=0.95, min_area=100))
    assert "No proposals" in message and "0.88" in message and "0.95" in message
    assert "Lower the thresholds (e.g. to 0.78 and 0.85)" in message
    small = no_proposals_message(Thresholds(0.88, 0.95, min_area=100), too_small=3)
    assert "3 mask(s)" in small and "smaller than 100 px" in small and "minimum area" in small


def test_nothing_found_keeps_the_dialog_open_and_says_what_to_lower(qtbot):
    dialog = _dialog(qtbot, generator=FakeGenerator(records=[]))
    shown = []
    dialog.proposalsReady.connect(shown.append)
    with qtbot.waitSignal(dialog.nothingFound, timeout=10000) as blocker:
        dialog.start_button.click()
    assert "No proposals" in blocker.args[0] and "Lower the thresholds" in blocker.args[0]
    assert blocker.args[0] == dialog.status_label.text()
    assert dialog.isVisible() and dialog.start_button.isEnabled() and shown == []


def test_nothing_left_after_the_minimum_area_says_so(qtbot):
    dialog = _dialog(qtbot, generator=FakeGenerator(records=[_record(0, 50), _record(1, 60)]))
    dialog.area_spin.setValue(100)
    with qtbot.waitSignal(dialog.nothingFound, timeout=10000) as blocker:
        dialog.start()
    assert "2 mask(s)" in blocker.args[0] and "smaller than 100 px" in blocker.args[0]
