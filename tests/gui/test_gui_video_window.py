"""Issue 28 in the window: opening a video, the timeline of a sequence, propagation from the
frame on screen, marking frames reviewed (samlabel.gui.video_controller)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QToolButton

from samlabel.annotations.project import Project
from samlabel.annotations.shapes import Shape
from samlabel.annotations.sidecar_guard import OutsideEditChoice
from samlabel.gui.dialogs.propagate_dialog import PropagateOptions, describe_report, object_rgb
from samlabel.gui.timeline_model import FrameState, frame_x
from samlabel.video.objects import FRAME_KEY, mark

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))
from video_testing import NUM_FRAMES, make_sequence, small_video_predictor, write_video  # noqa: E402

LABEL = "sam2.1_hiera_tiny"
WAIT = 60000


@pytest.fixture(scope="module")
def small_predictor():
    """The video tests' small random SAM 2.1 video predictor (video_testing.small_video_predictor)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield small_video_predictor()
    torch.set_num_threads(before)


class GatedPredictor:
    """The small predictor, but the tracker waits before yielding frame ``gate_at`` until
    ``release`` is set; ``lose`` ``{frame index: object id}`` makes the model lose that object
    there (its logits negative)."""

    def __init__(self, inner, gate_at=None, lose=None):
        self.inner, self.gate_at, self.lose = inner, gate_at, lose or {}
        self.reached, self.release = threading.Event(), threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def propagate_in_video(self, state, **kw):
        for frame_idx, obj_ids, logits in self.inner.propagate_in_video(state, **kw):
            if frame_idx == self.gate_at:
                self.reached.set()
                self.release.wait(30)
            if frame_idx in self.lose:
                logits = logits.clone()
                logits[list(obj_ids).index(self.lose[frame_idx])] = -10.0
            yield frame_idx, obj_ids, logits


@pytest.fixture
def sequence(tmp_path):
    return make_sequence(tmp_path / "seq")


@pytest.fixture
def seq_window(make_window, sequence, small_predictor):
    win = make_window(sequence)
    win.video.predictor_factory = lambda: (small_predictor, LABEL)
    return win


def _wait_timeline(qtbot, win):
    qtbot.waitUntil(lambda: win.video.timeline_ready, timeout=WAIT)


def _run(qtbot, task):
    qtbot.waitUntil(lambda: task.state != "running", timeout=WAIT)
    return task.state


def _states(win):
    return [m.state for m in win.video.timeline.marks()]


