"""Large sidecars are read off the UI thread: the image shows at once, the window keeps
processing events, editing waits for the annotations, a stale result is dropped and a broken
file is reported as before. Waits are on signals and conditions, never on sleeps."""

from __future__ import annotations

import json
import threading

import pytest
from PySide6.QtCore import QCoreApplication, QPoint, QPointF, Qt, QTimer

from samlabel.annotations.project import Project
from samlabel.gui.tasks import running_tasks
from samlabel.gui.tools import Tool

N_BOWTIES = 2000


def _bowties(path, n=N_BOWTIES):
    """``n`` self-intersecting (bow-tie) polygons on a.png (240 x 160): each is repaired
    with shapely on load, which is what makes such a file slow."""
    shapes = []
    for i in range(n):
        x, y = 4 + (i % 45) * 5, 4 + (i // 45) % 30 * 5
        shapes.append({"label": "tie", "points": [[x, y], [x + 4, y + 3], [x + 4, y], [x, y + 3]],
                       "shape_type": "polygon", "group_id": None, "flags": {}, "description": ""})
    path.write_text(json.dumps({"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": "a.png",
                                "imageData": None, "imageHeight": 160, "imageWidth": 240}, indent=2))


@pytest.fixture
def big(image_folder):
    _bowties(image_folder / "a.json")
    return image_folder


@pytest.fixture
def gate(monkeypatch):
    """Hold reads of a.png's (large) sidecar until ``gate.set()`` (``entered``: one began)."""
    gate, entered = threading.Event(), threading.Event()
    original = Project.load_stamped

    def held(project, image):
        if image.name == "a.png":
            entered.set()
            assert gate.wait(30), "the gate was never opened"
        return original(project, image)

    monkeypatch.setattr(Project, "load_stamped", held)
    gate.entered = entered
    return gate


def _click(qtbot, win, x, y):
    qtbot.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, pos=win.canvas.mapFromScene(QPointF(x, y)))


def test_a_large_sidecar_loads_in_the_background_while_the_window_stays_responsive(qtbot, make_window, big):
    win = make_window()
    assert win.sidecar_loader.in_background(big / "a.json")
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: win.annotations_loading and ticks.append(1))
    timer.start(1)
    with qtbot.waitSignal(win.annotationsLoaded, timeout=120000) as loaded:
        assert win.open_path(big / "a.png") is True
        # open_path returned before the shapes were read: the image is shown, nothing to edit yet
        assert win.image_path.name == "a.png" and win.canvas.image_size == (240, 160)
        assert win.annotations_loading and win.document is None and win.layer.order == []
        assert win._loading_indicator.isVisible() and "a.png" in win._loading_indicator.label.text()
        assert "Loading annotations of a.png" in win.statusBar().currentMessage()
        win.set_tool(Tool.POLYGON)
        _click(qtbot, win, 50, 50)  # editing is ignored, and says why
        assert win.document is None and "Loading annotations" in win.statusBar().currentMessage()
    timer.stop()
    assert ticks, "the UI thread processed no timer event while the sidecar was read"
    assert loaded.args == [str(big / "a.png")]
    assert len(win.document.shapes) == N_BOWTIES
    # the canvas builds the shapes in slices over the next event-loop turns (shape_layer)
    qtbot.waitUntil(lambda: not win.layer.building and len(win.layer.order) == N_BOWTIES, timeout=30000)
    assert not win.annotations_loading and not win._loading_indicator.isVisible()
    assert "repaired" in win.statusBar().currentMessage()  # the repair notes, as for a sync load
    assert win.document.is_dirty is False


def test_the_ui_thread_runs_while_the_read_is_held(qtbot, make_window, big, gate):
    """Deterministic: the read can only finish after a UI-thread timer has fired."""
    win = make_window()
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(gate.set)  # only the UI thread's event loop can open the gate
    with qtbot.waitSignal(win.annotationsLoaded, timeout=120000):
        assert win.open_path(big / "a.png")
        assert win.document is None
        timer.start(0)
    assert len(win.document.shapes) == N_BOWTIES


