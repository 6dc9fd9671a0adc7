"""Manual tools, selection and vertex editing on the real window — without any model."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint, QPointF, Qt

from samlabel.annotations import Shape
from samlabel.gui.tools import Tool


def vp(win, x: float, y: float) -> QPoint:
    return win.canvas.mapFromScene(QPointF(x, y))


def click(qtbot, win, x, y, button=Qt.MouseButton.LeftButton, mods=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(win.canvas.viewport(), button, mods, pos=vp(win, x, y))


def test_without_a_checkpoint_manual_tools_work_and_download_is_offered(qtbot, make_window, image_folder):
    win = make_window(image_folder, model_name="vit_b")  # the test checkpoint dir is empty
    assert not win.ai_available
    qtbot.keyClick(win.canvas, Qt.Key.Key_S)  # the SAM tool's key says why nothing happens
    assert win.tool is Tool.POLYGON and "no SAM model is loaded" in win.statusBar().currentMessage()
    assert win.download_action.isEnabled() and win.load_checkpoint_action.isEnabled()
    assert "Download" in win._model_status.text()  # the status bar says why and what to do
    assert win.download_tool_action.isVisible()  # and the toolbar offers it
    assert win.tool is Tool.POLYGON
    win.set_tool(Tool.SAM)  # refused with a message, stays on a manual tool
    assert win.tool is not Tool.SAM
    # polygon: three clicks and Enter
    win.set_tool(Tool.POLYGON)
    for x, y in [(20, 20), (100, 20), (100, 90)]:
        click(qtbot, win, x, y)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    assert [s.kind for s in win.document.shapes] == ["polygon"]
    assert win.document.shapes[0].polygons[0].exterior.shape == (3, 2)
    # rectangle: a drag
    qtbot.keyClick(win.canvas, Qt.Key.Key_B)
    assert win.tool is Tool.RECTANGLE
    view = win.canvas.viewport()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=vp(win, 120, 30))
    qtbot.mouseMove(view, vp(win, 150, 60))
    qtbot.mouseMove(view, vp(win, 200, 120))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=vp(win, 200, 120))
    assert [s.kind for s in win.document.shapes] == ["polygon", "rectangle"]
    x0, y0, x1, y1 = win.document.shapes[1].bbox()
    assert abs(x0 - 120) <= 1 and abs(y1 - 120) <= 1
    qtbot.waitUntil(lambda: (image_folder / "a.json").is_file(), timeout=5000)
    assert len(json.loads((image_folder / "a.json").read_text())["shapes"]) == 2
    dialog = win.show_download_dialog()
    assert dialog.isVisible()
    dialog.close()


def test_polygon_closes_by_clicking_the_first_vertex_and_backspace_removes_a_vertex(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    win.set_tool(Tool.POLYGON)
    for x, y in [(20, 20), (100, 20), (60, 60), (100, 90)]:
        click(qtbot, win, x, y)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Backspace)
    assert len(win.tools[Tool.POLYGON].draft.vertices) == 3
    click(qtbot, win, 20.5, 20.5)  # near the first vertex: closes
    assert len(win.document.shapes) == 1
    assert win.document.shapes[0].polygons[0].exterior.shape == (3, 2)


def _square(win, label="car"):
    shape = Shape.polygon(label, [(40, 40), (120, 40), (120, 120), (40, 120)])
    win.document.add_shape(shape)
    return shape.uid


def test_select_and_drag_a_vertex_is_one_undo_step(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    uid = _square(win)
    qtbot.keyClick(win.canvas, Qt.Key.Key_V)
    click(qtbot, win, 80, 80)
    assert win.layer.selected == {uid}
    assert win.shapes_dock.selected_uids() == [uid]
    view = win.canvas.viewport()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=vp(win, 120, 40))
    for x in (125, 130, 140):
        qtbot.mouseMove(view, vp(win, x, 30))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=vp(win, 140, 30))
    ext = win.document.shape(uid).polygons[0].exterior
    assert abs(ext[1][0] - 140) <= 1 and abs(ext[1][1] - 30) <= 1
    win.undo()
    assert win.document.shape(uid).polygons[0].exterior[1].tolist() == [120, 40]
    win.undo()
    assert win.document.shapes == ()


def test_insert_and_delete_vertices_and_delete_shapes(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    uid = _square(win)
    win.set_tool(Tool.SELECT)
    win.editor.set_selection([uid])
    click(qtbot, win, 80, 40, mods=Qt.KeyboardModifier.ControlModifier)  # on the top edge
    ext = win.document.shape(uid).polygons[0].exterior
    assert len(ext) == 5 and abs(ext[1][0] - 80) <= 1
    click(qtbot, win, 40, 120, mods=Qt.KeyboardModifier.ShiftModifier)  # on a vertex
    assert len(win.document.shape(uid).polygons[0].exterior) == 4
    qtbot.keyClick(win.canvas, Qt.Key.Key_Delete)
    assert win.document.shapes == ()


def test_change_label_and_hide_by_label(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    a = _square(win, "car")
    win.document.set_label([a], "dog")
    assert win.document.shape(a).label == "dog"
    assert win.layer.item(a).isVisible()
    win.set_label_visible("dog", False)
    assert not win.layer.item(a).isVisible()
    win.set_label_visible("dog", True)
    assert win.layer.item(a).isVisible()


def test_number_keys_choose_the_label(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    qtbot.keyClick(win.canvas, Qt.Key.Key_3)
    assert win.current_label() == win.labels.names[2]
    assert win.label_combo.currentText() == win.labels.names[2]


def test_title_names_the_image_once_and_marks_unsaved_changes(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    # ends with the display name, so Qt does not append "— samlabel" a second time
    assert win.windowTitle() == "a.png — samlabel"
    from PySide6.QtWidgets import QApplication

    assert win.windowTitle().endswith(f" — {QApplication.applicationDisplayName()}")
    _square(win)
    assert win.windowTitle() == "a.png* — samlabel"
    qtbot.waitUntil(lambda: win.windowTitle() == "a.png — samlabel", timeout=5000)  # autosaved
    win.next_image()
    assert win.windowTitle() == "b.png — samlabel"


def test_proposals_show_as_overlay_and_accepting_adds_shapes(qtbot, make_window, image_folder):
    import numpy as np

    from samlabel.gui.proposals import ProposalSet

    win = make_window(image_folder)
    h, w = 160, 240
    records = []
    for k, (x0, y0) in enumerate([(10, 10), (100, 60)]):
        m = np.zeros((h, w), bool)
        m[y0 : y0 + 30, x0 : x0 + 40] = True
        records.append({"segmentation": m, "area": int(m.sum()), "bbox": [x0, y0, 40, 30],
                        "predicted_iou": 0.9 - k * 0.1, "stability_score": 0.95, "point_coords": [[x0 + 5, y0 + 5]],
                        "crop_box": [0, 0, w, h]})
    ps = ProposalSet.from_records(records, image_key=str(win.image_path))
    win.set_proposals(ps)
    assert win.canvas.proposal_item.has_image
    assert win.proposals_dock.isVisible()
    win.proposals_dock.accept_all()
    assert len(win.document.shapes) == 2
    assert not win.canvas.proposal_item.has_image  # nothing pending any more
    win.undo()
    assert win.document.shapes == ()


def test_settings_persist_opacity_folder_and_window_layout(qtbot, make_window, image_folder, tmp_path):
    from samlabel.gui.settings import AppSettings

    win = make_window(image_folder)
    win.set_opacity(0.8)
    qtbot.keyClick(win.canvas, Qt.Key.Key_BracketLeft)  # "[" : more transparent
    assert abs(win.opacity - 0.7) < 1e-6
    win.close()
    saved = AppSettings(tmp_path / "settings.ini")
    assert abs(saved.overlay_opacity - 0.7) < 1e-6
    assert saved.last_folder == str(image_folder)
    assert saved.window_geometry is not None and saved.window_state is not None
