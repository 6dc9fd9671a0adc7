"""LabelState, the one owner of the labels, the current label and the hidden labels (no widgets),
and the window's views of it agreeing (the labels dock, the toolbar's box, the shape layer)."""

from __future__ import annotations

import json

import pytest

from samlabel.annotations import LabelSet
from samlabel.gui.label_state import LabelChangeKind, LabelState


def _state(*names):
    state = LabelState(LabelSet(names))
    changes = []
    state.subscribe(changes.append)
    return state, changes


def test_a_rename_moves_the_hidden_mark_and_the_current_label():
    state, changes = _state("car", "person")
    state.set_current("car")
    state.set_visible("car", False)
    changes.clear()
    assert state.rename("car", "vehicle")
    assert state.labels.names == ["vehicle", "person"]
    assert state.hidden == {"vehicle"} and not state.is_visible("vehicle") and state.is_visible("car")
    assert state.current == "vehicle"
    assert [(c.kind, c.name, c.old) for c in changes] == [
        (LabelChangeKind.RENAMED, "vehicle", "car"), (LabelChangeKind.CURRENT, "vehicle", None)]


def test_a_name_only_shapes_use_is_adopted_by_a_rename():
    state, _ = _state("car")
    state.set_visible("tree", False)
    assert state.rename("tree", "oak")
    assert "oak" in state.labels and state.hidden == {"oak"}
    assert not state.rename("oak", "oak") and not state.rename("oak", "  ")


def test_another_label_set_keeps_what_it_can():
    state, changes = _state("car", "person")
    state.set_current("person")
    state.set_visible("car", False)
    state.set_visible("person", False)
    state.set_labels(LabelSet(["person", "bike"]))
    assert state.current == "person" and state.hidden == {"person"}
    state.set_labels(LabelSet(["bike"]))
    assert state.current == "bike" and state.hidden == frozenset()
    assert changes[-1].kind is LabelChangeKind.CURRENT


def test_removing_the_current_label_falls_back_to_the_first_and_empty_sets_work():
    state, changes = _state("car", "person")
    state.set_current("person")
    state.remove("person")
    assert state.current == "car" and changes[-1] == type(changes[-1])(LabelChangeKind.CURRENT, "car")
    state.remove("car")
    assert state.current == "object"  # nothing to offer: the fallback name
    state.add("tree")
    assert state.current == "tree" and state.labels.names == ["tree"]


def test_listeners_hear_each_change_once_and_can_stop():
    state, changes = _state("car")
    state.set_visible("car", True)  # already visible: no change
    state.set_current("car")  # already current: no change
    assert changes == []
    state.recolor("car", (1, 2, 3))
    assert [c.kind for c in changes] == [LabelChangeKind.EDITED] and state.color_of("car") == (1, 2, 3)
    stop = state.subscribe(lambda c: pytest.fail("stopped listener called"))
    stop()
    state.set_visible("car", False)
    assert changes[-1].kind is LabelChangeKind.VISIBILITY and changes[-1].visible is False
    with pytest.raises(ValueError):
        state.set_current("")


def test_the_window_s_views_agree_after_a_hidden_label_is_renamed(qtbot, make_window, image_folder):
    """Renaming a hidden label used to show its shapes again: the layer kept the old name hidden."""
    data = {"version": "5.2.1", "flags": {}, "imagePath": "a.png", "imageData": None,
            "imageHeight": 160, "imageWidth": 240,
            "shapes": [{"label": "car", "points": [[10, 10], [80, 10], [80, 60]], "shape_type": "polygon",
                        "group_id": None, "flags": {}, "description": ""}]}
    (image_folder / "a.json").write_text(json.dumps(data))
    win = make_window(image_folder)
    qtbot.waitUntil(lambda: win.document is not None and len(win.document.shapes) == 1, timeout=10000)
    uid = win.document.shapes[0].uid
    assert win.workspace.document is win.document and win.workspace.labels is win.label_state
    assert win.layer.item(uid).isVisible()
    win.labels_dock.set_label_visible("car", False)  # the dock's checkbox
    assert not win.layer.item(uid).isVisible()
    win.labels_dock.rename_label("car", "vehicle")
    assert [s.label for s in win.document.shapes] == ["vehicle"]
    assert not win.layer.item(uid).isVisible(), "the renamed label's shapes must stay hidden"
    assert win.labels_dock.hidden_labels() == {"vehicle"} and win.layer.hidden_labels == {"vehicle"}
    # the current label: the dock, the toolbar's box and new shapes agree, whoever changes it
    win.labels_dock.set_current_label("vehicle")
    assert win.current_label() == "vehicle" and win.label_combo.currentText() == "vehicle"
    win.set_current_label("bicycle")  # a new name, from the toolbar or the picker
    assert win.labels_dock.current_label() == "bicycle" and win.label_combo.currentText() == "bicycle"
    assert "bicycle" in win.project.labels
    win.labels_dock.set_label_visible("vehicle", True)
    assert win.layer.item(uid).isVisible()
