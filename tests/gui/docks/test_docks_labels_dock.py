"""LabelsDock: add/rename/recolour/remove update the LabelSet and counts; keys 1-9; visibility."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from samlabel.annotations import Document, ImageAnnotation, LabelSet, Shape
from samlabel.gui.docks.labels_dock import LabelsDock
from samlabel.gui.docks.models import label_rows


def _document():
    shapes = [
        Shape.rectangle("car", (0, 0), (4, 4)),
        Shape.rectangle("car", (5, 5), (9, 9)),
        Shape.point("person", (3, 3)),
        Shape.point("kite", (1, 1)),  # not in the label set
    ]
    return Document(ImageAnnotation("img.png", 20, 20, shapes))


@pytest.fixture
def dock(qtbot):
    labels = LabelSet(["person", "car", "dog"])
    dock = LabelsDock(labels)
    qtbot.addWidget(dock)
    dock.set_document(_document())
    dock.show()
    return dock


def _counts(dock):
    return {row.name: row.count for row in dock.rows()}


def test_label_rows_logic_without_widgets():
    labels = LabelSet(["person", "car"])
    rows = label_rows(labels, _document().shapes)
    assert [(r.name, r.count, r.in_set) for r in rows] == [
        ("person", 1, True), ("car", 2, True), ("kite", 1, False)
    ]
    assert rows[1].text == "car (2)" and rows[1].color == labels["car"].color


def test_counts_follow_the_document(qtbot, dock):
    assert _counts(dock) == {"person": 1, "car": 2, "dog": 0, "kite": 1}
    assert dock.list.item(1).text() == "2  car (2)"
    doc = dock._document
    doc.add_shape(Shape.point("dog", (2, 2)))
    assert _counts(dock)["dog"] == 1
    doc.undo()
    assert _counts(dock)["dog"] == 0
    dock.set_document(None)
    assert _counts(dock) == {"person": 0, "car": 0, "dog": 0}


def test_add_through_the_button(qtbot, dock):
    dock._ask_text = lambda *a, **k: "tree"
    with qtbot.waitSignals([dock.labelsChanged, dock.currentLabelChanged]):
        dock.add_button.click()
    assert "tree" in dock.labels and dock.current_label() == "tree"
    assert [r.name for r in dock.rows()][-2:] == ["tree", "kite"]


def test_rename_updates_label_set_shapes_and_is_undoable(qtbot, dock):
    dock.set_current_label("car")
    dock._ask_text = lambda *a, **k: "automobile"
    with qtbot.waitSignal(dock.labelRenamed) as blocker:
        dock.rename_button.click()
    assert blocker.args == ["car", "automobile"]
    assert dock.labels.names == ["person", "automobile", "dog"]
    assert _counts(dock) == {"person": 1, "automobile": 2, "dog": 0, "kite": 1}
    assert dock.current_label() == "automobile"
    doc = dock._document
    assert doc.undo_text.startswith("Rename label")
    doc.undo()
    assert sorted(s.label for s in doc.shapes) == ["car", "car", "kite", "person"]


def test_recolour_through_the_colour_dialog(qtbot, dock):
    dock.set_current_label("dog")
    dock._ask_color = lambda initial, title: (1, 2, 3)
    with qtbot.waitSignal(dock.labelsChanged):
        dock.color_button.click()
    assert dock.labels["dog"].color == (1, 2, 3)
    assert [r.color for r in dock.rows() if r.name == "dog"] == [(1, 2, 3)]


def test_recolour_uses_qcolordialog(qtbot, dock, monkeypatch):
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QColorDialog

    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor(10, 20, 30)))
    dock.set_current_label("person")
    dock.color_button.click()
    assert dock.labels["person"].color == (10, 20, 30)


def test_remove_asks_when_shapes_use_the_label(qtbot, dock):
    dock.set_current_label("car")
    dock._confirm = lambda *a: False
    dock.remove_button.click()
    assert "car" in dock.labels
    dock._confirm = lambda *a: True
    dock.remove_button.click()
    assert "car" not in dock.labels
    row = next(r for r in dock.rows() if r.name == "car")  # the shapes keep it
    assert not row.in_set and row.count == 2
    dock.set_current_label("dog")
    dock._confirm = lambda *a: pytest.fail("no shape uses dog: no question")
    dock.remove_button.click()
    assert "dog" not in dock.labels


def test_number_keys_choose_labels(qtbot, dock):
    dock.list.setFocus()
    with qtbot.waitSignal(dock.currentLabelChanged) as blocker:
        qtbot.keyClick(dock.list, Qt.Key.Key_2)
    assert blocker.args == ["car"] and dock.current_label() == "car"
    qtbot.keyClick(dock.list, Qt.Key.Key_4)
    assert dock.current_label() == "kite"
    qtbot.keyClick(dock.list, Qt.Key.Key_9)  # no 9th label: nothing changes
    assert dock.current_label() == "kite"
    assert dock.choose_number(1) and dock.current_label() == "person"
    assert not dock.choose_number(0)


def test_visibility_checkbox_emits(qtbot, dock):
    item = dock.list.item(1)
    with qtbot.waitSignal(dock.visibilityChanged) as blocker:
        item.setCheckState(Qt.CheckState.Unchecked)
    assert blocker.args == ["car", False]
    assert dock.hidden_labels() == {"car"}
    dock._document.add_shape(Shape.point("car", (1, 1)))  # a refresh keeps the checkbox
    assert dock.list.item(1).checkState() == Qt.CheckState.Unchecked
    with qtbot.waitSignal(dock.visibilityChanged) as blocker:
        dock.set_label_visible("car", True)
    assert blocker.args == ["car", True] and dock.hidden_labels() == set()


def test_add_label_can_keep_the_current_label(qtbot, dock):
    dock.set_current_label("dog")
    dock.add_label("zebra", color=(9, 9, 9), make_current=False)
    assert dock.current_label() == "dog" and dock.labels["zebra"].color == (9, 9, 9)
    assert dock.add_label("zebra").color == (9, 9, 9)  # existing: unchanged, made current
    assert dock.current_label() == "zebra"
