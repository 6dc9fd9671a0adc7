"""Absurd or hostile inputs: each bad file is named with its problem and left out, the rest
goes through, nothing escapes as a traceback, and imports read only inside the dataset."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations import Project
from samlabel.cli import main
from samlabel.formats.batch import BatchError, export_project, import_dataset

H, W = 48, 64
BIG = "1" + "0" * 400  # an integer no float can hold
DEEP = "[" * 100_000 + "]" * 100_000  # nested deeper than any parser's recursion limit
SQUARE = [[1, 1], [20, 1], [20, 20], [1, 20]]


def bomb_png(path: Path, width: int = 30000, height: int = 20000) -> Path:
    """A ~70-byte PNG whose header claims ``width`` x ``height`` pixels (over samlabel's
    400 MP limit, ``annotations.image_limits``): a 1-bit 8x8 PNG with its IHDR size patched (and CRC fixed)."""
    buf = io.BytesIO()
    Image.new("1", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


def image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(path)
    return path


def labelme_json(image_path: str, points=SQUARE) -> str:
    shape = {"label": "car", "points": points, "shape_type": "polygon", "group_id": None, "flags": {}}
    return json.dumps({"version": "5.0.1", "flags": {}, "imagePath": image_path, "imageData": None,
                       "imageHeight": H, "imageWidth": W, "shapes": [shape]})


def test_bomb_png_is_tiny_and_over_the_limit(tmp_path):
    from samlabel.annotations import ImageTooLargeError, image_size

    path = bomb_png(tmp_path / "b.png")
    assert path.stat().st_size < 200
    with pytest.raises(ImageTooLargeError, match=r"30000 x 20000 pixels \(600 MP\); samlabel opens images up to 400 MP"):
        image_size(path)
    # past twice the limit Pillow refuses at open; the message is still ours
    with pytest.raises(ImageTooLargeError, match=r"4,295 MP\)?; samlabel opens images up to 400 MP"):
        image_size(bomb_png(tmp_path / "c.png", 65535, 65535))


# --- export ----------------------------------------------------------------------------
@pytest.fixture
def hostile_project(tmp_path) -> Path:
    """good.png (annotated), huge.png (20000x10000 header), two images whose sidecars hold
    a number too large for a float and nesting too deep to parse, and a stray deep JSON."""
    root = tmp_path / "project"
    image(root / "good.png")
    (root / "good.json").write_text(labelme_json("good.png"))
    bomb_png(root / "huge.png")
    image(root / "overflow.png")
    (root / "overflow.json").write_text(labelme_json("overflow.png").replace("[[1, 1]", f"[[{BIG}, 1]"))
    image(root / "deep.png")
    (root / "deep.json").write_text('{"shapes": ' + DEEP + "}")
    (root / "stray.json").write_text(DEEP)  # no image of that name: not an annotation of ours
    return root


@pytest.mark.parametrize("fmt", ["coco", "labelme", "yolo", "voc", "masks", "cvat", "sa1b"])
def test_cli_export_names_absurd_inputs_and_exports_the_rest(fmt, hostile_project, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["export", "--format", fmt, str(hostile_project), str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    assert f"{hostile_project / 'huge.png'}: the image is 30000 x 20000 pixels (600 MP); samlabel opens images up to 400 MP" in captured.err
    assert "30000 x 20000 pixels" in captured.err
    assert f"{hostile_project / 'deep.json'}: the file is nested too deeply to read" in captured.err
    assert f"{hostile_project / 'overflow.json'}:" in captured.err and "too large" in captured.err
    assert "exported 1 image(s)" in captured.out
    written = {p.stem for p in out.rglob("*") if p.is_file()}
    assert "good" in written and not written & {"huge", "overflow", "deep"}


def test_api_export_reports_absurd_inputs(hostile_project, tmp_path):
    report = export_project("coco", hostile_project, tmp_path / "out")
    assert report.exported == 1 and len(report.problems) == 3
    assert sorted(Path(p.split(": ", 1)[0]).name for p in report.problems) == ["deep.json", "huge.png", "overflow.json"]
    data = json.loads((tmp_path / "out" / "annotations" / "instances_default.json").read_text())
    assert [entry["file_name"] for entry in data["images"]] == ["good.png"]


# --- import ----------------------------------------------------------------------------
def _coco(tmp_path: Path, annotations: list[dict], images: list[str]) -> Path:
    ds = tmp_path / "ds"
    for name in images:
        (bomb_png if name.startswith("huge") else image)(ds / "images" / name)
    entries = [{"id": i + 1, "file_name": name, "height": H, "width": W} for i, name in enumerate(images)]
    path = ds / "annotations.json"
    path.write_text(json.dumps({"images": entries, "annotations": annotations,
                                "categories": [{"id": 1, "name": "car"}]}).replace('"BIG"', BIG))
    return path


def test_cli_import_coco_names_absurd_inputs_and_imports_the_rest(tmp_path, capsys):
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 20, 1, 20, 20]], "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 1, "segmentation": [["BIG", 1, 20, 1, 20, 20]], "iscrowd": 0},
        {"id": 3, "image_id": 3, "category_id": 1, "bbox": ["BIG", 1, 2, 2], "iscrowd": 0},
        {"id": 4, "image_id": [5], "category_id": [1]},  # unhashable ids: ignored, not a crash
    ]
    src = _coco(tmp_path, anns, ["good.png", "big_polygon.png", "big_box.png", "huge.png"])
    code = main(["import", "--format", "coco", str(src), str(tmp_path / "p")])
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err
    assert f"{src.parent / 'images' / 'huge.png'}: the image is 30000 x 20000 pixels (600 MP); samlabel opens images up to 400 MP" in captured.err
    assert f"{src} (image 'big_polygon.png'): annotation 2: int too large to convert to float" in captured.err
    assert f"{src} (image 'big_box.png'): annotation 3: int too large to convert to float" in captured.err
    assert "imported 1 image(s)" in captured.out
    assert len(Project(tmp_path / "p").load(tmp_path / "p" / "good.png").shapes) == 1


def test_import_of_a_coco_file_nested_too_deeply_is_refused_by_name(tmp_path, capsys):
    src = tmp_path / "annotations.json"
    src.write_text(DEEP)
    with pytest.raises(BatchError, match=r"annotations\.json: the file is nested too deeply to read"):
        import_dataset("coco", src, tmp_path / "p")
    assert main(["import", "--format", "coco", str(src), str(tmp_path / "p")]) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_import_labelme_names_absurd_inputs_and_imports_the_rest(tmp_path):
    ds = tmp_path / "ds"
    image(ds / "good.png")
    (ds / "good.json").write_text(labelme_json("good.png"))
    bomb_png(ds / "huge.png")
    (ds / "huge.json").write_text(labelme_json("huge.png"))
    image(ds / "overflow.png")
    (ds / "overflow.json").write_text(labelme_json("overflow.png").replace("[[1, 1]", f"[[{BIG}, 1]"))
    (ds / "deep.json").write_text(DEEP)
    (ds / "latin1.json").write_bytes(b'{"shapes": [], "imagePath": "caf\xe9.png"}')
    report = import_dataset("labelme", ds, tmp_path / "p")
    assert report.exported == 1
    problems = "\n".join(report.problems)
    assert f"{ds / 'huge.png'}: the image is 30000 x 20000 pixels (600 MP); samlabel opens images up to 400 MP" in problems
    assert f"{ds / 'deep.json'}: the file is nested too deeply to read" in problems
    assert f"{ds / 'overflow.json'}:" in problems and "too large" in problems
    assert f"{ds / 'latin1.json'}: cannot read the file (not UTF-8 text: byte 0xe9" in problems
    assert len(report.problems) == 4


@pytest.mark.parametrize("fmt", ["yolo", "masks"])
def test_import_yolo_and_masks_name_a_decompression_bomb(fmt, sample_project, tmp_path):
    out = tmp_path / "out"
    export_project(fmt, sample_project.root, out)
    bomb_png(out / "images" / "huge.png")
    report = import_dataset(fmt, out, tmp_path / "p")
    assert report.exported == 3
    assert [p for p in report.problems if "huge.png" in p] == [f"{out / 'images' / 'huge.png'}: the image is 30000 x 20000 pixels (600 MP); samlabel opens images up to 400 MP "
                                                              "(e.g. 20000 x 20000): split it into tiles first"]


def test_import_voc_names_a_decompression_bomb(sample_project, tmp_path):
    out = tmp_path / "out"
    export_project("voc", sample_project.root, out)
    bomb_png(out / "JPEGImages" / "img1.jpg")  # any format: Pillow reads the PNG header
    report = import_dataset("voc", out, tmp_path / "p")
    assert report.exported == 2
    assert len(report.problems) == 1 and "img1.jpg: the image is 30000 x 20000 pixels (600 MP); samlabel opens images up to 400 MP" in report.problems[0]


# --- imports read only inside the dataset ---------------------------------------------------
@pytest.fixture
def outside(tmp_path) -> Path:
    """An image beside the dataset folder, which no import may read."""
    return image(tmp_path / "secret_outside.png")


def _no_outside_reads(monkeypatch, allowed: Path) -> list[str]:
    """Record every image Pillow is asked to open outside ``allowed``."""
    opened: list[str] = []
    real = Image.open

    def spy(fp, *args, **kwargs):
        if isinstance(fp, (str, Path)) and not Path(fp).absolute().is_relative_to(allowed.absolute()):
            opened.append(str(fp))
        return real(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", spy)
    return opened


@pytest.mark.parametrize("image_path", ["../secret_outside.png", "..\\secret_outside.png", "/etc/passwd", "sub/../../secret_outside.png"])
def test_labelme_image_path_outside_the_dataset_is_refused_before_opening(tmp_path, outside, monkeypatch, image_path):
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "a.json").write_text(labelme_json(image_path))
    opened = _no_outside_reads(monkeypatch, ds)
    report = import_dataset("labelme", ds, tmp_path / "p")
    assert opened == []
    assert report.exported == 0
    assert report.problems == [f"{ds / 'a.json'}: imagePath {image_path!r} leads outside the dataset folder {ds}; not read"]


def test_labelme_image_path_outside_falls_back_to_the_image_beside_the_json(tmp_path, outside, monkeypatch):
    ds = tmp_path / "ds"
    image(ds / "a.png")
    (ds / "a.json").write_text(labelme_json("../secret_outside.png"))
    opened = _no_outside_reads(monkeypatch, ds)
    report = import_dataset("labelme", ds, tmp_path / "p")
    assert opened == [] and report.exported == 1 and report.problems == []
    assert report.notes == [f"{ds / 'a.json'}: imagePath '../secret_outside.png' leads outside the dataset folder; used a.png beside the JSON instead"]
    assert (tmp_path / "p" / "a.png").is_file() and not (tmp_path / "p" / "secret_outside.png").exists()


def test_labelme_image_path_into_a_sibling_folder_of_the_dataset_is_fine(tmp_path):
    """labelme's usual layout: JSONs in ds/json, images in ds/images (inside the dataset)."""
    image(tmp_path / "ds" / "images" / "e.png")
    (tmp_path / "ds" / "json").mkdir()
    (tmp_path / "ds" / "json" / "e.json").write_text(labelme_json("../images/e.png"))
    report = import_dataset("labelme", tmp_path / "ds", tmp_path / "p")
    assert report.exported == 1 and report.problems == [] and report.notes == []


