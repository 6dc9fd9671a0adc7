"""The manual tools are one class each (polygon, rectangle, select), with no branch on the tool
kind, each handling its own gesture on the real window (no model needed)."""

from __future__ import annotations

import ast
import inspect

from PySide6.QtCore import QPoint, QPointF, Qt

from samlabel.annotations import Shape
from samlabel.gui import canvas_tools, edit_controller, edit_tools
from samlabel.gui.edit_tools import PolygonTool, RectangleTool, SelectTool
from samlabel.gui.sam_tool import SamTool
from samlabel.gui.tools import Tool

LEFT = Qt.MouseButton.LeftButton


def vp(win, x: float, y: float) -> QPoint:
    return win.canvas.mapFromScene(QPointF(x, y))


def click(qtbot, win, x, y, button=LEFT, mods=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(win.canvas.viewport(), button, mods, pos=vp(win, x, y))


def drag(qtbot, win, start, end, steps=3):
    view = win.canvas.viewport()
    qtbot.mousePress(view, LEFT, pos=vp(win, *start))
    for k in range(1, steps + 1):
        f = k / steps
        qtbot.mouseMove(view, vp(win, start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f))
    qtbot.mouseRelease(view, LEFT, pos=vp(win, *end))


def _square(win, corners=((40, 40), (120, 40), (120, 120), (40, 120)), label="car"):
    shape = Shape.polygon(label, list(corners))
    win.document.add_shape(shape)
    return shape.uid


def _ring(win, uid):
    return win.document.shape(uid).polygons[0].exterior.tolist()


# ------------------------------------------------------------------ structure
def test_each_tool_is_its_own_class_in_the_window_tool_table(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    expected = {Tool.SAM: SamTool, Tool.POLYGON: PolygonTool, Tool.RECTANGLE: RectangleTool, Tool.SELECT: SelectTool}
    assert {t: type(h) for t, h in win.tools.items()} == expected
    for t in (Tool.POLYGON, Tool.RECTANGLE, Tool.SELECT):  # one shared editing context, no mode in it
        assert win.tools[t].editor is win.editor
        assert not hasattr(win.tools[t], "tool")
    assert not hasattr(win.editor, "tool") and not hasattr(win.editor, "set_tool")
    for t in (Tool.POLYGON, Tool.RECTANGLE, Tool.SELECT):
        win.set_tool(t)
        assert win.active_tool is win.tools[t]


def _kind_references(module) -> list[str]:
    """Every use of the ``Tool`` enum or of a ``.tool`` attribute in ``module``'s source."""
    tree = ast.parse(inspect.getsource(module))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "Tool":
            found.append(f"Tool (line {node.lineno})")
        elif isinstance(node, ast.Attribute) and node.attr == "tool":
            found.append(f".tool (line {node.lineno})")
        elif isinstance(node, ast.alias) and node.name == "Tool":
            found.append(f"import Tool (line {node.lineno})")
    return found


def test_no_manual_tool_module_branches_on_the_tool_kind():
    for module in (edit_tools, edit_controller, canvas_tools):
        assert _kind_references(module) == [], module.__name__
    assert len(_kind_references(_BranchingExample)) == 2  # the check sees a branch when there is one


class _BranchingExample:
    def press(self, ev):
        if self.tool is Tool.POLYGON:
            pass


# ------------------------------------------------------------------ gestures
def test_polygon_tool_clicks_then_enter_add_a_polygon_and_escape_or_a_tool_switch_drops_the_draft(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    win.set_tool(Tool.POLYGON)
    tool = win.tools[Tool.POLYGON]
    for x, y in [(20, 20), (100, 20), (100, 90)]:
        click(qtbot, win, x, y)
    assert len(tool.draft.vertices) == 3 and abs(tool.draft.vertices[1][0] - 100) <= 1
    assert win.document.shapes == ()  # nothing until Enter
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    assert [s.kind for s in win.document.shapes] == ["polygon"]
    ring = win.document.shapes[0].polygons[0].exterior
    assert ring.shape == (3, 2) and abs(ring[2][0] - 100) <= 1 and abs(ring[2][1] - 90) <= 1
    assert not tool.draft.active
    # right-click removes the last vertex; Escape drops the draft; switching tools drops it too
    for x, y in [(150, 20), (200, 20), (200, 90)]:
        click(qtbot, win, x, y)
    click(qtbot, win, 10, 10, button=Qt.MouseButton.RightButton)
    assert len(tool.draft.vertices) == 2
    qtbot.keyClick(win.canvas, Qt.Key.Key_Escape)
    assert not tool.draft.active
    click(qtbot, win, 150, 20)
    win.set_tool(Tool.SELECT)
    assert not tool.draft.active
    assert len(win.document.shapes) == 1


def test_rectangle_tool_a_drag_adds_a_rectangle_and_clicks_then_enter_add_nothing(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    qtbot.keyClick(win.canvas, Qt.Key.Key_B)
    assert win.tool is Tool.RECTANGLE
    for x, y in [(20, 20), (100, 20), (100, 90)]:  # the polygon gesture: not this tool's
        click(qtbot, win, x, y)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    assert win.document.shapes == ()
    assert "Drag to draw a rectangle" in win.statusBar().currentMessage()
    drag(qtbot, win, (120, 30), (200, 120))
    assert [s.kind for s in win.document.shapes] == ["rectangle"]
    x0, y0, x1, y1 = win.document.shapes[0].bbox()
    assert max(abs(x0 - 120), abs(y0 - 30), abs(x1 - 200), abs(y1 - 120)) <= 1
    assert not win.tools[Tool.RECTANGLE].drag.active


def test_select_tool_a_click_selects_and_a_vertex_drag_moves_only_that_vertex(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    uid = _square(win)
    other = _square(win, ((150, 60), (200, 60), (200, 110)), label="dog")
    before, before_other = _ring(win, uid), _ring(win, other)
    qtbot.keyClick(win.canvas, Qt.Key.Key_V)
    assert win.tool is Tool.SELECT
    assert win.canvas.viewport().cursor().shape() == Qt.CursorShape.ArrowCursor
    click(qtbot, win, 80, 80)
    assert win.layer.selected == {uid}
    drag(qtbot, win, (120, 40), (140, 30))
    after = _ring(win, uid)
    assert abs(after[1][0] - 140) <= 1 and abs(after[1][1] - 30) <= 1
    assert [after[i] for i in (0, 2, 3)] == [before[i] for i in (0, 2, 3)]  # only that vertex
    assert _ring(win, other) == before_other
    assert win.layer.selected == {uid}  # a vertex drag keeps the selection
    win.undo()  # one undo step
    assert _ring(win, uid) == before
    click(qtbot, win, 175, 70)
    assert win.layer.selected == {other}
    click(qtbot, win, 230, 150)  # empty space deselects
    assert win.layer.selected == set()
    # the other tools neither select nor move vertices
    win.editor.set_selection([uid])
    for t in (Tool.POLYGON, Tool.RECTANGLE):
        win.set_tool(t)
        assert win.canvas.viewport().cursor().shape() == Qt.CursorShape.CrossCursor
        drag(qtbot, win, (120, 40), (122, 41), steps=1)  # too short for a rectangle
        win.escape()
        assert _ring(win, uid) == before


def test_delete_removes_the_hovered_vertex_in_select_only(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    uid = _square(win)
    win.set_tool(Tool.SELECT)
    win.editor.set_selection([uid])
    qtbot.mouseMove(win.canvas.viewport(), vp(win, 120, 120))  # hover a vertex
    assert win.canvas.viewport().cursor().shape() == Qt.CursorShape.SizeAllCursor
    qtbot.keyClick(win.canvas, Qt.Key.Key_Delete)
    assert len(_ring(win, uid)) == 3 and [120, 120] not in _ring(win, uid)
    qtbot.mouseMove(win.canvas.viewport(), vp(win, 120, 40))  # hover another vertex, then leave the tool
    win.set_tool(Tool.POLYGON)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Delete)  # the selected shape goes, not the vertex
    assert win.document.shapes == ()


def test_escape_during_a_vertex_drag_puts_the_vertex_back_and_leaving_forgets_the_hovered_vertex(
        qtbot, make_window, image_folder):
    win = make_window(image_folder)
    uid = _square(win)
    before = _ring(win, uid)
    win.set_tool(Tool.SELECT)
    win.editor.set_selection([uid])
    view = win.canvas.viewport()
    qtbot.mousePress(view, LEFT, pos=vp(win, 120, 40))
    qtbot.mouseMove(view, vp(win, 150, 20))
    assert _ring(win, uid) != before and win.document.in_group
    win.escape()  # during the drag: the vertex goes back, no undo step, the selection kept
    assert _ring(win, uid) == before and not win.document.in_group
    assert win.layer.selected == {uid}
    qtbot.mouseRelease(view, LEFT, pos=vp(win, 150, 20))  # the release after it moves nothing
    assert _ring(win, uid) == before and win.document.undo_text != "Move vertex"  # no undo step of the drag
    win.escape()  # no drag: clears the selection
    assert win.layer.selected == set()
    # a vertex hovered, then the pointer leaves the canvas: Delete no longer deletes it
    win.editor.set_selection([uid])
    qtbot.mouseMove(view, vp(win, 120, 120))
    assert win.editor.hover_vertex is not None
    win.canvas.mouseLeft.emit()
    assert win.editor.hover_vertex is None


def test_a_save_in_the_middle_of_a_vertex_drag_does_not_break_its_release(qtbot, make_window, image_folder):
    win = make_window(image_folder)
    uid = _square(win)
    win.set_tool(Tool.SELECT)
    win.editor.set_selection([uid])
    view = win.canvas.viewport()
    qtbot.mousePress(view, LEFT, pos=vp(win, 120, 40))
    qtbot.mouseMove(view, vp(win, 140, 30))
    win.document.end_group()  # what a save that closes the open group does
    qtbot.mouseRelease(view, LEFT, pos=vp(win, 140, 30))  # must not raise: the group is closed already
    after = _ring(win, uid)
    assert abs(after[1][0] - 140) <= 1 and not win.document.in_group
