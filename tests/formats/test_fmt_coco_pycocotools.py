"""A COCO export loads in pycocotools and annToMask reproduces every exported mask."""

from __future__ import annotations

import json

import numpy as np
from pycocotools.coco import COCO

from samlabel.annotations import mask_iou
from samlabel.formats.batch import export_project


def test_coco_export_loads_in_pycocotools(sample_project, tmp_path):
    out = tmp_path / "coco"
    report = export_project("coco", sample_project.root, out)
    assert report.exported == 3 and report.problems == []
    assert any("point 'cat' left out" in n for n in report.notes)
    coco = COCO(str(out / "annotations" / "instances_default.json"))
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert sorted(names.values()) == sorted(sample_project.labels)
    assert sorted(img["file_name"] for img in coco.loadImgs(coco.getImgIds())) == ["img0.png", "img1.jpg", "img2.png"]
    for img in coco.loadImgs(coco.getImgIds()):
        assert (out / "images" / "default" / img["file_name"]).is_file()
        expected = sample_project.expected[img["file_name"].rsplit(".", 1)[0]]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        assert len(anns) == len(expected)
        for ann, exp in zip(anns, expected):
            assert names[ann["category_id"]] == exp.label and ann.get("group_id") == exp.group_id
            mask = coco.annToMask(ann).astype(bool)
            assert mask_iou(mask, exp.mask) >= 0.98, (img["file_name"], exp.label)
            # bbox and area agree with the segmentation
            ys, xs = np.nonzero(mask)
            assert ann["area"] == mask.sum()
            assert np.allclose(ann["bbox"], [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1])
            assert ann["iscrowd"] == 0


def test_holes_survive_as_rle_and_plain_polygons_stay_polygons(sample_project, tmp_path):
    out = tmp_path / "coco"
    export_project("coco", sample_project.root, out)
    data = json.loads((out / "annotations" / "instances_default.json").read_text())
    cats = {c["name"]: c["id"] for c in data["categories"]}
    by_cat = {a["category_id"]: a for a in data["annotations"] if a["image_id"] == 1}
    ring = by_cat[cats["car"]]
    assert isinstance(ring["segmentation"], dict)  # RLE, because of the hole
    coco = COCO(str(out / "annotations" / "instances_default.json"))
    mask = coco.annToMask(ring)
    assert mask[45, 40] == 0 and mask[45, 15] == 1  # centre of the hole empty, the ring filled
    dog = by_cat[cats["dog"]]
    assert isinstance(dog["segmentation"], list) and len(dog["segmentation"]) == 2  # two blobs, two polygons
    assert all(len(p) >= 6 for p in dog["segmentation"])
    tree = by_cat[cats["tree"]]  # two shapes of one group are one annotation
    assert len(tree["segmentation"]) == 2 and tree["group_id"] == 7
