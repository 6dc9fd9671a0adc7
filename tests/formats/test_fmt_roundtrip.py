"""Export then import gives back the labels, instances, group ids and geometry (IoU >= 0.98)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from samlabel.annotations import LabelSet, Project, mask_iou
from samlabel.formats.batch import export_project, import_dataset
from samlabel.formats.common import group_instances

H, W = 120, 160  # the sample project's image size (tests/formats/conftest.py)
# what each format can express
KEEPS_GROUP_IDS = {"coco", "labelme", "masks", "cvat", "sa1b"}
KEEPS_RECTANGLES = {"labelme", "voc", "cvat"}
SRC = {"coco": "annotations/instances_default.json"}


def _imported(project_dir: Path) -> dict[str, list]:
    project = Project(project_dir)
    return {image.stem: project.load(image) for image in project.images}


@pytest.mark.parametrize("fmt", ["coco", "labelme", "yolo", "voc", "masks", "cvat", "sa1b"])
def test_export_import_round_trip(fmt, sample_project, tmp_path):
    out = tmp_path / f"out_{fmt}"
    report = export_project(fmt, sample_project.root, out)
    assert report.exported == 3 and report.problems == []
    back = tmp_path / f"back_{fmt}"
    src = out / SRC.get(fmt, "")
    report = import_dataset(fmt, src, back)
    assert report.exported == 3 and report.problems == [], report.problems
    annotations = _imported(back)
    assert sorted(annotations) == sorted(sample_project.expected)
    labels = (back / "labels.txt").read_text().split()
    assert set(labels) >= {e.label for exp in sample_project.expected.values() for e in exp}

    for stem, expected in sample_project.expected.items():
        annotation = annotations[stem]
        assert annotation.size == (H, W)
        instances = [i for i in group_instances(annotation) if i.has_area]
        assert len(instances) == len(expected), (fmt, stem, [(i.label, i.group_id) for i in instances])
        unmatched = list(instances)
        for exp in expected:
            scores = [(mask_iou(inst.mask(H, W), exp.mask), inst) for inst in unmatched if inst.label == exp.label]
            assert scores, (fmt, stem, exp.label)
            iou, inst = max(scores, key=lambda s: s[0])
            assert iou >= 0.98, (fmt, stem, exp.label, iou)
            unmatched.remove(inst)
            if fmt in KEEPS_GROUP_IDS and exp.group_id is not None:
                assert inst.group_id == exp.group_id, (fmt, exp.label)
            if exp.kind == "rectangle" and fmt in KEEPS_RECTANGLES:
                assert [s.kind for s in inst.shapes] == ["rectangle"]
            if exp.kind == "polygon":
                assert all(s.kind == "polygon" for s in inst.shapes)


def test_labelme_round_trip_is_exact(sample_project, tmp_path):
    export_project("labelme", sample_project.root, tmp_path / "lm")
    import_dataset("labelme", tmp_path / "lm", tmp_path / "back")
    original = Project(sample_project.root)
    back = Project(tmp_path / "back")
    for image in original.images:
        a, b = original.load(image), back.load(tmp_path / "back" / image.name)
        assert len(a.shapes) == len(b.shapes)
        assert all(x.same_content(y) for x, y in zip(a.shapes, b.shapes))
        assert (tmp_path / "back" / image.name).read_bytes() == image.read_bytes()


def test_yolo_joins_parts_into_one_line_and_splits_them_back(sample_project, tmp_path):
    export_project("yolo", sample_project.root, tmp_path / "y")
    lines = (tmp_path / "y" / "labels" / "img0.txt").read_text().splitlines()
    assert len(lines) == 5  # car, dog (2 blobs), person, bus, tree (2 shapes): one line each
    names = (tmp_path / "y" / "data.yaml").read_text()
    assert "names:\n  0: car\n" in names
    values = np.array([float(v) for line in lines for v in line.split()[1:]])
    assert values.min() >= 0 and values.max() <= 1
    import_dataset("yolo", tmp_path / "y", tmp_path / "back")
    ann = Project(tmp_path / "back").load(tmp_path / "back" / "img0.png")
    dog = [s for s in ann.shapes if s.label == "dog"][0]
    car = [s for s in ann.shapes if s.label == "car"][0]
    assert len(dog.polygons) == 2 and len(car.polygons[0].holes) == 1


def test_voc_layout_and_palette(sample_project, tmp_path):
    from PIL import Image

    out = tmp_path / "voc"
    export_project("voc", sample_project.root, out)
    assert (out / "ImageSets" / "Segmentation" / "trainval.txt").read_text().split() == ["img0", "img1", "img2"]
    assert (out / "class_names.txt").read_text().splitlines()[0] == "_background_"
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == ["img0.jpg", "img1.jpg", "img2.jpg"]
    cls = Image.open(out / "SegmentationClass" / "img0.png")
    assert cls.mode == "P" and cls.getpalette()[3:6] == [128, 0, 0]  # VOC colour of class 1
    values = np.array(cls)
    assert values[45, 15] == 1  # car is class 1
    obj = np.array(Image.open(out / "SegmentationObject" / "img0.png"))
    assert set(np.unique(obj)) == {0, 1, 2, 3, 5}  # object 4 (the bus) is box-only
    xml = (out / "Annotations" / "img0.xml").read_text()
    assert xml.count("<object>") == 5 and "<xmin>6</xmin>" in xml and "<xmax>40</xmax>" in xml  # bus box, 1-based


def test_masks_layout(sample_project, tmp_path):
    from PIL import Image

    out = tmp_path / "m"
    export_project("masks", sample_project.root, out)
    inst = np.array(Image.open(out / "instance" / "img0.png"))
    assert inst.dtype == np.uint16 and {5, 2, 7} <= set(np.unique(inst).tolist())  # group ids are the instance ids
    sem = np.array(Image.open(out / "semantic" / "img0.png"))
    assert sem[45, 15] == 1 and sem[45, 40] == 0  # the ring's hole is background


def test_labelme_keeps_the_label_list_and_skips_a_project_label_file(sample_project, tmp_path):
    (sample_project.root / "labels.txt").write_text("\n".join(["zebra", *sample_project.labels]) + "\n")
    out = tmp_path / "lm"
    export_project("labelme", sample_project.root, out)
    assert (out / "labels.txt").read_text().split() == ["zebra", *sample_project.labels]  # unused zebra too
    (out / "labels.txt").unlink()
    LabelSet(["zebra", *sample_project.labels]).save(out / "labels.json")  # a project's label file instead
    report = import_dataset("labelme", out, tmp_path / "back")
    assert report.problems == [] and report.exported == 3
    assert Project(tmp_path / "back").labels.names == ["zebra", *sample_project.labels]