# ---------------------------------------------------------------------- timeline
def test_a_sequence_gets_a_timeline_and_keys_move_through_it(qtbot, seq_window):
    win = seq_window
    _wait_timeline(qtbot, win)
    dock = win.video.dock
    assert dock.isVisible()
    assert dock.position_label.text() == f"Frame 1 / {NUM_FRAMES} — frame_000000.jpg"
    assert _states(win) == [FrameState.EDITED] + [FrameState.EMPTY] * (NUM_FRAMES - 1)
    qtbot.keyClick(win, Qt.Key.Key_End)
    assert win.index == NUM_FRAMES - 1
    assert dock.position_label.text() == f"Frame {NUM_FRAMES} / {NUM_FRAMES} — frame_000004.jpg"
    qtbot.keyClick(win, Qt.Key.Key_A)
    assert win.index == NUM_FRAMES - 2 and win.video.timeline.current == NUM_FRAMES - 2
    qtbot.keyClick(win, Qt.Key.Key_Home)
    assert win.index == 0
    # a click on the bar opens the frame under it
    bar = dock.bar
    track = bar._track()
    left, right = frame_x(3, track.width(), NUM_FRAMES)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=QPoint(int(track.left() + (left + right) / 2), bar.height() // 2))
    assert win.index == 3 and win.image_path.name == "frame_000003.jpg"
    qtbot.mouseClick(dock.findChild(QToolButton, "timeline_action_first_frame"), Qt.MouseButton.LeftButton)
    assert win.index == 0


def test_dragging_on_the_timeline_opens_the_frame_it_rests_on(qtbot, seq_window):
    from PySide6.QtTest import QTest

    win = seq_window
    _wait_timeline(qtbot, win)
    bar = win.video.dock.bar
    track = bar._track()

    def x_of(i):
        left, right = frame_x(i, track.width(), NUM_FRAMES)
        return QPoint(int(track.left() + (left + right) / 2), bar.height() // 2)

    chosen = []
    bar.frameChosen.connect(chosen.append)
    QTest.mousePress(bar, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, x_of(1))
    assert win.index == 0 and bar.shown_index() == 1  # pressed: the handle moves, nothing opens yet
    QTest.mouseMove(bar, x_of(2))
    QTest.mouseMove(bar, x_of(3))  # passing over frame 2 opens nothing
    qtbot.waitUntil(lambda: win.index == 3, timeout=5000)  # resting on frame 3 (button still down) opens it
    assert win.image_path.name == "frame_000003.jpg" and chosen == [3]  # frame 2, passed over, was not opened
    QTest.mouseMove(bar, x_of(4))
    QTest.mouseRelease(bar, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, x_of(4))
    assert win.index == 4 and bar.shown_index() == 4  # the release opens the last frame at once
    # a press whose release went elsewhere: the next move without the button ends the drag
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    QTest.mousePress(bar, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, x_of(1))
    assert bar.shown_index() == 1
    pos = QPointF(x_of(2))
    QApplication.sendEvent(bar, QMouseEvent(QEvent.Type.MouseMove, pos, bar.mapToGlobal(pos), Qt.MouseButton.NoButton,
                                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
    assert bar.shown_index() == 4 and not bar._scrub.isActive()  # back on the open frame; nothing will open


def test_a_plain_image_folder_has_no_timeline(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    assert win.image_path.name == "a.png"
    assert win.video.timeline is None and not win.video.dock.isVisible()


# ---------------------------------------------------------------------- opening a video
def _video(tmp_path):
    video = write_video(tmp_path / "videos")
    if video is None:
        pytest.skip("this OpenCV can write no video")
    return video


def test_opening_a_video_expands_it_and_opens_the_frames(qtbot, make_window, tmp_path):
    video = _video(tmp_path)
    win = make_window()
    assert win.open_path(video)  # as from the command line: a video path
    task = win.video.expand_task
    assert _run(qtbot, task) == "finished"
    frames = video.with_name(f"{video.stem}_frames")
    qtbot.waitUntil(lambda: win.project is not None and win.project.root == frames, timeout=WAIT)
    assert [p.name for p in win.project.images] == [f"frame_{i:06d}.jpg" for i in range(NUM_FRAMES)]
    assert win.image_path.name == "frame_000000.jpg"
    _wait_timeline(qtbot, win)
    assert win.video.dock.isVisible()
    assert not win.video.expand_dialog.isVisible()
    # opened again: the frames already there are opened, nothing is expanded again
    stamp = (frames / "frame_000000.jpg").stat().st_mtime_ns
    win.video.expand_task = None
    assert win.video.open_video(video)
    assert win.video.expand_task is None and (frames / "frame_000000.jpg").stat().st_mtime_ns == stamp


def test_file_open_video_asks_for_a_file_and_opens_its_frames(qtbot, make_window, tmp_path, monkeypatch):
    from samlabel.gui import video_controller
    from samlabel.gui.window_files import IMAGE_FILTER

    video = _video(tmp_path)
    asked = []

    def choose(parent, title, start, filter_text):
        asked.append(filter_text)
        return str(video), ""

    monkeypatch.setattr(video_controller.QFileDialog, "getOpenFileName", choose)
    win = make_window()
    win.actions_by_id["open_video"].trigger()
    assert "*.mp4" in asked[0] and "*.webm" in asked[0]
    assert _run(qtbot, win.video.expand_task) == "finished"
    qtbot.waitUntil(lambda: win.project is not None and len(win.project.images) == NUM_FRAMES, timeout=WAIT)
    assert "*.mp4" in IMAGE_FILTER and "*.png" in IMAGE_FILTER  # File ▸ Open image… takes a video too


def test_cancelling_the_expansion_leaves_no_folder(qtbot, make_window, tmp_path, monkeypatch):
    import samlabel.video.expand as expand

    video = _video(tmp_path)
    real = expand.expand_video
    reached, release = threading.Event(), threading.Event()

    def gated(video, out, progress=None, cancel=None, **kw):
        def slow_progress(done, total, message):
            if done == 2:
                reached.set()
                release.wait(30)
            progress(done, total, message)

        return real(video, out, progress=slow_progress, cancel=cancel, **kw)

    monkeypatch.setattr(expand, "expand_video", gated)
    win = make_window()
    assert win.video.open_video(video)
    dialog = win.video.expand_dialog
    assert reached.wait(30)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    release.set()
    assert _run(qtbot, win.video.expand_task) == "cancelled"
    assert sorted(p.name for p in video.parent.iterdir()) == [video.name]  # no frames folder, no temporary one
    assert "nothing was written" in dialog.status_label.text()
    assert win.project is None


def test_a_broken_video_is_named(qtbot, make_window, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    win = make_window()
    win.video.open_video(bad)
    assert _run(qtbot, win.video.expand_task) == "failed"
    text = win.video.expand_dialog.status_label.text()
    assert str(bad) in text and "cannot open the video" in text
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".broken", "broken"))) == ["broken.mp4"]


# ---------------------------------------------------------------------- propagation
def test_propagate_from_the_dialog_writes_every_frame_and_marks_them(qtbot, seq_window):
    win = seq_window
    _wait_timeline(qtbot, win)
    win.actions_by_id["propagate"].trigger()
    dialog = win.video.propagate_dialog
    assert dialog.isVisible() and dialog.start_button.isEnabled()
    assert dialog.options() == PropagateOptions(reverse=False, max_frames=None, overwrite=False)
    seen = []
    dialog.frameShown.connect(seen.append)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    task = win.video.propagate_task
    assert _run(qtbot, task) == "finished"
    project = Project(win.project.root)
    for image in project.images[1:]:
        annotation = project.load(image)
        assert annotation.extra[FRAME_KEY]["source"] == "frame_000000.jpg"
        assert sorted(mark(s)["object"] for s in annotation.shapes) == ["ball@0", "car#1"]
    assert _states(win) == [FrameState.EDITED] + [FrameState.PROPAGATED] * (NUM_FRAMES - 1)
    assert win.video.timeline.computing is None
    assert dialog.status_label.text().startswith("Done: 2 object(s) from frame_000000.jpg, 4 frame(s), 4 sidecar(s) written")
    assert seen[-1] == "frame_000004.jpg"  # the preview followed the frames
    assert dialog.preview_caption.text() == "frame_000004.jpg: 2 shape(s)"
    assert all(win.files_dock.is_marked(p) for p in project.images)


def test_backward_over_the_next_frames_only(qtbot, seq_window):
    win = seq_window
    _wait_timeline(qtbot, win)
    # label the last frame, as a person would: the source of a backward run
    qtbot.keyClick(win, Qt.Key.Key_End)
    win.document.add_shape(Shape.polygon("car", [[40, 20], [60, 20], [60, 40], [40, 40]], group_id=1))
    assert win.save_now()
    dialog = win.video.show_propagate_dialog()
    dialog.backward.setChecked(True)
    dialog.next_n.setChecked(True)
    dialog.frames_spin.setValue(2)
    assert dialog.options() == PropagateOptions(reverse=True, max_frames=2, overwrite=False)
    dialog.start()
    assert _run(qtbot, win.video.propagate_task) == "finished"
    assert _states(win) == [FrameState.EDITED, FrameState.EMPTY, FrameState.PROPAGATED, FrameState.PROPAGATED,
                            FrameState.EDITED]
    assert not (win.project.root / "frame_000001.json").exists()


def test_a_frame_without_shapes_cannot_be_a_source(qtbot, seq_window):
    win = seq_window
    qtbot.keyClick(win, Qt.Key.Key_D)
    assert win.image_path.name == "frame_000001.jpg"
    qtbot.keyClick(win, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    dialog = win.video.propagate_dialog
    assert not dialog.start_button.isEnabled()
    text = dialog.status_label.text()
    assert "frame_000001.json" in text and "has no shapes to propagate" in text
    assert "c0392b" in dialog.status_label.styleSheet()  # shown as an error


def test_no_video_model_is_named(qtbot, make_window, sequence, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMLABEL_CHECKPOINT_DIR", str(tmp_path / "no-checkpoints"))
    win = make_window(sequence)  # predictor_factory left as the app's: a downloaded video model
    dialog = win.video.show_propagate_dialog()
    dialog.start()
    assert _run(qtbot, win.video.propagate_task) == "failed"
    text = dialog.status_label.text()
    assert "none is downloaded" in text and "Download video model" in text and "samlabel download edgetam" in text
    assert not (sequence / "frame_000001.json").exists()
    assert dialog.start_button.isEnabled()  # another try is possible


def test_cancel_keeps_the_frames_done(qtbot, seq_window, small_predictor):
    win = seq_window
    gated = GatedPredictor(small_predictor, gate_at=2)
    win.video.predictor_factory = lambda: (gated, LABEL)
    dialog = win.video.show_propagate_dialog()
    dialog.start()
    assert gated.reached.wait(30)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    gated.release.set()
    assert _run(qtbot, win.video.propagate_task) == "cancelled"
    root = win.project.root
    assert (root / "frame_000001.json").exists()
    assert not any((root / f"frame_00000{i}.json").exists() for i in (2, 3, 4))
    assert dialog.status_label.text().startswith("Cancelled")
    qtbot.waitUntil(lambda: _states(win)[:3] == [FrameState.EDITED, FrameState.PROPAGATED, FrameState.EMPTY])
    assert win.video.timeline.computing is None


def test_the_timeline_follows_the_frames_as_they_land(qtbot, seq_window, small_predictor):
    win = seq_window
    _wait_timeline(qtbot, win)
    gated = GatedPredictor(small_predictor, gate_at=3)
    win.video.predictor_factory = lambda: (gated, LABEL)
    task = win.video.start_propagation(PropagateOptions())
    assert gated.reached.wait(30)
    # frames 1 and 2 are written, 3 is being computed: the marks show it while the job runs
    qtbot.waitUntil(lambda: _states(win)[1:3] == [FrameState.PROPAGATED] * 2, timeout=WAIT)
    assert task.is_running() and _states(win)[3:] == [FrameState.EMPTY] * 2
    qtbot.waitUntil(lambda: win.video.timeline.computing == 3, timeout=WAIT)  # after the last frame written
    gated.release.set()
    assert _run(qtbot, task) == "finished"
    assert _states(win) == [FrameState.EDITED] + [FrameState.PROPAGATED] * (NUM_FRAMES - 1)


def test_a_lost_object_is_flagged_on_its_frame(qtbot, seq_window, small_predictor):
    win = seq_window
    win.video.predictor_factory = lambda: (GatedPredictor(small_predictor, lose={3: 2}), LABEL)  # the ball, frame 3
    dialog = win.video.show_propagate_dialog()
    dialog.start()
    assert _run(qtbot, win.video.propagate_task) == "finished"
    assert win.video.timeline.lost_frames() == [3]
    assert win.video.timeline.mark(3).lost == ("ball@0",)
    assert "Lost: ball@0 on frame_000003.jpg." in dialog.status_label.text()
    assert "1 with a lost object" in win.video.dock.summary_label.text()
    assert not win.video.dock.lost_label.isVisible()  # not on the frame shown
    dialog.close()
    win.video.go_to_frame(3)
    assert win.video.dock.lost_label.isVisible() and win.video.dock.lost_label.text() == "⚠ lost here: ball"
    assert win.next_image() and win.index == 4
    assert not win.video.dock.lost_label.isVisible()


def test_the_frame_on_screen_shows_what_propagation_wrote(qtbot, seq_window):
    win = seq_window
    qtbot.keyClick(win, Qt.Key.Key_D)
    qtbot.keyClick(win, Qt.Key.Key_D)
    assert win.image_path.name == "frame_000002.jpg" and not win.document.shapes
    task = win.video.start_propagation(PropagateOptions(), source=0)
    assert _run(qtbot, task) == "finished"
    qtbot.waitUntil(lambda: len(win.document.shapes) == 2, timeout=WAIT)  # reloaded through the outside-edit path
    assert not win.document.is_dirty
    assert len(win.layer.order) == 2
    win.undo()  # "Reload from disk" is one undoable step
    assert not win.document.shapes


def test_the_frame_being_edited_is_held_and_becomes_the_persons(qtbot, seq_window, monkeypatch):
    win = seq_window
    qtbot.keyClick(win, Qt.Key.Key_D)
    monkeypatch.setattr(win, "_schedule_autosave", lambda: None)  # the edit stays unsaved
    mine = Shape.polygon("dog", [[5, 5], [20, 5], [20, 20]])
    win.document.add_shape(mine)
    assert win.document.is_dirty
    task = win.video.start_propagation(PropagateOptions(), source=0)
    assert _run(qtbot, task) == "finished"
    # the run left the frame under the unsaved edit alone, said so, and wrote the others
    assert task.result.held == ["frame_000001.jpg"] and task.result.written == NUM_FRAMES - 2
    assert "held while being edited (frame_000001.jpg)" in win.statusBar().currentMessage()
    assert [s.label for s in win.document.shapes] == ["dog"] and win.document.is_dirty
    sidecar = win.project.root / "frame_000001.json"
    assert not sidecar.exists()
    # held by path: the same frame name in another sequence is not
    assert win.video._holds(Path(win.project.root), "frame_000001.jpg")
    assert not win.video._holds(Path(win.project.root).parent / "other_frames", "frame_000001.jpg")
    # saving asks nothing (nothing was written under the edit) and the frame is the person's
    asked = []
    monkeypatch.setattr(win, "_ask_outside_edit", lambda change: asked.append(change) or OutsideEditChoice.KEEP_MINE)
    assert win.save_now()
    assert asked == []
    assert [s["label"] for s in json.loads(sidecar.read_text())["shapes"]] == ["dog"]
    _wait_timeline(qtbot, win)
    win.video.refresh_frames(None)
    assert _states(win)[1] is FrameState.EDITED


def test_a_frame_with_unsaved_edits_is_written_once_they_are_undone(qtbot, seq_window):
    """Held only while dirty: the same frame, its edit undone, is written by the next run."""
    win = seq_window
    qtbot.keyClick(win, Qt.Key.Key_D)
    win.document.add_shape(Shape.polygon("dog", [[5, 5], [20, 5], [20, 20]]))
    win.undo()
    assert not win.document.is_dirty
    task = win.video.start_propagation(PropagateOptions(), source=0)
    assert _run(qtbot, task) == "finished"
    assert task.result.held == [] and task.result.written == NUM_FRAMES - 1
    qtbot.waitUntil(lambda: len(win.document.shapes) == 2, timeout=WAIT)  # shown through the reload


# ---------------------------------------------------------------------- reviewed
def test_mark_reviewed_is_saved_undoable_and_respected_by_propagation(qtbot, seq_window):
    win = seq_window
    _wait_timeline(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_D)
    qtbot.keyClick(win, Qt.Key.Key_D)
    sidecar = win.project.root / "frame_000002.json"
    action = win.actions_by_id["toggle_reviewed"]
    assert not action.isChecked()
    qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert action.isChecked() and win.document.annotation.flags == {"reviewed": True}
    qtbot.waitUntil(lambda: sidecar.exists() and json.loads(sidecar.read_text())["flags"] == {"reviewed": True})
    qtbot.waitUntil(lambda: win.video.timeline.mark(2).state is FrameState.REVIEWED)
    win.undo()
    assert not action.isChecked()
    qtbot.waitUntil(lambda: json.loads(sidecar.read_text())["flags"] == {})
    qtbot.waitUntil(lambda: win.video.timeline.mark(2).state is FrameState.EMPTY)
    win.redo()
    qtbot.waitUntil(lambda: json.loads(sidecar.read_text())["flags"] == {"reviewed": True})
    qtbot.keyClick(win, Qt.Key.Key_Home)
    before = sidecar.read_bytes()
    task = win.video.start_propagation(PropagateOptions())
    assert _run(qtbot, task) == "finished"
    assert task.result.kept == {"frame_000002.jpg": "reviewed"}
    assert sidecar.read_bytes() == before
    assert _states(win) == [FrameState.EDITED, FrameState.PROPAGATED, FrameState.REVIEWED, FrameState.PROPAGATED,
                            FrameState.PROPAGATED]


# ---------------------------------------------------------------------- corrections carried on
def _record(root, name):
    return json.loads((root / name).read_text()).get(FRAME_KEY, {})


def _propagate_all(qtbot, win):
    task = win.video.start_propagation(PropagateOptions(), source=0)
    assert _run(qtbot, task) == "finished"
    _wait_timeline(qtbot, win)
    win.video.refresh_frames(None)
    assert _states(win) == [FrameState.EDITED] + [FrameState.PROPAGATED] * (NUM_FRAMES - 1)


def _correct(qtbot, win, index, dx=6):
    """Open frame ``index`` and move its car by ``dx`` pixels, as a person would; saved."""
    win.video.go_to_frame(index)
    qtbot.waitUntil(lambda: win.document is not None and win.index == index)
    car = next(s for s in win.document.shapes if s.label == "car")
    win.document.move_shapes([car.uid], dx, 0)
    assert win.save_now()


def _propagated_with_gate(qtbot, make_window, sequence, small_predictor, gate_at):
    """A window on the sequence, every frame propagated from frame 0, then a tracker that holds
    before its frame ``gate_at`` until released; corrections carried on only when the test says."""
    gated = GatedPredictor(small_predictor, gate_at=gate_at)
    win = make_window(sequence)
    win.video.predictor_factory = lambda: (gated, LABEL)
    gated.release.set()
    _propagate_all(qtbot, win)
    gated.release.clear()
    gated.reached.clear()
    win.video.corrections.delay_ms = 10 ** 6
    return win, gated


def test_a_correction_is_carried_on_over_the_frames_propagated_after_it(qtbot, seq_window):
    win = seq_window
    root = win.project.root
    _propagate_all(qtbot, win)
    first = win.video.propagate_task
    before = {i: (root / f"frame_00000{i}.json").read_bytes() for i in (1, 2)}
    win.video.corrections.delay_ms = 0
    _correct(qtbot, win, 2)
    assert win.video.corrections.pending == ("frame_000002.jpg",)
    qtbot.waitUntil(lambda: win.video.propagate_task is not first, timeout=WAIT)
    task = win.video.propagate_task
    assert "Carrying the correction on frame_000002.jpg forward over 2 frame(s)" in win.statusBar().currentMessage()
    assert win.video.stop_action.isEnabled()
    assert _run(qtbot, task) == "finished"
    assert task.result.source == "frame_000002.jpg" and task.result.written == 2
    assert win.statusBar().currentMessage().startswith("Correction carried on: 2 object(s) from frame_000002.jpg")
    # the frames after it come from the corrected frame now, with its moved car; those before are untouched
    for i in (3, 4):
        assert _record(root, f"frame_00000{i}.json")["source"] == "frame_000002.jpg"
    assert (root / "frame_000001.json").read_bytes() == before[1]
    assert _record(root, "frame_000002.json")["source"] == "frame_000000.jpg"  # the person's frame, as saved
    assert (root / "frame_000002.json").read_bytes() != before[2]
    assert win.video.corrections.pending == ()
    assert not win.video.stop_action.isEnabled()


def test_corrections_on_two_frames_are_carried_on_one_after_another(qtbot, seq_window):
    win = seq_window
    root = win.project.root
    _propagate_all(qtbot, win)
    win.video.corrections.delay_ms = 10 ** 6  # carried on when the test says so
    _correct(qtbot, win, 1)
    _correct(qtbot, win, 3)
    _correct(qtbot, win, 1, dx=-3)  # the same frame again: still one correction, in its place
    assert win.video.corrections.pending == ("frame_000001.jpg", "frame_000003.jpg")
    first = win.video.propagate_task
    win.video.corrections.carry()
    task = win.video.propagate_task
    assert task is not first and win.video.corrections.pending == ("frame_000003.jpg",)
    assert _run(qtbot, task) == "finished"
    # frame 1's run stopped before frame 3 (a person's now); then frame 3's run followed
    assert task.result.source == "frame_000001.jpg" and task.result.frames == 1
    qtbot.waitUntil(lambda: win.video.propagate_task is not task, timeout=WAIT)
    second = win.video.propagate_task
    assert _run(qtbot, second) == "finished" and second.result.source == "frame_000003.jpg"
    sources = [_record(root, f"frame_00000{i}.json").get("source") for i in range(1, NUM_FRAMES)]
    assert sources == ["frame_000000.jpg", "frame_000001.jpg", "frame_000000.jpg", "frame_000003.jpg"]


def test_correcting_the_frame_being_carried_on_starts_its_run_again(qtbot, small_predictor, make_window, sequence):
    win, gated = _propagated_with_gate(qtbot, make_window, sequence, small_predictor, gate_at=1)  # the tracker's index: frame 3 of a run from frame 2
    _correct(qtbot, win, 2)
    win.video.corrections.carry()
    running = win.video.propagate_task
    assert gated.reached.wait(30)  # the automatic run holds before frame 3
    first_run = _record(win.project.root, "frame_000004.json")["run"]  # still the full run's
    _correct(qtbot, win, 2, dx=-4)  # frame 2 corrected again while it is carried on
    win.video.corrections.carry()  # stops the run going...
    gated.release.set()
    assert _run(qtbot, running) == "cancelled"  # frame 3 written, frame 4 never reached
    assert _record(win.project.root, "frame_000004.json")["run"] == first_run
    qtbot.waitUntil(lambda: win.video.propagate_task is not running, timeout=WAIT)  # ...and starts it anew
    again = win.video.propagate_task
    assert _run(qtbot, again) == "finished" and again.result.source == "frame_000002.jpg"
    assert _record(win.project.root, "frame_000004.json")["run"] == again.result.run != first_run
    assert _record(win.project.root, "frame_000003.json")["run"] == again.result.run


def test_a_run_the_user_started_is_not_stopped_for_a_correction(qtbot, small_predictor, make_window, sequence):
    win, gated = _propagated_with_gate(qtbot, make_window, sequence, small_predictor, gate_at=2)
    # the user propagates frame 0 over the next 3 frames (another job: it tracks again)
    users = win.video.start_propagation(PropagateOptions(max_frames=3), source=0)
    assert gated.reached.wait(30)  # frame 1 written, frame 2 held
    _correct(qtbot, win, 1)
    win.video.corrections.carry()
    assert win.video.propagate_task is users and users.is_running()
    assert win.video.corrections.pending == ("frame_000001.jpg",)
    gated.release.set()
    assert _run(qtbot, users) == "finished" and users.result.kept == {}
    qtbot.waitUntil(lambda: win.video.propagate_task is not users, timeout=WAIT)  # then the correction's run
    carried = win.video.propagate_task
    assert _run(qtbot, carried) == "finished"
    assert carried.result.source == "frame_000001.jpg" and carried.result.frames == 3
    sources = [_record(win.project.root, f"frame_00000{i}.json").get("source") for i in range(1, NUM_FRAMES)]
    assert sources == ["frame_000000.jpg"] + ["frame_000001.jpg"] * 3


def test_a_flag_or_a_reload_is_not_a_correction(qtbot, seq_window):
    win = seq_window
    root = win.project.root
    _propagate_all(qtbot, win)
    first = win.video.propagate_task
    win.video.corrections.delay_ms = 0
    win.video.go_to_frame(2)
    qtbot.waitUntil(lambda: win.document is not None and win.index == 2)
    win.video.toggle_reviewed()  # marked reviewed: a flag, the shapes as propagation wrote them
    assert win.save_now()
    win.video.toggle_reviewed()  # and unmarked
    assert win.save_now()
    assert win.video.corrections.pending == () and win.video.propagate_task is first
    # the frame on screen rewritten by a propagation (overwrite) and reloaded: no correction either
    task = win.video.start_propagation(PropagateOptions(max_frames=2, overwrite=True), source=0)
    assert _run(qtbot, task) == "finished"
    qtbot.waitUntil(lambda: _record(root, "frame_000002.json").get("run") == task.result.run)
    win.check_outside_edits()
    qtbot.waitUntil(lambda: win.document.annotation.extra.get(FRAME_KEY, {}).get("run") == task.result.run)
    assert win.save_now()
    assert win.video.corrections.pending == () and win.video.propagate_task is task


def test_undoing_a_carried_correction_carries_the_undo(qtbot, seq_window):
    win = seq_window
    root = win.project.root
    _propagate_all(qtbot, win)
    full_run = _record(root, "frame_000003.json")["run"]
    win.video.corrections.delay_ms = 0
    _correct(qtbot, win, 2)
    qtbot.waitUntil(lambda: _record(root, "frame_000004.json").get("source") == "frame_000002.jpg", timeout=WAIT)
    _run(qtbot, win.video.propagate_task)
    carried = win.video.propagate_task
    win.undo()  # frame 2 is as propagation wrote it again
    assert win.save_now()
    assert "Carrying the correction on frame_000002.jpg from frame_000000.jpg forward over 4 frame(s)" in (
        win.statusBar().currentMessage()) or win.video.corrections.pending == ("frame_000002.jpg",)
    qtbot.waitUntil(lambda: win.video.propagate_task is not carried, timeout=WAIT)
    undo_run = win.video.propagate_task
    assert _run(qtbot, undo_run) == "finished"
    # carried from the frame frame 2 came from (frame 0), over 1..4: the full run's frames again
    assert undo_run.result.source == "frame_000000.jpg" and undo_run.result.frames == 4
    assert [_record(root, f"frame_00000{i}.json")["source"] for i in range(1, NUM_FRAMES)] == ["frame_000000.jpg"] * 4
    # the same job as the full run (same source, objects, range, model): its frames back, as they were
    assert [_record(root, f"frame_00000{i}.json")["run"] for i in range(1, NUM_FRAMES)] == [full_run] * 4


def test_stop_drops_the_corrections_waiting(qtbot, small_predictor, make_window, sequence):
    win, gated = _propagated_with_gate(qtbot, make_window, sequence, small_predictor, gate_at=1)
    _correct(qtbot, win, 1)
    _correct(qtbot, win, 3)
    win.video.corrections.carry()
    running = win.video.propagate_task
    assert gated.reached.wait(30) and win.video.corrections.pending == ("frame_000003.jpg",)
    win.video.stop_action.trigger()
    gated.release.set()
    assert _run(qtbot, running) == "cancelled"
    assert win.video.corrections.pending == () and win.video.propagate_task is running
    assert not win.video.stop_action.isEnabled()


def test_the_users_start_stops_a_correction_run_and_the_correction_follows(qtbot, small_predictor, make_window,
                                                                            sequence):
    win, gated = _propagated_with_gate(qtbot, make_window, sequence, small_predictor, gate_at=1)
    _correct(qtbot, win, 2)
    win.video.corrections.carry()
    automatic = win.video.propagate_task
    assert gated.reached.wait(30)
    win.video.go_to_frame(0)
    qtbot.waitUntil(lambda: win.document is not None and win.index == 0)
    dialog = win.video.show_propagate_dialog()
    dialog.next_n.setChecked(True)
    dialog.frames_spin.setValue(1)
    dialog.start()  # the user's Start while the correction's run holds
    gated.gate_at = None
    gated.release.set()
    assert _run(qtbot, automatic) == "cancelled"
    qtbot.waitUntil(lambda: win.video.propagate_task is not automatic, timeout=WAIT)
    users = win.video.propagate_task
    assert _run(qtbot, users) == "finished" and users.result.source == "frame_000000.jpg" and users.result.frames == 1
    assert dialog.status_label.text().startswith("Done")  # the dialog followed the run it asked for
    qtbot.waitUntil(lambda: win.video.propagate_task is not users, timeout=WAIT)  # then the correction again
    again = win.video.propagate_task
    assert _run(qtbot, again) == "finished" and again.result.source == "frame_000002.jpg"


def test_opening_another_sequence_cancels_a_correction_run(qtbot, small_predictor, make_window, sequence, tmp_path):
    win, gated = _propagated_with_gate(qtbot, make_window, sequence, small_predictor, gate_at=1)
    _correct(qtbot, win, 2)
    win.video.corrections.carry()
    automatic = win.video.propagate_task
    assert gated.reached.wait(30)
    other = make_sequence(tmp_path / "other")
    assert win.open_path(other)
    qtbot.waitUntil(lambda: win.video.timeline_ready and Path(win.project.root) == other, timeout=WAIT)
    gated.release.set()
    assert _run(qtbot, automatic) == "cancelled"  # the sequence it corrected is no longer open
    assert _states(win) == [FrameState.EDITED] + [FrameState.EMPTY] * (NUM_FRAMES - 1)  # the new one untouched
    assert win.video.timeline.computing is None and not win.video.stop_action.isEnabled()
    assert not (other / "frame_000003.json").exists()


def test_with_repropagation_off_a_correction_changes_only_its_frame(qtbot, seq_window):
    win = seq_window
    root = win.project.root
    _propagate_all(qtbot, win)
    first = win.video.propagate_task
    action = win.findChild(type(win.video.repropagate_action), "action_repropagate")
    assert action.isChecked()
    action.trigger()
    assert not action.isChecked() and win.settings.repropagate is False
    win.video.corrections.delay_ms = 0
    after = {i: (root / f"frame_00000{i}.json").read_bytes() for i in (3, 4)}
    _correct(qtbot, win, 2)
    assert win.video.corrections.pending == ()
    win.video.corrections.carry()
    assert win.video.propagate_task is first
    assert {i: (root / f"frame_00000{i}.json").read_bytes() for i in (3, 4)} == after


# ---------------------------------------------------------------------- small pieces
def test_object_colours_are_stable_and_differ_by_group_id():
    assert object_rgb("car", 1) == object_rgb("car", 1)
    assert object_rgb("car", 1) != object_rgb("car", 2)
    assert all(0 <= c <= 255 for c in object_rgb("ball", None))


def test_report_text_names_the_lost_and_kept_frames():
    from samlabel.video.propagate import PropagationReport

    report = PropagationReport(source="f0.jpg", frames=3, written=2, objects=["car#1"],
                               lost={"car#1": ["f2.jpg"]}, kept={"f3.jpg": "reviewed"})
    assert describe_report(report) == ("Done: 1 object(s) from f0.jpg, 3 frame(s), 2 sidecar(s) written, 1 kept (edited "
                                       "or reviewed by a person), 1 lost object-frame(s). Lost: car#1 on f2.jpg. "
                                       "Kept as a person left them: f3.jpg.")
    held = PropagationReport(source="f0.jpg", frames=2, written=1, objects=["car#1"], held=["f1.jpg"])
    assert describe_report(held) == ("Done: 1 object(s) from f0.jpg, 2 frame(s), 1 sidecar(s) written, 1 held while "
                                     "being edited (f1.jpg). Frames held had unsaved edits: save to keep them, or "
                                     "propagate again to fill them.")
    assert np.all(np.array(object_rgb("x", None)) >= 0)
