"""CVAT XML, SA-1B, subsets, the COCO layouts of other tools and VOC as CVAT and Datumaro
write it, without Datumaro (test_fmt_datumaro.py runs the real one).

Expected values are written here by hand or computed analytically
(``interop_project.py``), never taken from samlabel's own output.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from samlabel.annotations import ImageAnnotation, Project, Shape
from samlabel.cli import main
from samlabel.formats import cvat_rle
from samlabel.formats.batch import BatchError, export_project, import_dataset
from samlabel.formats.common import FormatError
from samlabel.formats.images import voc_palette

from .interop_project import LABELS, Check, Found, H, W, box_mask, make_project, match


def _objects(project_dir: Path, name: str) -> tuple[list[Found], list]:
    annotation = Project(project_dir).load(project_dir / name)
    groups: dict[tuple, list[Shape]] = {}
    for n, shape in enumerate(annotation.shapes):
        if shape.kind != "point":
            groups.setdefault((shape.label, shape.group_id) if shape.group_id is not None else ("#", n), []).append(shape)
    found = [Found(s[0].label, s[0].group_id, np.any([x.to_mask(H, W) for x in s], axis=0)) for s in groups.values()]
    points = [(s.label, tuple(s.points[0])) for s in annotation.shapes if s.kind == "point"]
    return found, points


@pytest.mark.parametrize("fmt, groups, points", [("cvat", True, True), ("sa1b", True, False), ("coco", True, False), ("voc", False, False)])
def test_export_then_import_keeps_every_object(fmt, groups, points, tmp_path):
    specs = make_project(tmp_path / "p")
    report = export_project(fmt, tmp_path / "p", tmp_path / "out")
    assert report.exported == 3 and report.problems == []
    back = import_dataset(fmt, tmp_path / "out", tmp_path / "back")
    assert back.exported == 3 and back.problems == []
    check = Check()
    for spec in specs:
        name = spec.name.replace(" ", "_").replace(".png", ".jpg") if fmt == "voc" else spec.name
        found, got_points = _objects(tmp_path / "back", name)
        match(spec.objects, found, check, f"{fmt}:{spec.name}", groups)
        assert got_points == (spec.points if points else [])
    assert check.problems == [] and check.matched == 5


def test_cvat_xml_holds_polygons_masks_boxes_points_groups_and_attributes(tmp_path):
    make_project(tmp_path / "p")
    shapes = (Shape.polygon("car", [(1, 1), (9, 1), (9, 9)], flags={"parked": True}, description="red"),)
    Project(tmp_path / "p").save(ImageAnnotation("empty.png", H, W, shapes))
    export_project("cvat", tmp_path / "p", tmp_path / "out")
    root = ET.parse(tmp_path / "out" / "annotations.xml").getroot()
    assert [label.findtext("name") for label in root.iter("label")] == LABELS
    assert [t.findtext("subset") for t in root.iter("task")] == ["default"]
    images = {image.get("name"): image for image in root.iter("image")}
    assert set(images) == {"street 1.png", "b.png", "empty.png"}
    assert all((tmp_path / "out" / "images" / "default" / n).is_file() for n in images)
    street = [(el.tag, el.get("label"), el.get("group_id")) for el in images["street 1.png"]]
    # the ring has a hole: a mask; the road sign's parts: polygons sharing group 5
    assert street == [("mask", "car", "3"), ("polygon", "road sign", "5"), ("polygon", "road sign", "5"), ("box", "person", None)]
    box = images["street 1.png"].find("box")
    assert [box.get(k) for k in ("xtl", "ytl", "xbr", "ybr")] == ["45.00", "35.00", "60.00", "65.00"]
    b = [(el.tag, el.get("label"), el.get("group_id")) for el in images["b.png"]]
    assert b[0] == ("mask", "café", None) and b[-1] == ("points", "person", None)
    assert b[1][:2] == b[2][:2] == ("polygon", "road sign") and b[1][2] == b[2][2] is not None  # parts grouped
    assert images["b.png"].find("points").get("points") == "5.00,5.00"
    car = images["empty.png"].find("polygon")
    assert {a.get("name"): a.text for a in car.findall("attribute")} == {"parked": "true", "description": "red"}
    import_dataset("cvat", tmp_path / "out", tmp_path / "back")
    shape = Project(tmp_path / "back").load(tmp_path / "back" / "empty.png").shapes[0]
    assert shape.flags == {"parked": True} and shape.description == "red"


def test_cvat_rle_by_hand():
    mask = np.zeros((4, 6), bool)
    mask[1, 2:4] = mask[2, 3:5] = True  # box left 2, top 1, 3 wide, 2 high: rows "110", "011"
    assert cvat_rle.encode(mask) == {"rle": "0, 2, 2, 2", "left": "2", "top": "1", "width": "3", "height": "2"}
    assert (cvat_rle.decode({"rle": "0, 2, 2, 2", "left": "2", "top": "1", "width": "3", "height": "2"}, 4, 6, "x") == mask).all()
    with pytest.raises(FormatError, match="covers 5 pixels, but its box has 6"):
        cvat_rle.decode({"rle": "1,2,2", "left": "2", "top": "1", "width": "3", "height": "2"}, 4, 6, "f.xml")
    with pytest.raises(FormatError, match="not inside the 6x4 image"):
        cvat_rle.decode({"rle": "6", "left": "5", "top": "1", "width": "3", "height": "2"}, 4, 6, "f.xml")


def test_cvat_import_refuses_a_name_leaving_the_dataset(tmp_path):
    ds = tmp_path / "ds"
    ds.mkdir()
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "outside.png")
    (ds / "annotations.xml").write_text(
        '<annotations><meta><task><labels><label><name>car</name></label></labels></task></meta>'
        f'<image id="0" name="../outside.png" width="{W}" height="{H}"><box label="car" xtl="1" ytl="1" xbr="5" ybr="5"/></image>'
        "</annotations>"
    )
    report = import_dataset("cvat", ds, tmp_path / "p")
    assert report.exported == 0
    assert report.problems == [f"{ds / 'annotations.xml'}: image '../outside.png': the path is absolute or leaves the dataset folder; not read"]


def test_sa1b_files_are_segment_anythings(tmp_path):
    specs = make_project(tmp_path / "p")
    report = export_project("sa1b", tmp_path / "p", tmp_path / "out")
    assert any("point 'person' left out" in n for n in report.notes)
    data = json.loads((tmp_path / "out" / "street 1.json").read_text())
    assert data["image"] == {"image_id": 3, "width": W, "height": H, "file_name": "street 1.png"}  # third in natural order
    assert (tmp_path / "out" / "street 1.png").is_file()
    records = data["annotations"]
    assert [(r["label"], r.get("group_id")) for r in records] == [("car", 3), ("road sign", 5), ("person", None)]
    for record, obj in zip(records, specs[0].objects):
        assert {"id", "segmentation", "bbox", "area", "predicted_iou", "stability_score", "point_coords", "crop_box"} <= set(record)
        rle = {"size": record["segmentation"]["size"], "counts": record["segmentation"]["counts"].encode()}
        assert (mask_utils.decode(rle).astype(bool) == obj.mask).all()
        x, y = record["point_coords"][0]
        assert obj.mask[int(y), int(x)]
    assert json.loads((tmp_path / "out" / "empty.json").read_text())["annotations"] == []


def test_sa1b_without_labels_imports_as_object_and_refuses_escapes(tmp_path):
    ds = tmp_path / "ds"
    ds.mkdir()
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(ds / "sa_1.jpg")
    mask = box_mask(10, 10, 30, 20)
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    ann = {"id": 7, "segmentation": {"size": [H, W], "counts": rle["counts"].decode()}, "bbox": [10, 10, 20, 10], "area": 200}
    (ds / "sa_1.json").write_text(json.dumps({"image": {"image_id": 1, "width": W, "height": H, "file_name": "sa_1.jpg"}, "annotations": [ann]}))
    (ds / "sa_2.json").write_text(json.dumps({"image": {"image_id": 2, "width": W, "height": H, "file_name": "../x.jpg"}, "annotations": []}))
    report = import_dataset("sa1b", ds, tmp_path / "p")
    assert report.exported == 1
    assert report.problems == [f"{ds / 'sa_2.json'}: image '../x.jpg': the path is absolute or leaves the dataset folder; not read"]
    shape = Project(tmp_path / "p").load(tmp_path / "p" / "sa_1.jpg").shapes[0]
    assert shape.label == "object" and (shape.to_mask(H, W) == mask).all()


# --- subsets ------------------------------------------------------------------------
def test_a_split_arrives_as_subsets(tmp_path):
    make_project(tmp_path / "p")
    split = tmp_path / "split.txt"
    split.write_text("# train / val\ntrain street 1.png\nval   b.png\n", encoding="utf-8")
    args = ["--split", str(split), "--subset", "train"]  # empty.png is not listed: --subset
    assert main(["export", "--format", "coco", str(tmp_path / "p"), str(tmp_path / "coco"), *args]) == 0
    train = json.loads((tmp_path / "coco" / "annotations" / "instances_train.json").read_text())
    val = json.loads((tmp_path / "coco" / "annotations" / "instances_val.json").read_text())
    assert sorted(e["file_name"] for e in train["images"]) == ["empty.png", "street 1.png"]
    assert [e["file_name"] for e in val["images"]] == ["b.png"]
    assert {a["image_id"] for a in val["annotations"]} == {val["images"][0]["id"]}
    assert (tmp_path / "coco" / "images" / "val" / "b.png").is_file()
    assert not (tmp_path / "coco" / "annotations" / "instances_default.json").exists()
    assert import_dataset("coco", tmp_path / "coco", tmp_path / "back").exported == 3  # every subset read

    export_project("voc", tmp_path / "p", tmp_path / "voc", split_file=split, subset="train")
    lists = tmp_path / "voc" / "ImageSets" / "Segmentation"
    assert sorted(p.name for p in lists.iterdir()) == ["train.txt", "val.txt"]
    assert (lists / "val.txt").read_text() == "b\n"
    assert sorted((lists / "train.txt").read_text().split()) == ["empty", "street_1"]

    export_project("cvat", tmp_path / "p", tmp_path / "cvat", split_file=split, subset="train")
    root = ET.parse(tmp_path / "cvat" / "annotations.xml").getroot()
    assert sorted(t.findtext("subset") for t in root.iter("task")) == ["train", "val"]
    assert {i.get("name"): i.get("subset") for i in root.iter("image")} == {"street 1.png": "train", "b.png": "val", "empty.png": "train"}
    assert (tmp_path / "cvat" / "images" / "val" / "b.png").is_file()


def test_subset_mistakes_are_refused(tmp_path, capsys):
    make_project(tmp_path / "p")
    with pytest.raises(BatchError, match="the yolo format has no subsets"):
        export_project("yolo", tmp_path / "p", tmp_path / "o", subset="train")
    with pytest.raises(BatchError, match=r"'\.\./up' cannot name a subset"):
        export_project("coco", tmp_path / "p", tmp_path / "o", subset="../up")
    split = tmp_path / "split.txt"
    split.write_text("train ghost.png\n")
    with pytest.raises(BatchError, match=rf"{split}: 'ghost.png' not in the project"):
        export_project("coco", tmp_path / "p", tmp_path / "o", split_file=split)
    split.write_text("train\n")
    assert main(["export", "--format", "cvat", str(tmp_path / "p"), str(tmp_path / "o"), "--split", str(split)]) == 1
    assert f"{split}: line 1: expected 'SUBSET IMAGE_FILE_NAME'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# --- COCO layouts of other tools ------------------------------------------------------
def _coco(file_name="a.png", h=H, w=W):
    return {"images": [{"id": 1, "file_name": file_name, "height": h, "width": w}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 5], "iscrowd": 0, "area": 50}],
            "categories": [{"id": 1, "name": "road sign"}]}


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(path)


@pytest.mark.parametrize("json_path, image_path", [
    ("annotations/instances_default.json", "images/default/a.png"),  # CVAT, Datumaro, samlabel
    ("annotations/instances_val.json", "images/a.png"),  # Datumaro without subset folders
    ("train/_annotations.coco.json", "train/a.png"),  # Roboflow: images beside the JSON
    ("annotations.json", "images/a.png"),  # samlabel before the standard layout
])
def test_coco_import_finds_images_where_tools_put_them(json_path, image_path, tmp_path):
    ds = tmp_path / "ds"
    (ds / json_path).parent.mkdir(parents=True, exist_ok=True)
    (ds / json_path).write_text(json.dumps(_coco()))
    _png(ds / image_path)
    src = ds / json_path if json_path.startswith("train/") else ds
    report = import_dataset("coco", src, tmp_path / "p")
    assert report.exported == 1 and report.problems == []
    assert Project(tmp_path / "p").load(tmp_path / "p" / "a.png").shapes[0].label == "road sign"


def test_coco_import_never_looks_outside_the_dataset(tmp_path):
    ds = tmp_path / "ds"
    (ds / "annotations").mkdir(parents=True)
    (ds / "annotations" / "instances_default.json").write_text(json.dumps(_coco()))
    _png(tmp_path / "images" / "a.png")  # beside the dataset folder, where the old importer looked
    _png(tmp_path / "a.png")
    report = import_dataset("coco", ds, tmp_path / "p")
    assert report.exported == 0 and len(report.problems) == 1
    assert "image 'a.png' not found (looked in images/default/, images/, annotations/, the dataset folder)" in report.problems[0]


# --- VOC as CVAT and Datumaro write it ----------------------------------------------
def test_voc_export_writes_a_labelmap_matching_the_pngs(tmp_path):
    make_project(tmp_path / "p")
    export_project("voc", tmp_path / "p", tmp_path / "voc")
    lines = (tmp_path / "voc" / "labelmap.txt").read_text(encoding="utf-8").splitlines()
    assert lines[1] == "background:0,0,0::"
    palette = voc_palette()
    colors = {}
    for line in lines[2:]:
        name, rgb, _parts, _actions = line.split(":")
        colors[name] = tuple(int(v) for v in rgb.split(","))
    assert list(colors) == LABELS
    cls = Image.open(tmp_path / "voc" / "SegmentationClass" / "street_1.png")
    rgb = np.asarray(cls.convert("RGB"))
    assert tuple(rgb[24, 12]) == colors["car"] == tuple(palette[3:6])  # inside the ring
    assert tuple(rgb[10, 55]) == colors["road sign"]
    assert (tmp_path / "voc" / "class_names.txt").read_text(encoding="utf-8").splitlines() == ["_background_", *LABELS]


def test_voc_label_with_a_colon_is_refused_by_image(tmp_path):
    make_project(tmp_path / "p")
    Project(tmp_path / "p").save(ImageAnnotation("empty.png", H, W, (Shape.rectangle("a:b", (1, 1), (5, 5)),)))
    (tmp_path / "p" / "labels.txt").unlink()
    report = export_project("voc", tmp_path / "p", tmp_path / "voc")
    assert report.exported == 2
    assert report.problems == [f"{tmp_path / 'p' / 'empty.png'}: label 'a:b' contains ':', which separates the fields of labelmap.txt; VOC's labelmap.txt cannot hold it"]


def test_voc_rgb_pngs_labelmap_spaces_and_images_without_annotations(tmp_path):
    """CVAT's and Datumaro's VOC: RGB PNGs coloured by labelmap.txt, an id with a space,
    XML objects in another order than the object PNG, and an image with neither."""
    ds = tmp_path / "voc"
    for name in ("my photo", "bare"):
        _png(ds / "JPEGImages" / f"{name}.jpg")
    (ds / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\nroad sign:10,200,30::\ncafé:250,250,0::\n", encoding="utf-8")
    (ds / "ImageSets" / "Segmentation").mkdir(parents=True)
    (ds / "ImageSets" / "Segmentation" / "default.txt").write_text("my photo\n")
    (ds / "ImageSets" / "Main").mkdir(parents=True)
    (ds / "ImageSets" / "Main" / "default.txt").write_text("my photo\nbare\n")
    (ds / "ImageSets" / "Main" / "café_default.txt").write_text("my photo  1\nbare -1\n", encoding="utf-8")
    sign, cafe = box_mask(2, 2, 12, 10), box_mask(20, 5, 40, 30)
    cls = np.zeros((H, W, 3), np.uint8)
    cls[sign], cls[cafe] = (10, 200, 30), (250, 250, 0)
    obj = np.zeros((H, W, 3), np.uint8)
    palette = voc_palette()
    obj[cafe], obj[sign] = palette[3:6], palette[6:9]  # café is object 1, the sign object 2
    for folder, arr in (("SegmentationClass", cls), ("SegmentationObject", obj)):
        (ds / folder).mkdir()
        Image.fromarray(arr).save(ds / folder / "my photo.png")
    (ds / "Annotations").mkdir()
    (ds / "Annotations" / "my photo.xml").write_text(  # objects in another order than the PNG's
        "<annotation><object><name>road sign</name><bndbox><xmin>3</xmin><ymin>3</ymin><xmax>12</xmax><ymax>10</ymax></bndbox></object>"
        "<object><name>café</name><bndbox><xmin>21</xmin><ymin>6</ymin><xmax>40</xmax><ymax>30</ymax></bndbox></object></annotation>",
        encoding="utf-8",
    )
    report = import_dataset("voc", ds, tmp_path / "p")
    assert report.exported == 2 and report.problems == []
    shapes = Project(tmp_path / "p").load(tmp_path / "p" / "my photo.jpg").shapes
    assert sorted(s.label for s in shapes) == ["café", "road sign"]  # no rectangles: the boxes are the masks'
    for s in shapes:
        assert (s.to_mask(H, W) == (cafe if s.label == "café" else sign)).all()
    assert Project(tmp_path / "p").load(tmp_path / "p" / "bare.jpg").shapes == ()
    assert (tmp_path / "p" / "labels.txt").read_text(encoding="utf-8").split("\n")[:2] == ["road sign", "café"]


def test_voc_rgb_png_with_a_colour_not_in_the_labelmap_is_named(tmp_path):
    ds = tmp_path / "voc"
    _png(ds / "JPEGImages" / "a.jpg")
    (ds / "labelmap.txt").write_text("background:0,0,0::\ncar:128,0,0::\n")
    cls = np.zeros((H, W, 3), np.uint8)
    cls[1:3, 1:3] = (1, 2, 3)
    for folder in ("SegmentationClass", "SegmentationObject"):
        (ds / folder).mkdir()
        Image.fromarray(cls).save(ds / folder / "a.png")
    report = import_dataset("voc", ds, tmp_path / "p")
    assert report.exported == 0
    assert report.problems == [f"{ds / 'SegmentationObject' / 'a.png'}: colour(s) (1, 2, 3) are not in labelmap.txt"]


def test_bad_cvat_and_sa1b_files_are_named(tmp_path):
    cvat = tmp_path / "cvat"
    cvat.mkdir()
    (cvat / "a.xml").write_text("<annotations><image ")
    (cvat / "b.xml").write_text("<dataset/>")
    with pytest.raises(BatchError, match=rf"{cvat / 'a.xml'}: malformed XML"):
        import_dataset("cvat", cvat, tmp_path / "p")
    (cvat / "a.xml").unlink()
    with pytest.raises(BatchError, match=rf"{cvat / 'b.xml'}: not a CVAT XML file \(the root element is <dataset>"):
        import_dataset("cvat", cvat, tmp_path / "p")
    sa = tmp_path / "sa"
    _png(sa / "x.png")
    bad = {"size": [5, 5], "counts": "25"}
    (sa / "x.json").write_text(json.dumps({"image": {"image_id": 1, "width": W, "height": H, "file_name": "x.png"},
                                           "annotations": [{"id": 1, "segmentation": bad, "bbox": [0, 0, 1, 1]}]}))
    report = import_dataset("sa1b", sa, tmp_path / "q")
    assert report.exported == 0
    assert report.problems == [f"{sa / 'x.json'}: annotation #1: the mask is [5, 5] (HxW) but the image is [{H}, {W}]"]
