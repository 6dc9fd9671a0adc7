"""Labels and shapes: lookup, files, colours; shape measures and immutable edits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from samlabel.annotations import AnnotationFileError, GeometryError, Label, LabelError, LabelSet, PolygonWithHoles, Shape


# --- labels -------------------------------------------------------------------------
def test_label_set_editing_and_lookup():
    labels = LabelSet(["car", "person"])
    assert labels.names == ["car", "person"] and labels.index("person") == 1
    assert labels["car"] is labels[0] and "car" in labels and "dog" not in labels
    added = labels.add("dog")
    assert labels.names[-1] == "dog" and added.color not in (labels["car"].color, labels["person"].color)
    assert labels.add("dog") is added  # no duplicates
    labels.rename("dog", "cat")
    labels.recolor("cat", (1, 2, 3))
    assert labels["cat"] == Label("cat", (1, 2, 3), None)
    with pytest.raises(LabelError, match="'car' already exists"):
        labels.rename("cat", "car")
    labels.move("cat", 0)
    labels.remove("person")
    assert labels.names == ["cat", "car"]
    with pytest.raises(LabelError, match="'person' is not in the label set"):
        labels.index("person")
    with pytest.raises(LabelError):
        labels.add("  ")


def test_label_files_round_trip(tmp_path):
    txt = tmp_path / "labels.txt"
    txt.write_text("# classes\ncar\n\nperson  # people\ncar\n")
    labels = LabelSet.load(txt)
    assert labels.names == ["car", "person"]
    labels.recolor("car", (10, 20, 30))
    labels.add(Label("tree", (0, 255, 0), id=7))
    out = tmp_path / "labels.json"
    labels.save(out)
    again = LabelSet.load(out)
    assert again == labels and again["tree"].id == 7
    labels.save(tmp_path / "plain.txt")
    assert (tmp_path / "plain.txt").read_text() == "car\nperson\ntree\n"


def test_bad_label_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "car", "color": [300, 0, 0]}]')
    with pytest.raises(AnnotationFileError, match=r"bad\.json.*color"):
        LabelSet.load(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(AnnotationFileError, match=r"broken\.json: malformed JSON"):
        LabelSet.load(broken)
    with pytest.raises(AnnotationFileError, match="missing"):
        LabelSet.load(tmp_path / "missing.txt")


def test_default_label_set_is_the_bundled_file():
    labels = LabelSet.default()
    assert labels.names[:3] == ["person", "car", "bicycle"]
    assert len({label.color for label in labels}) == len(labels)


# --- shapes -------------------------------------------------------------------------
SQUARE = [[10, 10], [30, 10], [30, 30], [10, 30]]
HOLE = [[15, 15], [25, 15], [25, 25], [15, 25]]


def test_polygon_measures_with_hole_and_parts():
    shape = Shape.from_polygons("car", [PolygonWithHoles(SQUARE, (HOLE,)), PolygonWithHoles([[40, 0], [50, 0], [50, 5]])])
    assert shape.bbox() == (10.0, 0.0, 50.0, 30.0)
    assert shape.area() == pytest.approx(400 - 100 + 25)
    mask = shape.to_mask(40, 60)
    assert mask.sum() == 300 + mask[0:5, 40:50].sum() and not mask[20, 20] and mask[12, 12]


def test_rectangle_point_and_mask_shapes():
    rect = Shape.rectangle("bus", (30, 40), (10, 20))
    assert rect.bbox() == (10.0, 20.0, 30.0, 40.0) and rect.area() == 400
    assert rect.to_mask(50, 50).sum() == 400
    point = Shape.point("cat", (3, 4))
    assert point.area() == 0 and point.to_mask(10, 10).sum() == 0 and point.bbox() == (3.0, 4.0, 3.0, 4.0)
    m = np.zeros((20, 30), bool)
    m[5:10, 2:8] = True
    mask = Shape.from_mask("dog", m)
    assert mask.mask_size == (20, 30) and mask.area() == 30 and mask.bbox() == (2.0, 5.0, 8.0, 10.0)
    assert np.array_equal(mask.to_mask(20, 30), m)
    with pytest.raises(GeometryError, match="30x20|20x30"):
        mask.to_mask(30, 20)
    traced = mask.to_polygons()
    assert len(traced) == 1 and Shape.from_polygons("dog", traced).area() == pytest.approx(30)


def test_shape_validation():
    with pytest.raises(GeometryError, match="at least 3 points"):
        Shape.polygon("car", [[0, 0], [1, 1]])
    with pytest.raises(GeometryError, match="non-empty label"):
        Shape.polygon("", SQUARE)
    with pytest.raises(GeometryError, match="2 point"):
        Shape("bus", "rectangle", points=[[0, 0]])
    with pytest.raises(GeometryError, match="unknown shape kind"):
        Shape("x", "circle")
    with pytest.raises(GeometryError, match="RLE"):
        Shape("x", "mask", rle={"counts": "x"})


def test_edits_return_new_shapes_with_the_same_uid():
    shape = Shape.polygon("car", SQUARE, holes=[HOLE], group_id=1, flags={"occluded": True})
    moved = shape.with_vertex_moved((0, 0, 1), (35, 5))
    assert moved.uid == shape.uid and moved != shape
    assert tuple(moved.polygons[0].exterior[1]) == (35, 5) and tuple(shape.polygons[0].exterior[1]) == (30, 10)
    inserted = shape.with_vertex_inserted((0, 1, 2), (20, 14))
    assert len(inserted.polygons[0].holes[0]) == 5 and tuple(inserted.polygons[0].holes[0][2]) == (20, 14)
    deleted = inserted.with_vertex_deleted((0, 1, 2))
    assert deleted.same_content(shape)
    with pytest.raises(GeometryError, match="at least 3 points"):
        Shape.polygon("car", SQUARE[:3]).with_vertex_deleted((0, 0, 0))
    relabelled = shape.with_label("bus").with_group_id(None).with_description("x")
    assert (relabelled.label, relabelled.group_id, relabelled.description, relabelled.uid) == ("bus", None, "x", shape.uid)
    assert shape.with_new_uid().uid != shape.uid
    assert shape.translated(1, 2).bbox() == (11.0, 12.0, 31.0, 32.0)
    rect = Shape.rectangle("bus", (0, 0), (5, 5)).with_vertex_moved((0, 0, 1), (9, 9))
    assert rect.bbox() == (0.0, 0.0, 9.0, 9.0)
    assert len(list(shape.vertices())) == 8
    no_hole = shape.with_part_deleted(0, hole=0)
    assert no_hole.polygons[0].holes == ()


def test_flags_and_extra_are_copied_not_shared():
    flags = {"a": True}
    shape = Shape.polygon("car", SQUARE, flags=flags, extra={"score": 0.5})
    flags["a"] = False
    assert shape.flags == {"a": True} and json.dumps(shape.extra) == '{"score": 0.5}'
