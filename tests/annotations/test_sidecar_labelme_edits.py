"""Sidecars edited in labelme (issue 20: nothing lost, nothing garbled).

labelme rewrites only what it sees, ``points`` (and a mask shape's own ``mask`` PNG), and
keeps samlabel's ``holes`` / ``rle`` as they were. A shape moved or reshaped in labelme must
come back in samlabel as labelme left it; every part of a multi-part polygon must be visible
(and movable) in labelme, and still read back as one object in samlabel.
"""

from __future__ import annotations

import base64
import io
import json
import math
import warnings

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations import (
    AnnotationFileError,
    AnnotationWarning,
    ImageAnnotation,
    PolygonWithHoles,
    Project,
    Shape,
    mask_iou,
    polygons_to_mask,
    read_sidecar,
    write_sidecar,
)

H, W = 100, 120
DX, DY = 7, 5


def _annotation() -> ImageAnnotation:
    donut = Shape.polygon("donut", [[10, 10], [50, 10], [50, 50], [10, 50]], holes=[[[20, 20], [40, 20], [40, 40], [20, 40]]])
    car = Shape.from_polygons(
        "car",
        [
            PolygonWithHoles([[60, 10], [100, 10], [100, 40], [60, 40]], ([[70, 20], [80, 20], [80, 30], [70, 30]],)),
            PolygonWithHoles([[60, 50], [80, 50], [80, 65], [60, 65]]),
        ],
    )
    m = np.zeros((H, W), bool)
    m[60:85, 15:45] = True
    m[65:70, 20:25] = False
    dog = Shape.from_mask("dog", m, group_id=4)
    return ImageAnnotation("img.png", H, W, (donut, car, dog))


def _decode(b64: str) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(base64.b64decode(b64)))).astype(bool)