@pytest.mark.parametrize("file_name", ["../../secret_outside.png", "../secret_outside.png", "ABSOLUTE", "images/../../../secret_outside.png"])
def test_coco_file_name_outside_the_dataset_is_refused_before_opening(tmp_path, outside, monkeypatch, file_name):
    file_name = str(outside) if file_name == "ABSOLUTE" else file_name
    ds = tmp_path / "ds" / "annotations"
    image(tmp_path / "ds" / "images" / "good.png")
    ds.mkdir(parents=True)
    entries = [{"id": 1, "file_name": "good.png", "height": H, "width": W}, {"id": 2, "file_name": file_name, "height": H, "width": W}]
    src = ds / "instances.json"
    src.write_text(json.dumps({"images": entries, "annotations": [], "categories": [{"id": 1, "name": "car"}]}))
    opened = _no_outside_reads(monkeypatch, tmp_path / "ds")
    report = import_dataset("coco", src, tmp_path / "p")
    assert opened == []
    assert report.exported == 1
    assert report.problems == [f"{src}: image {file_name!r}: the path is absolute or leaves the dataset folder; not read"]


def test_voc_list_line_that_is_a_path_is_not_read(tmp_path, sample_project, outside, monkeypatch):
    out = tmp_path / "out"
    export_project("voc", sample_project.root, out)
    lists = out / "ImageSets" / "Segmentation" / "trainval.txt"
    lists.write_text(lists.read_text() + "../../secret_outside\n")
    opened = _no_outside_reads(monkeypatch, out)
    report = import_dataset("voc", out, tmp_path / "p")
    assert opened == [] and report.exported == 3
    assert report.problems == [f"{lists}: line 4: '../../secret_outside' is a path, not an image id; not read"]


def test_a_dataset_json_with_a_key_twice_is_refused_by_name(tmp_path):
    from samlabel.formats.common import FormatError, load_json

    path = tmp_path / "photo.json"
    path.write_text('{"shapes": [{"label": "a"}], "imagePath": "photo.png", "shapes": []}', encoding="utf-8")
    with pytest.raises(FormatError, match=r"photo\.json: the key 'shapes' appears twice"):
        load_json(path)
    path.write_bytes(b"\xef\xbb\xbf" + b'{"a": 1}')  # a BOM is still fine
    assert load_json(path) == {"a": 1}
