"""samlabel's exports read by Datumaro 1.13.12, and Datumaro's exports read by samlabel.

Datumaro is what CVAT reads and writes datasets with. It runs in a venv of its own
(``datumaro_env.py``: its pins clash with samlabel's Pillow and OpenCV), through
``datumaro_side.py``. The project (``interop_project.py``) has holes, multi-part objects
(group ids), labels with a space and an accent, a point and an image without shapes; its
expected masks are computed analytically. Every object must be found once, with its
label, at IoU >= 0.99 outside a one-pixel band around its outline (where the formats'
pixel conventions may differ), with its holes where the format holds holes and its group
id where the format holds group ids; nothing may be dropped or added.

Where Datumaro is at fault the test says so beside the call and samlabel does not work
around it: it has no YOLO-segmentation or labelme-JSON importer (so those two exports are
not tried here; labelme's own code reads ours in test_fmt_labelme_real.py); its COCO
exporter fills holes unless told ``segmentation_mode="mask"``; its VOC importer and
exporter shift boxes by one pixel unless told ``coordinate_mode="voc-one-based"``; its
SA-1B importer has no labels (SA-1B has no classes) and its SA-1B exporter skips an image
without masks.

Set ``SAMLABEL_ROUNDTRIP_TABLE=FILE`` to have each test append its row of the round-trip
table (JSON lines) to FILE.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samlabel.annotations import Project
from samlabel.formats.batch import export_project, import_dataset

from .datumaro_env import run_side
from .interop_project import (
    LABELS,
    Check,
    Found,
    ImageSpec,
    box_mask,
    make_project,
    match,
    polygon_mask,
    rle_mask,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, list[ImageSpec]]:
    root = tmp_path_factory.mktemp("interop") / "project"
    return root, make_project(root)


def _key(name: str) -> str:
    """An image's stem as every format can name it (VOC ids have no spaces)."""
    return Path(name).stem.replace(" ", "_")