def _labelme_png(arr: np.ndarray) -> str:
    """How labelme writes a mask: its bool array straight to PNG (a 1-bit image)."""
    buf = io.BytesIO()
    Image.fromarray(arr.astype(bool)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def labelme_save(data: dict, dx: float = 0, dy: float = 0, only=lambda s: True) -> dict:
    """What labelme writes back after moving the shapes it shows by ``(dx, dy)``: new
    ``points``, the mask re-encoded its way, every other key kept as it was."""
    data = json.loads(json.dumps(data))
    for shape in data["shapes"]:
        if only(shape):
            shape["points"] = [[x + dx, y + dy] for x, y in shape["points"]]
        if shape.get("mask"):
            shape["mask"] = _labelme_png(_decode(shape["mask"]))
    return data


def labelme_view(data: dict) -> dict[str, np.ndarray]:
    """What labelme draws for each label: filled ``points`` polygons (it knows no holes),
    masks placed at their box; shapes of one label and group id are one object."""
    out: dict[str, np.ndarray] = {}
    for shape in data["shapes"]:
        if shape["shape_type"] == "mask":
            crop = _decode(shape["mask"])
            x0, y0 = (int(math.floor(v)) for v in shape["points"][0])
            drawn = np.zeros((H, W), bool)
            drawn[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
        else:
            drawn = polygons_to_mask([PolygonWithHoles(shape["points"])], H, W)
        out[shape["label"]] = out.get(shape["label"], np.zeros((H, W), bool)) | drawn
    return out


def samlabel_objects(annotation: ImageAnnotation, filled: bool = False) -> dict[str, np.ndarray]:
    """Each label's rasterised object in samlabel (``filled``: exteriors only, no holes)."""
    out: dict[str, np.ndarray] = {}
    for shape in annotation.shapes:
        if filled and shape.kind == "polygon":
            drawn = polygons_to_mask([PolygonWithHoles(p.exterior) for p in shape.polygons], H, W)
        else:
            drawn = shape.to_mask(H, W)
        out[shape.label] = out.get(shape.label, np.zeros((H, W), bool)) | drawn
    return out


def shifted(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    assert not mask[H - dy :].any() and not mask[:, W - dx :].any()  # nothing falls off
    out = np.zeros_like(mask)
    out[dy:, dx:] = mask[: H - dy, : W - dx]
    return out


def _write(tmp_path, annotation=None) -> tuple:
    path = tmp_path / "img.json"
    annotation = annotation or _annotation()
    write_sidecar(path, annotation)
    return path, annotation, json.loads(path.read_text())


def _read_quietly(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        annotation = read_sidecar(path)
    return annotation, [str(w.message) for w in caught if issubclass(w.category, AnnotationWarning)]


def test_shapes_moved_in_labelme_come_back_moved(tmp_path):
    path, before, data = _write(tmp_path)
    moved = labelme_save(data, DX, DY)  # select all, drag by (DX, DY), save
    path.write_text(json.dumps(moved))
    after, notes = _read_quietly(path)
    assert notes == []
    expected = {label: shifted(m, DX, DY) for label, m in samlabel_objects(before).items()}
    got = samlabel_objects(after)
    ious = {label: mask_iou(got[label], expected[label]) for label in expected}
    assert ious == {"donut": 1.0, "car": 1.0, "dog": 1.0}, ious
    # and it is what labelme shows (labelme has no holes: compare the outlines there)
    shown = labelme_view(moved)
    assert mask_iou(samlabel_objects(after, filled=True)["donut"], shown["donut"]) == 1.0
    assert mask_iou(samlabel_objects(after, filled=True)["car"], shown["car"]) == 1.0
    assert mask_iou(got["dog"], shown["dog"]) == 1.0
    # the holes moved with their outline, vertex for vertex
    donut = after.shapes[0]
    assert np.array_equal(donut.polygons[0].holes[0], before.shapes[0].polygons[0].holes[0] + [DX, DY])
    # saving again and reading back changes nothing more
    write_sidecar(path, after)
    again, _ = _read_quietly(path)
    assert all(a.same_content(b) for a, b in zip(after.shapes, again.shapes))


def test_one_part_moved_in_labelme_moves_only_that_part(tmp_path):
    path, before, data = _write(tmp_path)
    second_part = lambda s: s["label"] == "car" and s.get("samlabel_part", {}).get("index") == 2  # noqa: E731
    moved = labelme_save(data, DX, DY, only=second_part)
    path.write_text(json.dumps(moved))
    after, _ = _read_quietly(path)
    car = [s for s in after.shapes if s.label == "car"]
    assert len(car) == 1 and len(car[0].polygons) == 2
    assert car[0].polygons[0] == before.shapes[1].polygons[0]
    assert car[0].polygons[1] == before.shapes[1].polygons[1].translated(DX, DY)
    assert mask_iou(samlabel_objects(after, filled=True)["car"], labelme_view(moved)["car"]) == 1.0


def test_saved_by_labelme_unchanged_reads_back_unchanged(tmp_path):
    path, before, data = _write(tmp_path)
    path.write_text(json.dumps(labelme_save(data)))  # opened and saved: the mask PNG is re-encoded
    after, notes = _read_quietly(path)
    assert notes == [] and all(a.same_content(b) for a, b in zip(before.shapes, after.shapes))


def test_outline_reshaped_in_labelme_drops_holes_that_no_longer_fit(tmp_path):
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "img.png")
    hole = [[20, 20], [40, 20], [40, 40], [20, 40]]
    shrunk = Shape.polygon("donut", [[10, 10], [50, 10], [50, 50], [10, 50]], holes=[hole])
    widened = Shape.polygon("ring", [[60, 10], [100, 10], [100, 50], [60, 50]], holes=[[[70, 20], [90, 20], [90, 40], [70, 40]]])
    path, before, data = _write(tmp_path, ImageAnnotation("img.png", H, W, (shrunk, widened)))
    data["shapes"][0]["points"] = [[10, 10], [50, 10], [50, 18], [10, 18]]  # vertices dragged up: the hole is outside
    data["shapes"][1]["points"][1] = [110, 5]  # one corner pulled out: the hole still fits
    path.write_text(json.dumps(data))
    annotation, notes = Project(tmp_path).load_with_notes(tmp_path / "img.png")
    assert len(notes) == 1 and "shape #1 ('donut')" in notes[0] and "1 hole(s)" in notes[0] and "dropped" in notes[0]
    donut, ring = annotation.shapes
    assert donut.polygons == (PolygonWithHoles([[10, 10], [50, 10], [50, 18], [10, 18]]),)
    assert mask_iou(donut.to_mask(H, W), labelme_view(data)["donut"]) == 1.0
    assert np.array_equal(ring.polygons[0].holes[0], before.shapes[1].polygons[0].holes[0])
    assert np.array_equal(ring.polygons[0].exterior, data["shapes"][1]["points"])


def test_mask_edited_in_labelme_is_taken_from_labelmes_mask(tmp_path):
    path, before, data = _write(tmp_path)
    dog = data["shapes"][-1]
    crop = _decode(dog["mask"])
    crop[:3] = False  # labelme erased the top rows of the mask (same box)
    dog["mask"] = _labelme_png(crop)
    path.write_text(json.dumps(data))
    after, _ = _read_quietly(path)
    assert mask_iou(samlabel_objects(after)["dog"], labelme_view(data)["dog"]) == 1.0


# --- multi-part shapes: one labelme shape per part -----------------------------------
def _multi_part_annotation() -> ImageAnnotation:
    a = PolygonWithHoles([[5, 5], [40, 5], [40, 40], [5, 40]], ([[10, 10], [20, 10], [20, 20], [10, 20]],))
    b = PolygonWithHoles([[50, 5], [70, 5], [70, 30], [50, 30]], ([[55, 10], [65, 10], [65, 20], [55, 20]],))
    c = PolygonWithHoles([[80, 5], [95, 5], [95, 20]])
    return ImageAnnotation(
        "img.png",
        H,
        W,
        (
            Shape.from_polygons("tree", [a, b, c], flags={"occluded": True}, description="oak", extra={"score": 0.5}),
            Shape.polygon("tree", [[5, 60], [30, 60], [30, 90]], group_id=1),  # a single shape, group id 1 taken
            Shape.from_polygons("tree", [c.translated(0, 60), b.translated(0, 60)], group_id=7),
            Shape.from_polygons("bush", [a.translated(60, 50), PolygonWithHoles([[40, 92], [60, 92], [60, 98]])]),
            Shape.point("tree", (100, 90)),
        ),
        extra={"__samlabel_unsupported_shapes__": [(1, {"label": "sun", "points": [[1, 1], [3, 3]], "shape_type": "circle", "group_id": 2})]},
    )


def test_multi_part_shapes_are_labelme_groups_and_round_trip(tmp_path):
    path, before, data = _write(tmp_path, _multi_part_annotation())
    shapes = data["shapes"]
    assert "parts" not in json.dumps(data)
    labels = [(s["label"], s["group_id"], s.get("samlabel_part", {}).get("index")) for s in shapes]
    # the first tree had no group id: it gets one no other shape uses (1 and 2 are taken)
    assert labels == [
        ("tree", 3, 1), ("sun", 2, None), ("tree", 3, 2), ("tree", 3, 3), ("tree", 1, None),
        ("tree", 7, 1), ("tree", 7, 2), ("bush", 4, 1), ("bush", 4, 2), ("tree", None, None),
    ]  # fmt: skip
    assert shapes[0]["score"] == 0.5 and "score" not in shapes[2]  # unknown keys once, on the first part
    assert all(s["flags"] == {"occluded": True} and s["description"] == "oak" for s in (shapes[0], shapes[2], shapes[3]))
    assert shapes[2]["holes"] == [[[55.0, 10.0], [65.0, 10.0], [65.0, 20.0], [55.0, 20.0]]]  # each part's holes on it
    # labelme sees every part of every object
    shown = labelme_view(data)
    assert mask_iou(samlabel_objects(before, filled=True)["bush"], shown["bush"]) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnnotationWarning)  # the circle
        after = read_sidecar(path)
    assert len(after.shapes) == len(before.shapes)
    assert all(a.same_content(b) for a, b in zip(before.shapes, after.shapes))
    assert after.shapes[0].group_id is None and after.shapes[3].group_id is None
    write_sidecar(path, after)
    assert json.loads(path.read_text()) == data


def test_parts_changed_in_labelme_are_kept_as_shapes_of_their_own(tmp_path):
    path, before, data = _write(tmp_path, ImageAnnotation("img.png", H, W, _multi_part_annotation().shapes[:1]))
    data["shapes"][1]["label"] = "bush"  # relabelled in labelme
    path.write_text(json.dumps(data))
    after = read_sidecar(path)
    assert [(s.label, len(s.polygons)) for s in after.shapes] == [("tree", 2), ("bush", 1)]
    assert after.shapes[0].polygons == (before.shapes[0].polygons[0], before.shapes[0].polygons[2])
    assert after.shapes[1].polygons == (before.shapes[0].polygons[1],)


def test_old_sidecars_with_a_parts_key_still_read(tmp_path):
    path = tmp_path / "img.json"
    old = {
        "version": "5.5.0", "flags": {}, "imagePath": "img.png", "imageData": None, "imageHeight": H, "imageWidth": W,
        "shapes": [{
            "label": "car", "points": [[10, 10], [30, 10], [30, 30], [10, 30]], "group_id": None, "description": "",
            "shape_type": "polygon", "flags": {}, "mask": None, "holes": [[[15, 15], [25, 15], [25, 25], [15, 25]]],
            "parts": [{"points": [[40, 40], [50, 40], [50, 50]]}],
        }],
    }  # fmt: skip
    path.write_text(json.dumps(old))
    car = read_sidecar(path).shapes[0]
    assert car.polygons == (
        PolygonWithHoles([[10, 10], [30, 10], [30, 30], [10, 30]], ([[15, 15], [25, 15], [25, 25], [15, 25]],)),
        PolygonWithHoles([[40, 40], [50, 40], [50, 50]]),
    )


@pytest.mark.parametrize("marker", [{"index": 0}, {"index": "2"}, "x", {"index": 2, "auto_group_id": "a"}])
def test_a_broken_part_marker_names_file_and_shape(tmp_path, marker):
    path, _, data = _write(tmp_path, ImageAnnotation("img.png", H, W, _multi_part_annotation().shapes[:1]))
    data["shapes"][1]["samlabel_part"] = marker
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationFileError, match=r"img\.json: shape #2 \('tree'\): samlabel_part"):
        read_sidecar(path)
