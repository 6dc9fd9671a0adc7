"""Detection datasets (boxes only) come in through ``samlabel import`` as rectangles, which
the auto-labeller then takes: COCO without segmentation, YOLO detection labels (5 columns),
Pascal VOC XML boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

W, H = 64, 48


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(path)


def _rects(project, name):
    from samlabel.annotations import Project

    shapes = Project(project).load(project / name).shapes
    assert all(s.kind == "rectangle" for s in shapes), [s.kind for s in shapes]
    return [(s.label, s.bbox()) for s in shapes]


def _planned(project) -> list[str]:
    from samlabel.autolabel.job import plan
    from samlabel.autolabel.spec import AutolabelSpec

    return plan(AutolabelSpec(project)).plan


def test_coco_without_segmentation(tmp_path):
    from samlabel.formats.batch import import_dataset

    src = tmp_path / "coco"
    _image(src / "images" / "a.jpg")
    _image(src / "images" / "b.jpg")
    (src / "annotations").mkdir()
    (src / "annotations" / "instances_default.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": W, "height": H},
                   {"id": 2, "file_name": "b.jpg", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 5, 20, 10], "area": 200, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [30.5, 6, 10, 30], "segmentation": [], "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 2, "bbox": [0, 0, 64, 48], "segmentation": [], "area": 1},
        ],
    }), encoding="utf-8")
    report = import_dataset("coco", src, tmp_path / "project")
    assert report.problems == [] and report.exported == 2
    assert _rects(tmp_path / "project", "a.jpg") == [("cat", (4.0, 5.0, 24.0, 15.0)), ("dog", (30.5, 6.0, 40.5, 36.0))]
    assert _rects(tmp_path / "project", "b.jpg") == [("dog", (0.0, 0.0, 64.0, 48.0))]
    assert _planned(tmp_path / "project") == ["a.jpg: 2 box(es) replaced by masks", "b.jpg: 1 box(es) replaced by masks"]


def test_yolo_detection_labels(tmp_path):
    from samlabel.formats.batch import import_dataset

    src = tmp_path / "yolo"
    _image(src / "images" / "a.png")
    (src / "labels").mkdir()
    (src / "data.yaml").write_text("names:\n  0: cat\n  1: dog\n", encoding="utf-8")
    (src / "labels" / "a.txt").write_text("0 0.25 0.5 0.25 0.5\n1 0.75 0.25 0.5 0.5\n", encoding="utf-8")
    report = import_dataset("yolo", src, tmp_path / "project")
    assert report.problems == [] and report.exported == 1
    assert _rects(tmp_path / "project", "a.png") == [("cat", (8.0, 12.0, 24.0, 36.0)), ("dog", (32.0, 0.0, 64.0, 24.0))]
    assert _planned(tmp_path / "project") == ["a.png: 2 box(es) replaced by masks"]


def test_yolo_detection_line_with_a_wrong_column_count_is_named(tmp_path):
    from samlabel.formats.batch import import_dataset

    src = tmp_path / "yolo"
    _image(src / "images" / "a.png")
    (src / "labels").mkdir()
    (src / "data.yaml").write_text("names: [cat]\n", encoding="utf-8")
    (src / "labels" / "a.txt").write_text("0 0.5 0.5 0.2\n", encoding="utf-8")
    report = import_dataset("yolo", src, tmp_path / "project")
    assert report.exported == 0 and len(report.problems) == 1
    assert "a.txt: line 1" in report.problems[0]


@pytest.mark.parametrize("with_lists", [True, False])
def test_voc_xml_boxes(tmp_path, with_lists):
    from samlabel.formats.batch import import_dataset

    src = tmp_path / "voc"
    _image(src / "JPEGImages" / "a.jpg")
    (src / "Annotations").mkdir()
    (src / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height><depth>3</depth></size>"
        "<object><name>cat</name><difficult>0</difficult><bndbox><xmin>5</xmin><ymin>6</ymin><xmax>20</xmax>"
        "<ymax>30</ymax></bndbox></object>"
        "<object><name>dog</name><bndbox><xmin>30</xmin><ymin>1</ymin><xmax>64</xmax><ymax>48</ymax></bndbox></object>"
        "</annotation>", encoding="utf-8")
    if with_lists:
        (src / "ImageSets" / "Main").mkdir(parents=True)
        (src / "ImageSets" / "Main" / "trainval.txt").write_text("a\n", encoding="utf-8")
    report = import_dataset("voc", src, tmp_path / "project")
    assert report.problems == [] and report.exported == 1
    # VOC boxes are 1-based inclusive pixel indices: xmin 5 is pixel 4, whose left edge is 4
    assert _rects(tmp_path / "project", "a.jpg") == [("cat", (4.0, 5.0, 20.0, 30.0)), ("dog", (29.0, 0.0, 64.0, 48.0))]
    assert _planned(tmp_path / "project") == ["a.jpg: 2 box(es) replaced by masks"]