def test_switching_images_while_loading_drops_the_stale_result(qtbot, make_window, big, gate):
    win = make_window()
    win.open_path(big)  # a.png first: its sidecar is read in the background
    qtbot.waitUntil(gate.entered.is_set, timeout=5000)
    assert win.annotations_loading and win.image_path.name == "a.png"
    assert win.next_image() is True  # b.png has no sidecar: shown at once, editable
    assert win.image_path.name == "b.png" and win.document is not None and not win.annotations_loading
    gate.set()
    qtbot.waitUntil(lambda: not running_tasks(), timeout=120000)
    QCoreApplication.sendPostedEvents()  # the stale result's queued delivery
    QCoreApplication.processEvents()
    assert win.image_path.name == "b.png" and win.document.shapes == ()
    assert win.canvas.image_size == (200, 150)
    # going back reads it again, and this time it arrives
    with qtbot.waitSignal(win.annotationsLoaded, timeout=120000):
        assert win.prev_image()
    assert win.image_path.name == "a.png" and len(win.document.shapes) == N_BOWTIES


def test_a_broken_large_sidecar_is_named_and_skipped(qtbot, make_window, big):
    text = (big / "a.json").read_text()
    (big / "a.json").write_text(text[: len(text) // 2])  # truncated: malformed JSON
    win = make_window()
    with qtbot.waitSignal(win.annotationsLoaded, timeout=120000) as loaded:
        assert win.open_path(big)  # D-like: a folder opens at its first image that opens
    assert loaded.args == [str(big / "b.png")] and win.image_path.name == "b.png"
    message = win.statusBar().currentMessage()
    assert "a.json" in message and "a.png" in message and "Skipped" in message
    assert win.files_dock.problem(big / "a.png")
    assert win.last_open_failures[0][0] == big / "a.png"


def test_a_broken_large_sidecar_chosen_in_the_list_goes_back_to_the_open_image(qtbot, make_window, big):
    text = (big / "a.json").read_text()
    (big / "a.json").write_text(text[: len(text) // 2])
    win = make_window(big / "b.png", image_in_folder=True)
    doc = win.document
    assert win.image_path.name == "b.png"
    with qtbot.waitSignal(win.annotationsLoaded, timeout=120000) as loaded:
        assert win.load_index(0)  # a click in the file list: a.png shows while its sidecar is read
        assert win.image_path.name == "a.png" and win.document is None
    assert loaded.args == [str(big / "b.png")]
    assert win.image_path.name == "b.png" and win.document is doc  # undo history kept
    assert "a.json" in win.statusBar().currentMessage()
    assert (big / "a.json").read_text() == text[: len(text) // 2]  # never written over


def test_edits_after_the_background_load_are_saved(qtbot, make_window, big):
    win = make_window()
    with qtbot.waitSignal(win.annotationsLoaded, timeout=120000):
        win.open_path(big / "a.png")
    win.set_tool(Tool.RECTANGLE)
    view = win.canvas.viewport()
    start, end = win.canvas.mapFromScene(QPointF(150, 100)), win.canvas.mapFromScene(QPointF(220, 150))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2))
    qtbot.mouseMove(view, end)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=end)
    assert len(win.document.shapes) == N_BOWTIES + 1
    qtbot.waitUntil(lambda: not win.document.is_dirty, timeout=60000)
    shapes = json.loads((big / "a.json").read_text())["shapes"]
    assert shapes[-1]["shape_type"] == "rectangle"


def test_an_outside_edit_of_a_large_sidecar_is_reloaded_in_the_background(qtbot, make_window, big, monkeypatch, gate):
    from samlabel.annotations import Shape
    from samlabel.annotations.sidecar_guard import OutsideEditChoice
    from samlabel.gui.dialogs import outside_edit

    win = make_window()
    gate.set()
    with qtbot.waitSignal(win.annotationsLoaded, timeout=120000):
        win.open_path(big / "a.png")
    gate.clear()  # hold the reload
    _bowties(big / "a.json", N_BOWTIES - 1)  # another program removes one
    asked = []
    monkeypatch.setattr(outside_edit, "ask_outside_edit",
                        lambda parent, change: asked.append(change) or OutsideEditChoice.RELOAD_THEIRS)
    with qtbot.waitSignal(win.annotationsLoaded, timeout=120000):
        win.document.add_shape(Shape.rectangle("box", (150, 100), (220, 150)))
        qtbot.waitUntil(lambda: bool(asked), timeout=10000)
        assert win.annotations_loading and win.document is None  # nothing to edit while it is read
        gate.set()
    assert len(win.document.shapes) == N_BOWTIES - 1 and not win.document.is_dirty
    assert len(json.loads((big / "a.json").read_text())["shapes"]) == N_BOWTIES - 1
    win.undo()  # mine again
    assert len(win.document.shapes) == N_BOWTIES + 1
