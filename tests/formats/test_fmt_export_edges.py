"""Export edge cases: shapes drawn past the image border, crowd regions."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from pycocotools.coco import COCO

from samlabel.annotations import ImageAnnotation, Project, Shape
from samlabel.formats.batch import export_project

H, W = 40, 50


def _project(tmp_path, shapes):
    root = tmp_path / "p"
    root.mkdir()
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(root / "a.png")
    Project(root).save(ImageAnnotation("a.png", H, W, tuple(shapes)))
    return root


def test_yolo_coordinates_stay_inside_0_1_for_shapes_past_the_border(tmp_path):
    root = _project(tmp_path, [
        Shape.rectangle("box", (-5, -5), (20, 15)),
        Shape.polygon("tri", [[40, 30], [60, 32], [45, 50]]),
        Shape.polygon("gone", [[60, 60], [70, 60], [70, 70]]),  # wholly outside
    ])
    report = export_project("yolo", root, tmp_path / "out")
    lines = (tmp_path / "out" / "labels" / "a.txt").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["0", "1"]
    for line in lines:
        values = np.array(line.split()[1:], dtype=float)
        assert values.min() >= 0.0 and values.max() <= 1.0, line
    box = np.array(lines[0].split()[1:], dtype=float).reshape(-1, 2) * [W, H]
    assert np.allclose(box.min(0), [0, 0]) and np.allclose(box.max(0), [20, 15])
    assert any("'gone' is outside the image" in note for note in report.notes)


def test_coco_polygons_are_clipped_and_crowd_regions_are_rle(tmp_path):
    root = _project(tmp_path, [
        Shape.rectangle("box", (-5, -5), (20, 15)),
        Shape.polygon("crowd", [[25, 5], [45, 5], [45, 30], [25, 30]], extra={"iscrowd": 1}),
    ])
    export_project("coco", root, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "annotations" / "instances_default.json").read_text())
    box, crowd = data["annotations"]
    xs, ys = box["segmentation"][0][0::2], box["segmentation"][0][1::2]
    assert min(xs) == 0 and min(ys) == 0 and box["bbox"] == [0, 0, 20, 15] and box["area"] == 300
    assert crowd["iscrowd"] == 1 and isinstance(crowd["segmentation"], dict)
    coco = COCO(str(tmp_path / "out" / "annotations" / "instances_default.json"))
    assert coco.annToMask(coco.loadAnns([crowd["id"]])[0]).sum() == 20 * 25 == crowd["area"]


def test_voc_jpegs_of_16_bit_and_transparent_images_look_as_in_the_app(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    ramp = np.tile(np.linspace(1000, 5000, W), (H, 1)).astype(np.uint16)  # a dim 16-bit ramp
    Image.fromarray(ramp).save(root / "deep.png")
    rgba = np.zeros((H, W, 4), np.uint8)  # fully transparent black
    Image.fromarray(rgba, "RGBA").save(root / "clear.png")
    export_project("voc", root, tmp_path / "out")
    deep = np.asarray(Image.open(tmp_path / "out" / "JPEGImages" / "deep.jpg").convert("L"), dtype=float)
    assert deep[:, :3].mean() < 20 and deep[:, -3:].mean() > 235  # stretched, not clipped to white
    clear = np.asarray(Image.open(tmp_path / "out" / "JPEGImages" / "clear.jpg"))
    assert clear.min() > 240  # transparent shows as white, as on the canvas


def test_yolo_data_yaml_has_no_path_key(tmp_path):
    """Ultralytics reads a relative ``path:`` against the working directory (or its datasets
    folder); without it, train/val are found beside data.yaml."""
    root = _project(tmp_path, [Shape.polygon("car", [[1, 1], [9, 1], [9, 9]])])
    export_project("yolo", root, tmp_path / "out")
    lines = (tmp_path / "out" / "data.yaml").read_text().splitlines()
    assert not any(line.startswith("path:") for line in lines)
    assert "train: images" in lines and "val: images" in lines and "  0: car" in lines


def test_images_sharing_a_stem_do_not_overwrite_each_other(tmp_path):
    """a.png and a.jpg: formats that name files by stem export the first and report the second."""
    root = _project(tmp_path, [Shape.polygon("car", [[1, 1], [9, 1], [9, 9]])])
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(root / "a.jpg")
    for fmt in ("yolo", "labelme", "voc", "masks", "coco"):
        report = export_project(fmt, root, tmp_path / f"out_{fmt}")
        if fmt == "coco":  # file names, not stems
            assert report.exported == 2 and report.problems == []
            continue
        assert report.exported == 1, fmt
        assert len(report.problems) == 1 and "a.png: another image is also named 'a'" in report.problems[0], fmt
    # a.jpg (first, no shapes) was written; a.png's line did not overwrite its label file
    assert (tmp_path / "out_yolo" / "labels" / "a.txt").read_text() == ""
