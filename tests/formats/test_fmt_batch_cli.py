"""Batch export / import through the command line: atomic output, one bad file, progress."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from samlabel.annotations import ImageAnnotation, Project, Shape, mask_to_rle
from samlabel.cli import main
from samlabel.formats import batch
from samlabel.formats.batch import BatchError, export_project, import_dataset


def _break_sidecar(project_root: Path, stem: str, text: str) -> bytes:
    path = project_root / f"{stem}.json"
    path.write_text(text)
    return path.read_bytes()


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".partial-" in p.name]


@pytest.mark.parametrize("fmt", ["coco", "labelme", "yolo", "voc", "masks", "cvat", "sa1b"])
def test_cli_export_with_one_bad_file_exports_the_rest(fmt, sample_project, tmp_path, capsys):
    before = _break_sidecar(sample_project.root, "img1", '{"shapes": [')
    out = tmp_path / "out"
    code = main(["export", "--format", fmt, str(sample_project.root), str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert "img1.json: malformed JSON" in captured.err and "skipped" in captured.err
    assert "exported 2 image(s)" in captured.out
    assert (sample_project.root / "img1.json").read_bytes() == before  # input untouched
    written = {p.stem for p in out.rglob("*") if p.is_file()}
    assert "img0" in written and "img2" in written and "img1" not in written
    assert _leftovers(tmp_path) == []


def test_cli_export_label_missing_from_label_file(sample_project, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("car\ndog\nperson\nbus\ncat\n")  # no "tree", used in img0 only
    out = tmp_path / "out"
    code = main(["export", "--format", "yolo", str(sample_project.root), str(out), "--labels", str(labels)])
    err = capsys.readouterr().err
    assert code == 2 and "img0.png: label(s) 'tree' not in the label file" in err
    assert not (out / "labels" / "img0.txt").exists() and (out / "labels" / "img1.txt").exists()
    assert yaml.safe_load((out / "data.yaml").read_text())["names"][0] == "car"


def test_cli_export_success_and_simplify(sample_project, tmp_path, capsys):
    code = main(["export", "--format", "coco", str(sample_project.root), str(tmp_path / "a"), "--simplify", "0"])
    assert code == 0 and "exported 3 image(s)" in capsys.readouterr().out
    main(["export", "--format", "coco", str(sample_project.root), str(tmp_path / "b"), "--simplify", "3"])
    count = lambda p: sum(len(s) for a in json.loads(p.read_text())["annotations"] if isinstance(a["segmentation"], list) for s in a["segmentation"])  # noqa: E731
    assert count(tmp_path / "b" / "annotations" / "instances_default.json") < count(tmp_path / "a" / "annotations" / "instances_default.json")


def test_non_empty_out_dir_is_refused_and_left_alone(sample_project, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    code = main(["export", "--format", "coco", str(sample_project.root), str(out)])
    assert code == 1 and "already exists and is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["export", "--format", "coco", str(sample_project.root), str(empty)]) == 0
    assert (empty / "annotations" / "instances_default.json").is_file()


def test_failure_during_export_leaves_nothing(sample_project, tmp_path, monkeypatch):
    from samlabel.formats import coco

    def disk_full(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(coco.Writer, "finish", disk_full)
    out = tmp_path / "out"
    with pytest.raises(BatchError, match="export failed, nothing was written"):
        export_project("coco", sample_project.root, out)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_progress_is_reported(sample_project, tmp_path):
    calls = []
    export_project("masks", sample_project.root, tmp_path / "out", progress=lambda d, t, m="": calls.append((d, t, m)))
    assert calls[-1][0] == calls[-1][1] == 3  # one step per image
    done = [c[0] for c in calls]
    assert done == sorted(done) and any("img1" in c[2] for c in calls)


def test_bad_project_or_label_file_is_fatal(tmp_path, capsys):
    assert main(["export", "--format", "coco", str(tmp_path / "nope"), str(tmp_path / "o")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    bad_labels = tmp_path / "l.json"
    bad_labels.write_text("{")
    (tmp_path / "p").mkdir()
    assert main(["export", "--format", "coco", str(tmp_path / "p"), str(tmp_path / "o"), "--labels", str(bad_labels)]) == 1
    assert "l.json: malformed JSON" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("fmt", ["coco", "yolo"])
def test_mask_of_wrong_size_is_reported_on_export(fmt, sample_project, tmp_path):
    Project(sample_project.root).save(
        ImageAnnotation("img2.png", 120, 160, (Shape("zebra", "mask", rle=mask_to_rle(np.ones((10, 10), bool))),))
    )
    report = export_project(fmt, sample_project.root, tmp_path / "out")
    assert report.exported == 2 and len(report.problems) == 1
    assert "img2.json" in report.problems[0] and "the mask is 10x10 but the image is 160x120" in report.problems[0]
    written = "".join(p.read_text() for p in (tmp_path / "out").glob("**/*.*") if p.suffix in (".json", ".yaml"))
    assert "zebra" not in written and "tree" in written


def test_labels_of_an_image_that_fails_to_export_stay_out_of_the_class_list(sample_project, tmp_path, monkeypatch):
    from samlabel.formats import yolo
    from samlabel.formats.common import FormatError

    Project(sample_project.root).save(ImageAnnotation("img2.png", 120, 160, (Shape.point("zebra", (1, 1)), Shape.point("car", (2, 2)))))
    real = yolo.export_image

    def fail_for_img2(src, dst, **kw):
        if src.name == "img2.png":
            raise FormatError(src, "cannot read the image (truncated)")
        return real(src, dst, **kw)

    monkeypatch.setattr(yolo, "export_image", fail_for_img2)
    report = export_project("yolo", sample_project.root, tmp_path / "out")
    assert report.exported == 2 and report.problems == [f"{sample_project.root / 'img2.png'}: cannot read the image (truncated)"]
    names = (tmp_path / "out" / "data.yaml").read_text()
    assert "zebra" not in names and "tree" in yaml.safe_load(names)["names"].values()


def test_annotation_whose_image_is_missing_is_reported(sample_project, tmp_path):
    (sample_project.root / "img1.jpg").unlink()
    report = export_project("labelme", sample_project.root, tmp_path / "out")
    assert report.exported == 2
    assert report.problems == [f"{sample_project.root / 'img1.json'}: the image it annotates (img1.jpg) does not exist"]


# --- import ---------------------------------------------------------------------------
def test_cli_import_round_trip_and_no_overwrite(sample_project, tmp_path, capsys):
    assert main(["export", "--format", "labelme", str(sample_project.root), str(tmp_path / "lm")]) == 0
    target = tmp_path / "target"
    assert main(["import", "--format", "labelme", str(tmp_path / "lm"), str(target)]) == 0
    assert "imported 3 image(s)" in capsys.readouterr().out
    before = (target / "img0.json").read_bytes()
    assert main(["import", "--format", "labelme", str(tmp_path / "lm"), str(target)]) == 2
    assert "already exists; not overwritten" in capsys.readouterr().err
    assert (target / "img0.json").read_bytes() == before


def test_import_labelme_with_missing_image_and_bad_files(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(src / "ok.png")
    good = {"version": "5.5.0", "flags": {}, "imagePath": "ok.png", "imageData": None, "imageHeight": 20, "imageWidth": 30,
            "shapes": [{"label": "car", "points": [[1, 1], [10, 1], [10, 10]], "shape_type": "polygon", "group_id": None, "flags": {}}]}
    (src / "ok.json").write_text(json.dumps(good))
    (src / "lost.json").write_text(json.dumps({**good, "imagePath": "lost.png"}))
    (src / "short.json").write_text(json.dumps({**good, "shapes": [{"label": "car", "points": [[1, 1], [2, 2]]}]}))
    target = tmp_path / "target"
    code = main(["import", "--format", "labelme", str(src), str(target)])
    err = capsys.readouterr().err
    assert code == 2
    assert "lost.json: the image 'lost.png' does not exist" in err
    assert "short.json: shape #1 ('car'): a polygon needs at least 3 points" in err
    assert sorted(p.name for p in target.iterdir()) == ["labels.txt", "ok.json", "ok.png"]


def test_import_label_missing_from_label_file(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(src / "a.png")
    shape = {"label": "unicorn", "points": [[1, 1], [10, 1], [10, 10]], "shape_type": "polygon"}
    (src / "a.json").write_text(json.dumps({"shapes": [shape], "imagePath": "a.png", "imageHeight": 20, "imageWidth": 30}))
    labels = tmp_path / "labels.txt"
    labels.write_text("car\n")
    report = import_dataset("labelme", src, tmp_path / "t", labels_file=labels)
    assert report.exported == 0 and "a.json: label(s) 'unicorn' not in the label file" in report.problems[0]
    assert not (tmp_path / "t" / "a.json").exists()


def test_import_malformed_coco_is_fatal_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "ann.json"
    bad.write_text('{"images": [}')
    code = main(["import", "--format", "coco", str(bad), str(tmp_path / "t")])
    assert code == 1 and "ann.json: malformed JSON at line 1" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_import_coco_bad_annotations_are_reported_per_image(sample_project, tmp_path):
    export_project("coco", sample_project.root, tmp_path / "c")
    path = tmp_path / "c" / "annotations" / "instances_default.json"
    data = json.loads(path.read_text())
    first = next(a for a in data["annotations"] if a["image_id"] == 2 and isinstance(a["segmentation"], list))
    first["segmentation"] = [[1, 2, 3, 4]]
    data["images"].append({"id": 99, "file_name": "ghost.png", "height": 5, "width": 5})
    path.write_text(json.dumps(data))
    report = import_dataset("coco", path, tmp_path / "t")
    assert report.exported == 2 and len(report.problems) == 2
    assert any("polygon #1 has fewer than 3 points" in p and "img1.jpg" in p for p in report.problems)
    assert any("'ghost.png' not found" in p for p in report.problems)
    assert not (tmp_path / "t" / "img1.json").exists()


def test_import_masks_with_wrong_size(sample_project, tmp_path):
    export_project("masks", sample_project.root, tmp_path / "m")
    Image.fromarray(np.zeros((10, 10), np.uint16)).save(tmp_path / "m" / "instance" / "img1.png")
    report = import_dataset("masks", tmp_path / "m", tmp_path / "t")
    assert report.exported == 2
    assert "img1.png: the mask is 10x10 but the image is 160x120" in report.problems[0]


def test_import_reports_progress_while_reading_and_saving(sample_project, tmp_path):
    export_project("voc", sample_project.root, tmp_path / "v")
    calls = []
    import_dataset("voc", tmp_path / "v", tmp_path / "t", progress=lambda d, t, m="": calls.append((d, t, m)))
    assert [m for _, _, m in calls if m.startswith("reading")] == ["reading img0", "reading img1", "reading img2"]
    assert [m for _, _, m in calls if m.startswith("saving")] == ["saving img0.jpg", "saving img1.jpg", "saving img2.jpg"]
    assert calls[-1][:2] == (3, 3)


def test_unknown_format_is_an_error(tmp_path):
    with pytest.raises(BatchError, match="unknown format 'tiff'"):
        batch.export_project("tiff", tmp_path, tmp_path / "o")


def test_cli_progress_bar_does_not_break_output(sample_project, tmp_path, capsys):
    assert main(["export", "--format", "voc", str(sample_project.root), str(tmp_path / "v")]) == 0
    assert os.path.isdir(tmp_path / "v" / "JPEGImages")


def test_exported_folder_is_not_private(sample_project, tmp_path):
    """The temporary folder is made with mkdtemp (mode 0700); the dataset gets normal rights."""
    from samlabel.annotations.atomic import UMASK

    out = tmp_path / "out"
    export_project("yolo", sample_project.root, out)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~UMASK


@pytest.mark.parametrize("fmt, names_file", [("yolo", "data.yaml"), ("masks", "class_names.txt"), ("voc", "labelmap.txt")])
def test_import_class_names_must_be_in_the_label_file(fmt, names_file, sample_project, tmp_path):
    out = tmp_path / "out"
    export_project(fmt, sample_project.root, out)
    labels = tmp_path / "labels.txt"
    labels.write_text("car\n")
    with pytest.raises(BatchError, match=rf"{names_file}: label\(s\) 'dog', .* not in the label file"):
        import_dataset(fmt, out, tmp_path / "t", labels_file=labels)
    assert not (tmp_path / "t").exists()
    if fmt != "voc":  # VOC's XML names the objects; the others need the names file or --labels
        (out / names_file).unlink()
        with pytest.raises(BatchError, match=rf"{names_file}: the class names file does not exist; pass --labels"):
            import_dataset(fmt, out, tmp_path / "t")