def _record(row: dict) -> None:
    path = os.environ.get("SAMLABEL_ROUNDTRIP_TABLE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def _row(fmt: str, direction: str, images: int, check: Check, holes: str, groups: str, labels: str = "exact") -> dict:
    return {
        "format": fmt, "direction": direction, "images": images,
        "objects": f"{check.matched}/{check.expected}" + (f" +{check.extra}" if check.extra else ""),
        "min_iou": round(check.min_iou, 4), "holes": holes if check.holes_kept else "LOST",
        "labels": labels if check.labels_exact else "WRONG", "group_ids": groups if check.groups_exact else "WRONG",
    }


# --- samlabel -> Datumaro -----------------------------------------------------------
def _datumaro_objects(item: dict, kinds=("mask", "polygon", "bbox")) -> list[Found]:
    """Datumaro's annotations of one item as objects: those sharing a label and a non-zero
    group are one object (a box in a group with a mask or polygon is that object's box)."""
    groups: dict[tuple, list[dict]] = {}
    for n, ann in enumerate(item["annotations"]):
        if ann["type"] not in kinds:
            continue
        key = (ann["label"], ann["group"]) if ann["group"] else ("#", n)
        groups.setdefault(key, []).append(ann)
    found = []
    for anns in groups.values():
        shaped = [a for a in anns if a["type"] != "bbox"] or anns
        mask = np.zeros_like(box_mask(0, 0, 0, 0))
        for a in shaped:
            if a["type"] == "mask":
                mask |= rle_mask(a["rle"])
            elif a["type"] == "polygon":
                mask |= polygon_mask(a["points"])
            else:
                x, y, w, h = a["bbox"]
                mask |= box_mask(x, y, x + w, y + h)
        found.append(Found(anns[0]["label"], anns[0]["group"] or None, mask))
    return found


SAMLABEL_TO_DATUMARO = {
    # format: (Datumaro importer, its options, which objects the format holds, group ids held, holes held)
    "coco": ("coco_instances", {}, lambda o: True, False),
    "voc": ("voc_instance_segmentation", {}, lambda o: o.kind != "rectangle", False),  # boxes: below
    "cvat": ("cvat", {}, lambda o: True, True),
    "sa1b": ("segment_anything", {}, lambda o: True, False),
}


@pytest.mark.parametrize("fmt", list(SAMLABEL_TO_DATUMARO))
def test_datumaro_reads_samlabel_exports(fmt, project, tmp_path):
    root, specs = project
    out = tmp_path / fmt
    export_project(fmt, root, out)
    importer, options, held, groups = SAMLABEL_TO_DATUMARO[fmt]
    answer = run_side({"op": "import", "path": str(out), "format": importer, "options": options})
    assert answer["errors"] == []
    items = {_key(item["id"]): item for item in answer["items"]}
    assert sorted(items) == sorted(_key(s.name) for s in specs), "every image, the one without shapes too"
    if fmt != "sa1b":  # SA-1B has no classes; Datumaro's segment_anything importer has no labels
        assert [n for n in answer["labels"] if n != "background"] == LABELS
    check = Check()
    for spec in specs:
        item = items[_key(spec.name)]
        assert [item["size"]] == [[72, 96]]
        label_of = (lambda o: None) if fmt == "sa1b" else None
        # Datumaro's VOC instance importer also yields the XML's boxes, grouped from 0 while
        # it groups the object PNG's masks from 1, so a box and its mask cannot be paired by
        # group: the masks are compared here, the boxes in the next test.
        kinds = ("mask",) if fmt == "voc" else ("mask", "polygon", "bbox")
        match([o for o in spec.objects if held(o)], _datumaro_objects(item, kinds), check, f"{fmt}:{spec.name}", groups, label_of)
        if fmt == "cvat":
            points = [(a["label"], tuple(a["points"])) for a in item["annotations"] if a["type"] == "points"]
            assert points == spec.points
    assert check.problems == []
    labels = "not held (SA-1B has no classes)" if fmt == "sa1b" else "exact"
    _record(_row(fmt, "samlabel -> Datumaro", len(items), check, "kept", "exact" if groups else "not held", labels))


def test_datumaro_reads_samlabel_voc_boxes(project, tmp_path):
    """The VOC XML boxes, read by Datumaro's detection importer told VOC's 1-based
    convention (without ``coordinate_mode`` Datumaro shifts every box by one pixel)."""
    root, specs = project
    export_project("voc", root, tmp_path / "voc")
    answer = run_side({"op": "import", "path": str(tmp_path / "voc"), "format": "voc_detection",
                       "options": {"coordinate_mode": "voc-one-based"}})
    assert answer["errors"] == []
    items = {_key(item["id"]): item for item in answer["items"]}
    for spec in specs:
        boxes = sorted((a["label"], tuple(round(v, 3) for v in a["bbox"])) for a in items[_key(spec.name)]["annotations"])
        expected = []
        for obj in spec.objects:
            ys, xs = np.nonzero(obj.mask)
            expected.append((obj.label, (float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min()))))
        assert [label for label, _ in boxes] == [label for label, _ in sorted(expected)], spec.name
        for (_, got), (_, want) in zip(boxes, sorted(expected)):  # within the one-pixel band
            assert np.abs(np.subtract(got, want)).max() <= 1, (spec.name, got, want)


