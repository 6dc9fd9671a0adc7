"""Review fixes on the real window: active model shown, project-wide rename wiring,
repair notes on load, background work finished before closing."""

from __future__ import annotations

import json
import threading

from samlabel.gui.tools import Tool




def _sidecar(folder, image, label, points):
    """A labelme sidecar with one polygon shape (for b.png, 200 x 150)."""
    data = {"version": "5.2.1", "flags": {}, "imagePath": image, "imageData": None,
            "imageHeight": 150, "imageWidth": 200,  # b.png
            "shapes": [{"label": label, "points": points, "shape_type": "polygon", "group_id": None,
                        "flags": {}, "description": ""}]}
    (folder / (image.rsplit(".", 1)[0] + ".json")).write_text(json.dumps(data))


def test_the_active_model_stays_shown_in_the_status_bar(qtbot, make_window, image_folder, tiny_model):
    win = make_window(image_folder, sam_model=tiny_model)
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)
    # the embedding message used to overwrite the model name in the one permanent label
    assert "test_tiny" in win._model_status.text()
    assert "Embedding" in win._ai_status.text()
    assert not win.download_tool_action.isVisible()


def test_image_switch_waits_for_a_project_wide_rename(qtbot, make_window, image_folder, monkeypatch):
    _sidecar(image_folder, "b.png", "car", [[10, 10], [60, 10], [60, 50]])
    win = make_window(image_folder)
    assert win.labels_dock._project is win.project  # "rename in every image" is offered
    gate, entered = threading.Event(), threading.Event()
    original = type(win.project).rename_label

    def slow_rename(project, *args, **kwargs):
        entered.set()
        gate.wait(30)
        return original(project, *args, **kwargs)

    monkeypatch.setattr(type(win.project), "rename_label", slow_rename)
    warnings = []
    monkeypatch.setattr(win.labels_dock, "_warn", warnings.append)
    refreshed = []
    real_refresh = win.files_dock.refresh
    monkeypatch.setattr(win.files_dock, "refresh", lambda *a: (refreshed.append(a), real_refresh(*a)))
    win.labels_dock.rename_label("car", "vehicle", everywhere=True)
    qtbot.waitUntil(entered.is_set, timeout=5000)
    assert win.next_image() is False  # b.json still says "car": not opened yet
    assert win.image_path.name == "a.png"
    assert "Renaming" in win.statusBar().currentMessage()
    gate.set()
    qtbot.waitUntil(lambda: win.image_path.name == "b.png", timeout=10000)  # opened once renamed
    assert [s.label for s in win.document.shapes] == ["vehicle"]
    assert not warnings
    assert refreshed  # the file list re-read the marks after the rename
    assert json.loads((image_folder / "b.json").read_text())["shapes"][0]["label"] == "vehicle"


def test_sidecar_repairs_are_reported_in_the_status_bar(qtbot, make_window, image_folder):
    _sidecar(image_folder, "b.png", "car", [[10, 10], [60, 50], [60, 10], [10, 50]])  # a bow tie
    win = make_window(image_folder)
    assert win.next_image()
    message = win.statusBar().currentMessage()
    assert "b.png" in message and "repaired" in message
    assert len(win.document.shapes) == 1


def test_closing_waits_for_a_mask_being_traced(qtbot, make_window, image_folder, tiny_model):
    from .fakes import ManyBlobsSession

    win = make_window(image_folder, before_model=lambda w: setattr(w, "decoder_session_factory", ManyBlobsSession),
                      sam_model=tiny_model)
    win.tools[Tool.SAM].trace_in_background_above = 10
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)
    with qtbot.waitSignal(win.predictionShown, timeout=20000):
        win.prompt_points([(20, 16)], [1])
    assert win.accept()
    assert win.close()  # straight away: the traced shape must still reach the sidecar
    shapes = json.loads((image_folder / "a.json").read_text())["shapes"]
    # the traced object, its 30 parts as labelme shapes sharing one group id
    assert len(shapes) == 30 and len({(s["label"], s["group_id"]) for s in shapes}) == 1
    assert all(len(s["points"]) > 2 for s in shapes)
