"""Datasets written by other tools (not by our exporter) import correctly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from samlabel.annotations import Project, mask_iou
from samlabel.formats.batch import import_dataset
from samlabel.formats.images import save_palette_png

H, W = 40, 50
YY, XX = np.mgrid[:H, :W]


def image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(path)
    return path


def load(project_dir, name):
    return Project(project_dir).load(project_dir / name)


def test_coco_crowd_uncompressed_rle_and_box_only(tmp_path):
    image(tmp_path / "ds" / "images" / "a.jpg")
    crowd = (XX >= 10) & (XX < 30) & (YY >= 5) & (YY < 15)
    rle = mask_utils.encode(np.asfortranarray(crowd.astype(np.uint8)))
    # uncompressed RLE as the official COCO files store crowds: counts is a list of run lengths
    flat = crowd.T.ravel()
    runs, current, count = [], False, 0
    for v in flat:
        if v == current:
            count += 1
        else:
            runs.append(count)
            current, count = v, 1
    runs.append(count)
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": H, "width": W}],
        "categories": [{"id": 3, "name": "people"}, {"id": 9, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "iscrowd": 1, "segmentation": {"size": [H, W], "counts": runs},
             "bbox": list(mask_utils.toBbox(rle)), "area": int(crowd.sum())},
            {"id": 2, "image_id": 1, "category_id": 9, "iscrowd": 0, "bbox": [2, 20, 10, 8], "area": 80},
            {"id": 3, "image_id": 1, "category_id": 9, "iscrowd": 0, "segmentation": [[30, 20, 45, 20, 45, 35]], "bbox": [], "area": 1},
        ],
    }
    (tmp_path / "ds" / "annotations").mkdir()
    src = tmp_path / "ds" / "annotations" / "instances.json"
    src.write_text(json.dumps(data))
    report = import_dataset("coco", src, tmp_path / "p")  # images found in ../images
    assert report.exported == 1 and report.problems == []
    ann = load(tmp_path / "p", "a.jpg")
    people, box, tri = ann.shapes
    assert people.label == "people" and people.extra == {"iscrowd": 1}
    assert mask_iou(people.to_mask(H, W), crowd) >= 0.98
    assert box.kind == "rectangle" and box.bbox() == (2.0, 20.0, 12.0, 28.0)
    assert tri.kind == "polygon" and tri.area() == pytest.approx(15 * 15 / 2)
    assert (tmp_path / "p" / "labels.txt").read_text() == "people\ncar\n"


def test_yolo_detection_lines_and_list_style_yaml(tmp_path):
    root = tmp_path / "yolo"
    image(root / "images" / "b.png")
    (root / "labels").mkdir()
    (root / "labels" / "b.txt").write_text("1 0.5 0.5 0.2 0.5\n0 0.1 0.1 0.3 0.1 0.3 0.3\n")
    (root / "data.yaml").write_text("train: images\nnames: ['cat', 'dog']\n")
    report = import_dataset("yolo", root / "data.yaml", tmp_path / "p")
    assert report.exported == 1 and report.problems == []
    box, tri = load(tmp_path / "p", "b.png").shapes
    assert (box.label, box.kind) == ("dog", "rectangle") and box.bbox() == pytest.approx((20.0, 10.0, 30.0, 30.0))
    assert (tri.label, tri.kind) == ("cat", "polygon") and tri.bbox() == pytest.approx((5.0, 4.0, 15.0, 12.0))


def test_yolo_bad_lines_are_reported(tmp_path):
    root = tmp_path / "yolo"
    image(root / "images" / "b.png")
    image(root / "images" / "c.png")
    (root / "labels").mkdir()
    (root / "labels" / "b.txt").write_text("7 0.1 0.1 0.3 0.1 0.3 0.3\n")
    (root / "labels" / "c.txt").write_text("0 0.1 0.1 0.3\n")
    (root / "data.yaml").write_text("names:\n  - cat\n")
    report = import_dataset("yolo", root, tmp_path / "p")
    assert report.exported == 0
    assert any("b.txt: line 1: class 7 is not in the 1 class names" in p for p in report.problems)
    assert any("c.txt: line 1: a polygon needs at least 3 x y pairs" in p for p in report.problems)
    assert not (tmp_path / "p" / "b.json").exists()


def test_semantic_masks_only(tmp_path):
    root = tmp_path / "m"
    image(root / "images" / "c.png")
    sem = np.zeros((H, W), np.uint8)
    sem[5:15, 5:20] = 1
    sem[25:35, 30:45] = 2
    sem[20:22, 2:4] = 1  # a second region of class 1 joins the same shape
    save_palette_png(root / "semantic" / "c.png", sem)
    (root / "class_names.txt").write_text("_background_\nroad\nsky\n")
    report = import_dataset("masks", root, tmp_path / "p")
    assert report.exported == 1
    road, sky = load(tmp_path / "p", "c.png").shapes
    assert road.label == "road" and len(road.polygons) == 2 and sky.label == "sky"
    assert np.array_equal(road.to_mask(H, W), sem == 1)


def test_voc_without_xml(tmp_path):
    root = tmp_path / "voc"
    image(root / "JPEGImages" / "d.jpg")
    obj, cls = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    obj[5:15, 5:20], cls[5:15, 5:20] = 1, 2
    obj[20:30, 20:40], cls[20:30, 20:40] = 2, 1
    obj[0, :], cls[0, :] = 255, 255  # VOC's void border
    save_palette_png(root / "SegmentationObject" / "d.png", obj)
    save_palette_png(root / "SegmentationClass" / "d.png", cls)
    (root / "class_names.txt").write_text("_background_\naeroplane\nbicycle\n")
    report = import_dataset("voc", root, tmp_path / "p")
    assert report.exported == 1 and report.problems == []
    first, second = load(tmp_path / "p", "d.jpg").shapes
    assert (first.label, second.label) == ("bicycle", "aeroplane")
    assert first.bbox() == (5.0, 5.0, 20.0, 15.0)


def test_labelme_images_in_another_folder_with_embedded_image_data(tmp_path):
    image(tmp_path / "ds" / "images" / "e.png")
    (tmp_path / "ds" / "json").mkdir()
    data = {"version": "4.5.6", "flags": {}, "imagePath": "..\\images\\e.png", "imageData": "aGVsbG8=",
            "imageHeight": H, "imageWidth": W,
            "shapes": [{"label": "car", "points": [[1, 1], [20, 1], [20, 20], [1, 20], [1, 1]], "shape_type": "polygon",
                        "group_id": None, "flags": {}}]}
    (tmp_path / "ds" / "json" / "e.json").write_text(json.dumps(data))
    report = import_dataset("labelme", tmp_path / "ds", tmp_path / "p")
    assert report.exported == 1 and report.problems == []
    ann = load(tmp_path / "p", "e.png")
    assert len(ann.shapes[0].polygons[0].exterior) == 4  # closing point dropped
    saved = json.loads((tmp_path / "p" / "e.json").read_text())
    assert saved["imagePath"] == "e.png" and saved["imageData"] == "aGVsbG8="


def test_numbers_that_are_not_numbers_name_the_file_and_keep_the_import_going(tmp_path):
    """Text, NaN or missing coordinates are per-image problems naming the file, not crashes."""
    coco_dir = tmp_path / "coco"
    image(coco_dir / "images" / "a.png")
    image(coco_dir / "images" / "b.png")
    ann = {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [["x", 1, 9, 1, 9, 9]], "iscrowd": 0}
    box = {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, "y", 4, 4], "iscrowd": 0}
    (coco_dir / "ann.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "height": H, "width": W},
                   {"id": 2, "file_name": "b.png", "height": H, "width": W}],
        "annotations": [ann, box], "categories": [{"id": 1, "name": "car"}]}))
    report = import_dataset("coco", coco_dir / "ann.json", tmp_path / "p1")
    assert report.exported == 0 and len(report.problems) == 2
    assert all("ann.json (image '" in p and "could not convert string to float" in p for p in report.problems)

    yolo_dir = tmp_path / "yolo"
    image(yolo_dir / "images" / "a.png")
    (yolo_dir / "labels").mkdir()
    (yolo_dir / "labels" / "a.txt").write_text("0 nan 0.1 0.3 0.1 0.3 0.3\n")
    (yolo_dir / "data.yaml").write_text("names: [car]\n")
    report = import_dataset("yolo", yolo_dir, tmp_path / "p2")
    assert report.problems == [f"{yolo_dir / 'labels' / 'a.txt'}: line 1: a coordinate is not a finite number"]

    voc_dir = tmp_path / "voc"
    image(voc_dir / "JPEGImages" / "a.jpg")
    (voc_dir / "Annotations").mkdir()
    (voc_dir / "Annotations" / "a.xml").write_text(
        "<annotation><object><name>car</name><bndbox><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>")
    report = import_dataset("voc", voc_dir, tmp_path / "p3")
    assert report.exported == 0
    assert report.problems == [f"{voc_dir / 'Annotations' / 'a.xml'}: object 'car': <bndbox> needs xmin, ymin, xmax and ymax numbers"]
