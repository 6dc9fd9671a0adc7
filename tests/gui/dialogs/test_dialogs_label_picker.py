"""LabelPickerDialog and the ranking behind its search (label_search)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from samlabel.annotations.labels import LabelSet
from samlabel.gui.dialogs.label_picker import LabelPickerDialog
from samlabel.gui.dialogs.label_search import can_create, exact_match, rank_labels


def test_rank_labels_orders_exact_prefix_word_substring():
    names = ["scarf", "cat", "big car", "car", "dog"]
    assert rank_labels(names, "car") == ["car", "big car", "scarf"]
    assert rank_labels(names, "  CA ") == ["cat", "car", "big car", "scarf"]
    assert rank_labels(names, "") == names
    assert rank_labels(names, "zebra") == []
    assert exact_match(names, " Dog ") == "dog"
    assert can_create(names, "zebra") and not can_create(names, "DOG") and not can_create(names, "  ")


def _picker(qtbot, **kwargs):
    labels = LabelSet(["person", "car", "cat", "bicycle"])
    dialog = LabelPickerDialog(labels, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_picker_filters_as_you_type_and_enter_picks(qtbot):
    dialog = _picker(qtbot)
    assert dialog.visible_names() == ["person", "car", "cat", "bicycle"]
    qtbot.keyClicks(dialog.search, "c")
    assert dialog.visible_names() == ["car", "cat", "bicycle"]
    qtbot.keyClicks(dialog.search, "a")
    assert dialog.visible_names() == ["car", "cat"]
    with qtbot.waitSignal(dialog.picked) as blocker:
        qtbot.keyClick(dialog.search, Qt.Key.Key_Down)
        qtbot.keyClick(dialog.search, Qt.Key.Key_Return)
    assert blocker.args == ["cat", False]
    assert dialog.chosen() == ("cat", False)
    assert dialog.result() == dialog.DialogCode.Accepted


def test_picker_creates_a_new_label(qtbot):
    dialog = _picker(qtbot)
    qtbot.keyClicks(dialog.search, "truck")
    assert dialog.visible_names() == []
    with qtbot.waitSignal(dialog.picked) as blocker:
        qtbot.keyClick(dialog.search, Qt.Key.Key_Return)
    assert blocker.args == ["truck", True]


def test_picker_exact_match_in_other_case_picks_existing(qtbot):
    dialog = _picker(qtbot)
    qtbot.keyClicks(dialog.search, "CAR")
    with qtbot.waitSignal(dialog.picked) as blocker:
        qtbot.keyClick(dialog.search, Qt.Key.Key_Enter)
    assert blocker.args == ["car", False]


def test_picker_without_creation_does_not_offer_new_names(qtbot):
    dialog = _picker(qtbot, allow_new=False)
    qtbot.keyClicks(dialog.search, "truck")
    assert dialog.list.count() == 0
    qtbot.keyClick(dialog.search, Qt.Key.Key_Return)
    assert dialog.chosen() is None and dialog.isVisible()


def test_picker_starts_on_the_current_label(qtbot):
    dialog = _picker(qtbot, current="cat")
    assert dialog.list.currentItem().text() == "cat"
