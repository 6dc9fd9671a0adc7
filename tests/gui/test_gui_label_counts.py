"""The labels dock follows the document change by change: its rows always equal a full recount."""

from __future__ import annotations

import random

import pytest

from samlabel.annotations import Document, ImageAnnotation, LabelSet, Shape
from samlabel.gui.docks.labels_dock import LabelsDock
from samlabel.gui.docks.models import LabelCounts, label_rows

NAMES = ["car", "person", "dog", "kite", "boat"]  # kite and boat are not in the set


def square(x: float, y: float):
    return [[x, y], [x + 4, y], [x + 4, y + 4], [x, y + 4]]


def test_label_counts_without_widgets_follow_the_touched_shapes():
    labels = LabelSet(["car", "person"])
    shapes = {s.uid: s for s in [Shape.point("car", (1, 1)), Shape.point("kite", (2, 2)), Shape.point("boat", (3, 3))]}
    counts = LabelCounts()
    counts.reset(shapes.values())
    a, b, c = list(shapes)
    shapes[a] = shapes[a].with_label("boat")
    del shapes[c]
    assert counts.update([a, c], shapes.get)
    assert not counts.update([b], shapes.get)  # nothing changed
    assert counts.rows(labels, list(shapes.values())) == label_rows(labels, shapes.values())
    assert counts.resets == 1


@pytest.mark.parametrize("seed", range(4))
def test_after_random_edits_the_rows_equal_a_full_recount(qtbot, seed):
    rng = random.Random(seed)
    labels = LabelSet(["car", "person", "dog"])
    dock = LabelsDock(labels)
    qtbot.addWidget(dock)
    doc = Document(ImageAnnotation("a.png", 300, 300,
                                   tuple(Shape.polygon(rng.choice(NAMES), square(rng.uniform(0, 250), 5))
                                         for _ in range(15))))
    dock.set_document(doc)
    resets = dock._counts.resets
    drags = 0
    for step in range(300):
        uids = [s.uid for s in doc.shapes]
        op = rng.randrange(11)
        if op == 0 or not uids:
            doc.add_shapes([Shape.point(rng.choice(NAMES), (rng.uniform(0, 99), 1)) for _ in range(rng.randint(1, 3))],
                           index=rng.choice([None, 0]))
        elif op == 1:
            doc.remove_shapes(rng.sample(uids, min(len(uids), rng.randint(1, 2))))
        elif op == 2:
            doc.set_label(rng.sample(uids, min(len(uids), 2)), rng.choice(NAMES))
        elif op == 3:  # a vertex drag: many edits, no count changes
            uid = rng.choice(uids)
            with doc.group("Move"):
                for _ in range(3):
                    doc.move_shapes([uid], 1, 0)
            drags += 1
        elif op == 4:
            doc.replace_shape(rng.choice(uids), Shape.point(rng.choice(NAMES), (5, 5)))  # another uid, taken over
        elif op == 5:
            doc.reorder_shape(rng.choice(uids), rng.randrange(len(uids)))
        elif op == 6:
            doc.begin_group("cancelled")
            doc.set_label([rng.choice(uids)], rng.choice(NAMES))
            doc.cancel_group()
        elif op in (7, 8):
            doc.undo()
        elif op == 9:
            doc.redo()
        elif step % 50 == 10:  # the whole annotation at once (an import): counted afresh
            doc.apply(doc.annotation.with_shapes([s.with_label("dog") for s in doc.shapes[:3]]))
        else:
            doc.mark_saved()
        assert dock.rows() == label_rows(labels, doc.shapes), f"step {step}, op {op}"
    # full counts only for the changes that name no shape (apply), never for the drags
    assert dock._counts.resets - resets <= 300 // 50 + 1 and drags > 10
    # label set changes use the kept counts
    dock.state.add("boat")
    assert dock.rows() == label_rows(labels, doc.shapes)
    doc.reset(ImageAnnotation("b.png", 10, 10, (Shape.point("kite", (1, 1)),)))
    assert dock.rows() == label_rows(labels, doc.shapes)
