"""ShapesDock: rows follow the document; selection syncs both ways without echo."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from samlabel.annotations import Document, ImageAnnotation, LabelSet, Shape
from samlabel.gui.docks.shapes_dock import ShapesDock


@pytest.fixture
def setup(qtbot):
    shapes = [Shape.rectangle("car", (0, 0), (4, 4)), Shape.point("person", (3, 3)), Shape.point("car", (1, 1))]
    doc = Document(ImageAnnotation("img.png", 20, 20, shapes))
    dock = ShapesDock()
    qtbot.addWidget(dock)
    dock.set_document(doc, LabelSet(["person", "car"]))
    dock.show()
    return dock, doc, [s.uid for s in shapes]


def test_rows_follow_edits_and_undo(qtbot, setup):
    dock, doc, uids = setup
    assert dock.uids() == uids
    assert dock.list.item(0).text() == "1. car — rectangle"
    assert not dock.list.item(0).icon().isNull()
    extra = Shape.point("person", (5, 5))
    doc.add_shape(extra)
    assert dock.uids() == uids + [extra.uid]
    doc.set_label([uids[0]], "person")
    assert dock.list.item(0).text() == "1. person — rectangle"
    doc.undo()
    doc.undo()
    assert dock.uids() == uids and dock.list.item(0).text().startswith("1. car")


def test_user_selection_emits_uids(qtbot, setup):
    dock, doc, uids = setup
    with qtbot.waitSignal(dock.selectionChanged) as blocker:
        dock.list.item(2).setSelected(True)
    assert blocker.args == [[uids[2]]]
    rect = dock.list.visualItemRect(dock.list.item(0))
    with qtbot.waitSignal(dock.selectionChanged) as blocker:
        qtbot.mouseClick(dock.list.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, rect.center())
    assert blocker.args == [[uids[0], uids[2]]]


def test_canvas_selection_is_shown_without_echo(qtbot, setup):
    dock, doc, uids = setup
    emitted = []
    dock.selectionChanged.connect(emitted.append)
    dock.select_uids([uids[1]])
    assert dock.selected_uids() == [uids[1]]
    dock.select_uids([])
    assert dock.selected_uids() == []
    assert emitted == []


def test_deleting_a_selected_shape_updates_the_selection(qtbot, setup):
    dock, doc, uids = setup
    dock.select_uids([uids[0], uids[1]])
    with qtbot.waitSignal(dock.selectionChanged) as blocker:
        doc.remove_shapes([uids[0]])
    assert blocker.args == [[uids[1]]]
    assert dock.uids() == uids[1:]


def test_activation_and_no_document(qtbot, setup):
    dock, doc, uids = setup
    with qtbot.waitSignal(dock.shapeActivated) as blocker:
        dock.list.itemActivated.emit(dock.list.item(1))
    assert blocker.args == [uids[1]]
    dock.set_document(None)
    assert dock.uids() == []
    doc.add_shape(Shape.point("car", (2, 2)))  # detached: no effect
    assert dock.uids() == []


def test_a_deleted_dock_stops_listening(qtbot):
    import shiboken6

    doc = Document(ImageAnnotation("img.png", 20, 20, [Shape.point("car", (1, 1))]))
    dock = ShapesDock()
    dock.set_document(doc)
    assert len(doc._listeners) == 1
    shiboken6.delete(dock)
    doc.add_shape(Shape.point("car", (2, 2)))  # must not raise "C++ object already deleted"
    assert doc._listeners == []


def test_a_drag_updates_only_the_edited_row(qtbot, setup):
    dock, doc, uids = setup
    first = dock.list.item(0)
    with doc.group("Move"):
        for step in range(3):
            doc.move_shapes([uids[1]], 1, 0)
    assert dock.list.item(0) is first  # not rebuilt
    doc.set_label([uids[1]], "car")
    assert dock.list.item(1).text() == "2. car — point" and dock.list.item(0) is first
    doc.remove_shapes([uids[0]])
    assert dock.list.item(0).text() == "1. car — point"
