"""Document: every change is a command; undo/redo return each earlier state."""

from __future__ import annotations

import pytest

from samlabel.annotations import AnnotationError, Document, ImageAnnotation, Shape

SQUARE = [[10, 10], [30, 10], [30, 30], [10, 30]]


def fresh() -> Document:
    return Document(ImageAnnotation("a.jpg", 100, 120))


def test_undo_redo_walks_back_through_every_state():
    doc = fresh()
    states = [doc.annotation]
    a = Shape.polygon("car", SQUARE)
    b = Shape.rectangle("bus", (0, 0), (5, 5))
    doc.add_shape(a)
    states.append(doc.annotation)
    doc.add_shape(b)
    states.append(doc.annotation)
    doc.set_label([a.uid], "truck")
    states.append(doc.annotation)
    doc.replace_shape(a.uid, doc.shape(a.uid).with_vertex_moved((0, 0, 0), (0, 0)))
    states.append(doc.annotation)
    doc.set_group_id([a.uid, b.uid], 4)
    states.append(doc.annotation)
    doc.remove_shapes([b.uid])
    states.append(doc.annotation)
    doc.set_image_flags({"blurry": True})
    states.append(doc.annotation)
    # snapshot contents to compare by value, independent of object identity
    snapshots = [[(s.uid, s.label, s.group_id, s.bbox()) for s in st.shapes] + [dict(st.flags)] for st in states]

    def now():
        return [(s.uid, s.label, s.group_id, s.bbox()) for s in doc.shapes] + [dict(doc.annotation.flags)]

    for expected in reversed(snapshots[:-1]):
        assert doc.undo()
        assert now() == expected
    assert not doc.can_undo and not doc.undo()
    for expected in snapshots[1:]:
        assert doc.redo()
        assert now() == expected
    assert not doc.can_redo
    assert doc.shape(a.uid).label == "truck" and [s.uid for s in doc.shapes] == [a.uid]


def test_a_drag_is_one_undo_step_and_listeners_hear_each_move():
    doc = fresh()
    shape = Shape.polygon("car", SQUARE)
    doc.add_shape(shape)
    events = []
    unsubscribe = doc.subscribe(events.append)
    with doc.group("Move vertex"):
        for x in range(31, 41):
            doc.replace_shape(shape.uid, doc.shape(shape.uid).with_vertex_moved((0, 0, 1), (x, 10)))
        with pytest.raises(AnnotationError):
            doc.undo()  # not while dragging
    assert len(events) == 10 and all(e.reason == "edit" and e.uids == (shape.uid,) for e in events)
    assert doc.undo_text == "Move vertex"
    doc.undo()
    assert tuple(doc.shape(shape.uid).polygons[0].exterior[1]) == (30, 10)
    assert events[-1].reason == "undo"
    doc.redo()
    assert tuple(doc.shape(shape.uid).polygons[0].exterior[1]) == (40, 10)
    unsubscribe()
    doc.undo()
    assert events[-1].reason == "redo"  # no longer told


def test_empty_group_adds_no_step_and_new_edit_clears_redo():
    doc = fresh()
    with doc.group("nothing"):
        pass
    assert not doc.can_undo
    a = Shape.polygon("car", SQUARE)
    doc.add_shape(a)
    doc.undo()
    assert doc.can_redo and doc.redo_text == "Add shape"
    doc.add_shape(Shape.point("cat", (1, 1)))
    assert not doc.can_redo


def test_dirty_tracking_follows_undo_to_the_saved_state():
    doc = fresh()
    assert not doc.is_dirty
    doc.add_shape(Shape.polygon("car", SQUARE))
    assert doc.is_dirty
    doc.mark_saved()
    assert not doc.is_dirty
    doc.set_label([doc.shapes[0].uid], "bus")
    assert doc.is_dirty
    doc.undo()
    assert not doc.is_dirty
    doc.undo()
    assert doc.is_dirty
    doc.reset(ImageAnnotation("b.jpg", 10, 10))
    assert not doc.is_dirty and not doc.can_undo and not doc.can_redo


def test_bad_commands_change_nothing():
    doc = fresh()
    a = Shape.polygon("car", SQUARE)
    doc.add_shape(a)
    before = doc.annotation
    with pytest.raises(AnnotationError, match="already in the document"):
        doc.add_shape(a)
    with pytest.raises(AnnotationError, match="no shape with uid"):
        doc.remove_shapes(["nope"])
    with pytest.raises(AnnotationError):
        doc.end_group()
    assert doc.annotation is before and doc.undo_text == "Add shape"


def test_reorder_and_move_shapes():
    doc = fresh()
    a, b = Shape.polygon("car", SQUARE), Shape.point("cat", (1, 1))
    doc.add_shapes([a, b])
    doc.reorder_shape(b.uid, 0)
    assert [s.uid for s in doc.shapes] == [b.uid, a.uid]
    doc.move_shapes([a.uid, b.uid], 5, 5)
    assert doc.shape(b.uid).bbox() == (6.0, 6.0, 6.0, 6.0)
    doc.undo()
    doc.undo()
    assert [s.uid for s in doc.shapes] == [a.uid, b.uid]


def test_cancelled_drag_restores_the_shape_without_an_undo_step():
    doc = fresh()
    shape = Shape.polygon("car", SQUARE)
    doc.add_shape(shape)
    events = []
    doc.subscribe(events.append)
    doc.begin_group("Move vertex")
    doc.replace_shape(shape.uid, shape.with_vertex_moved((0, 0, 0), (0, 0)))
    doc.cancel_group()
    assert doc.shape(shape.uid) == shape and doc.undo_text == "Add shape" and not doc.in_group
    assert events[-1].reason == "cancel" and events[-1].uids == (shape.uid,)
    with pytest.raises(AnnotationError):
        doc.cancel_group()


def test_change_reasons_are_an_enum_that_still_compares_as_strings():
    from samlabel.annotations.document import ChangeReason

    doc = fresh()
    events = []
    doc.subscribe(events.append)
    shape = Shape.polygon("car", SQUARE)
    doc.add_shape(shape)
    doc.undo()
    doc.redo()
    doc.mark_saved()
    doc.reset(ImageAnnotation("b.jpg", 10, 10))
    reasons = [e.reason for e in events]
    assert reasons == [ChangeReason.EDIT, ChangeReason.UNDO, ChangeReason.REDO, ChangeReason.SAVED, ChangeReason.RESET]
    assert all(isinstance(r, ChangeReason) for r in reasons)
    assert reasons == ["edit", "undo", "redo", "saved", "reset"] and reasons[0] in ("edit", "undo")
    assert {r.value for r in ChangeReason} == {"edit", "undo", "redo", "cancel", "reset", "saved"}
    assert str(ChangeReason.EDIT) == f"{ChangeReason.EDIT}" == "edit"
