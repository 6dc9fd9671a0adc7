"""Document's uid index: kept across edits, always what a rebuild from the shapes gives."""

from __future__ import annotations

import random

import pytest

from samlabel.annotations import Document, ImageAnnotation, Shape
from samlabel.annotations.errors import AnnotationError


def square(x: float, y: float, s: float = 5.0):
    return [[x, y], [x + s, y], [x + s, y + s], [x, y + s]]


def rebuilt(doc: Document) -> dict[str, int]:
    return {s.uid: i for i, s in enumerate(doc.shapes)}


def check(doc: Document) -> None:
    assert dict(doc.uid_index()) == rebuilt(doc)
    for i, s in enumerate(doc.shapes):
        assert doc.shape(s.uid) is s and doc.find(s.uid) is s and doc.index_of(s.uid) == i
    assert doc.find("no such uid") is None
    with pytest.raises(KeyError):
        doc.shape("no such uid")
    # every snapshot is a valid annotation: what the constructor makes of the same data
    ann = doc.annotation
    assert ann == ImageAnnotation(ann.image_path, ann.image_height, ann.image_width, ann.shapes, ann.flags,
                                  ann.extra, ann.version)


def test_an_edit_of_shapes_keeps_the_index_and_a_drag_never_rebuilds_it():
    doc = Document(ImageAnnotation("a.jpg", 200, 200))
    doc.add_shapes([Shape.polygon("car", square(10 * i, 10)) for i in range(10)])
    index = doc.uid_index()
    uid = doc.shapes[4].uid
    with doc.group("Move vertex"):
        for x in range(20):
            doc.replace_shape(uid, doc.shape(uid).with_vertex_moved((0, 0, 0), (x, 3)))
            assert doc.uid_index() is index
    doc.set_label([uid], "bus")
    doc.undo()
    doc.undo()
    doc.redo()
    assert doc.uid_index() is index
    check(doc)
    doc.add_shape(Shape.point("cat", (1, 1)))  # appended: extended, not rebuilt
    assert doc.uid_index() is index
    check(doc)


@pytest.mark.parametrize("seed", range(6))
def test_after_random_edits_undo_and_redo_the_index_equals_a_rebuilt_one(seed):
    rng = random.Random(seed)
    doc = Document(ImageAnnotation("a.jpg", 500, 500))
    doc.add_shapes([Shape.polygon(rng.choice("abc"), square(rng.uniform(0, 400), rng.uniform(0, 400)))
                    for _ in range(12)])
    for _ in range(250):
        uids = [s.uid for s in doc.shapes]
        op = rng.randrange(12)
        if op == 0 or not uids:
            at = rng.choice([None, 0, len(uids) // 2, len(uids)])
            doc.add_shapes([Shape.point(rng.choice("abc"), (rng.uniform(0, 99), 1)) for _ in range(rng.randint(1, 3))],
                           index=at)
        elif op == 1:
            doc.remove_shapes(rng.sample(uids, rng.randint(1, min(3, len(uids)))))
        elif op == 2:
            doc.set_label(rng.sample(uids, min(2, len(uids))), rng.choice("abcd"))
        elif op == 3:
            doc.move_shapes(rng.sample(uids, 1), rng.uniform(-3, 3), 1.0)
        elif op == 4:
            uid = rng.choice(uids)
            other = Shape.polygon("z", square(1, 2))  # another uid: it takes over ``uid``
            doc.replace_shape(uid, other)
            assert doc.shape(uid).label == "z"
        elif op == 5:
            doc.reorder_shape(rng.choice(uids), rng.randrange(len(uids)))
        elif op == 6:
            doc.set_image_flags({"k": rng.random()})
        elif op == 7:
            uid = rng.choice(uids)
            doc.begin_group("drag")
            for x in range(3):
                doc.move_shapes([uid], x, 0)
            if rng.random() < 0.3:
                doc.add_shape(Shape.point("a", (2, 2)), index=0)
            if rng.random() < 0.5:
                doc.cancel_group()
            else:
                doc.end_group()
        elif op in (8, 9):
            doc.undo()
        elif op == 10:
            doc.redo()
        else:
            with pytest.raises(AnnotationError):
                doc.replace_shape("missing", Shape.point("a", (0, 0)))
        check(doc)
    while doc.undo():
        check(doc)
    while doc.redo():
        check(doc)
    doc.reset(ImageAnnotation("b.jpg", 10, 10, (Shape.point("a", (1, 1)),)))
    check(doc)
