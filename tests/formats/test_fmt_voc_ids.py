"""VOC image ids: whitespace splits the fields of VOC's image lists, so an image whose
name has whitespace is exported under an id without it (noted), and every list line that
does not resolve to an image is reported on import."""

from __future__ import annotations

import shutil

from pathlib import Path

import numpy as np
from PIL import Image

from samlabel.annotations import ImageAnnotation, Project, Shape
from samlabel.cli import main
from samlabel.formats.batch import export_project, import_dataset

H, W = 40, 50


def _project(tmp_path: Path, names: list[str]) -> Path:
    root = tmp_path / "p"
    root.mkdir()
    for i, name in enumerate(names):
        Image.fromarray(np.full((H, W, 3), 40 * i, np.uint8)).save(root / name)
        shape = Shape.polygon("car", [[5 + i, 5], [30, 5], [30, 30]])
        Project(root).save(ImageAnnotation(name, H, W, (shape,)))
    return root


def test_whitespace_in_a_name_gets_a_unique_id_and_the_round_trip_keeps_every_image(tmp_path, capsys):
    root = _project(tmp_path, ["my photo.png", "my_photo.png", "tab\there.png", "plain.png"])
    out = tmp_path / "voc"
    assert main(["export", "--format", "voc", str(root), str(out)]) == 0
    err = capsys.readouterr().err
    ids = (out / "ImageSets" / "Segmentation" / "trainval.txt").read_text().splitlines()
    assert all(len(line.split()) == 1 for line in ids)  # what VOC tools read
    assert sorted(ids) == sorted(["my_photo", "my_photo_2", "tab_here", "plain"])
    assert len(set(ids)) == 4
    assert f"note: {root / 'my photo.png'}: exported as VOC id " in err and "cannot contain whitespace" in err
    tabbed = root / "tab\there.png"
    assert f"note: {tabbed}: exported as VOC id 'tab_here'" in err
    for image_id in ids:
        for folder, ext in (("JPEGImages", "jpg"), ("Annotations", "xml"), ("SegmentationClass", "png"), ("SegmentationObject", "png")):
            assert (out / folder / f"{image_id}.{ext}").is_file(), (folder, image_id)
    assert "<filename>tab_here.jpg</filename>" in (out / "Annotations" / "tab_here.xml").read_text()
    report = import_dataset("voc", out, tmp_path / "back")
    assert report.exported == 4 and report.problems == []
    for image_id in ids:
        assert len(Project(tmp_path / "back").load(tmp_path / "back" / f"{image_id}.jpg").shapes) == 1


def test_import_reports_list_lines_that_do_not_resolve(tmp_path, capsys):
    root = _project(tmp_path, ["a.png", "b.png"])
    out = tmp_path / "voc"
    export_project("voc", root, out)
    lists = out / "ImageSets" / "Segmentation"
    (lists / "trainval.txt").write_text("a\nno such image\nmissing\n\n")
    (lists / "val.txt").write_text("b\na\n")
    code = main(["import", "--format", "voc", str(out), str(tmp_path / "back")])
    captured = capsys.readouterr()
    assert code == 2 and "imported 2 image(s)" in captured.out
    assert f"{lists / 'trainval.txt'}: line 2: 'no such image' is not an image id" in captured.err
    assert f"{out / 'JPEGImages' / 'missing.jpg'}: the image does not exist" in captured.err
    assert captured.err.count("skipped") == 2


def test_lists_written_by_older_exports_with_a_space_still_import(tmp_path):
    """A line naming an image in JPEGImages/ as a whole is that image, spaces and all."""
    root = _project(tmp_path, ["a.png"])
    out = tmp_path / "voc"
    export_project("voc", root, out)
    for folder, ext in (("JPEGImages", "jpg"), ("Annotations", "xml"), ("SegmentationClass", "png"), ("SegmentationObject", "png")):
        (out / folder / f"a.{ext}").rename(out / folder / f"old name.{ext}")
    (out / "ImageSets" / "Segmentation" / "trainval.txt").write_text("old name\n")
    shutil.rmtree(out / "ImageSets" / "Main")  # older exports wrote no detection lists
    report = import_dataset("voc", out, tmp_path / "back")
    assert report.exported == 1 and report.problems == []
    assert (tmp_path / "back" / "old name.jpg").is_file()