# --- Datumaro -> samlabel -----------------------------------------------------------
def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _datumaro_items(root: Path, specs: list[ImageSpec]) -> list[dict]:
    """The project as Datumaro annotations: a polygon per part, a mask for an object with
    holes, a box for a rectangle, points; an object's annotations share its group id (a
    fresh one from 100 up when it has none and more than one annotation)."""
    items = []
    fresh = iter(range(100, 1000))
    for spec in specs:
        anns = []
        for obj in spec.objects:
            label = LABELS.index(obj.label)
            if obj.kind == "rectangle":
                x0, y0, x1, y1 = obj.box
                anns.append({"type": "bbox", "label": label, "bbox": [x0, y0, x1 - x0, y1 - y0]})
                continue
            group = obj.group_id or (next(fresh) if obj.parts and len(obj.parts) > 1 else 0)
            if obj.parts is None:
                anns.append({"type": "mask", "label": label, "group": group, "rle": _rle(obj.mask)})
            else:
                for part in obj.parts:
                    anns.append({"type": "polygon", "label": label, "group": group,
                                 "points": [float(v) for xy in part for v in xy]})
        for label, xy in spec.points:
            anns.append({"type": "points", "label": LABELS.index(label), "points": list(xy)})
        items.append({"id": Path(spec.name).stem, "subset": "default", "image": str(root / spec.name), "annotations": anns})
    return items


DATUMARO_TO_SAMLABEL = {
    # format: (Datumaro exporter, its options, objects held, group ids held, images Datumaro writes)
    # Datumaro's default COCO export ("guess") fills holes: told segmentation_mode="mask" it keeps them.
    "coco": ("coco_instances", {"segmentation_mode": "mask"}, lambda o: True, False, 3),
    # label_map="source" writes labelmap.txt (default: VOC's 20 classes); "voc-one-based" keeps
    # boxes in place. Datumaro's VOC exporter writes masks only, leaving polygons out without a
    # word: its merge_instance_segments transform (what CVAT runs first) makes each object one mask.
    "voc": ("voc", {"label_map": "source", "coordinate_mode": "voc-one-based"}, lambda o: True, False, 3),
    "cvat": ("cvat", {}, lambda o: True, True, 3),
    # Datumaro's segment_anything exporter writes no labels (SA-1B has none), skips the image
    # without masks and drops a box-only object (it finds no mask for it).
    "sa1b": ("segment_anything", {}, lambda o: o.kind != "rectangle", False, 2),
}


@pytest.mark.parametrize("fmt", list(DATUMARO_TO_SAMLABEL))
def test_samlabel_reads_datumaro_exports(fmt, project, tmp_path):
    root, specs = project
    exporter, options, held, groups, images = DATUMARO_TO_SAMLABEL[fmt]
    out = tmp_path / f"dm-{fmt}"
    transforms = [["merge_instance_segments", {"include_polygons": True}]] if fmt == "voc" else []
    run_side({"op": "export", "out": str(out), "format": exporter, "options": options, "transforms": transforms,
              "labels": LABELS, "items": _datumaro_items(root, specs)})
    report = import_dataset(fmt, out, tmp_path / "back")
    assert report.problems == []
    back = Project(tmp_path / "back")
    by_key = {_key(image.name): image for image in back.images}
    assert len(by_key) == images == report.exported
    check = Check()
    for spec in specs:
        if _key(spec.name) not in by_key:
            assert fmt == "sa1b" and not spec.objects
            continue
        annotation = back.load(by_key[_key(spec.name)])
        objects: dict[tuple, list] = {}
        for n, shape in enumerate(annotation.shapes):
            if shape.kind != "point":
                objects.setdefault((shape.label, shape.group_id) if shape.group_id is not None else ("#", n), []).append(shape)
        found = [Found(s[0].label, s[0].group_id, np.any([x.to_mask(72, 96) for x in s], axis=0)) for s in objects.values()]
        label_of = (lambda o: "object") if fmt == "sa1b" else None  # SA-1B has no classes
        match([o for o in spec.objects if held(o)], found, check, f"{fmt}:{spec.name}", groups, label_of)
        points = [(s.label, tuple(s.points[0])) for s in annotation.shapes if s.kind == "point"]
        assert points == (spec.points if fmt == "cvat" else [])  # only CVAT has points among these
    assert check.problems == []
    labels = "'object' (Datumaro writes none)" if fmt == "sa1b" else "exact"
    _record(_row(fmt, "Datumaro -> samlabel", len(by_key), check, "kept", "exact" if groups else "not held", labels))
