"""Project-wide label rename, and label files that keep colours."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations import LabelError, LabelSet, Project


def _project(tmp_path, names=("a", "b", "c")):
    for name in names:
        Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / f"{name}.png")
    return tmp_path


def _sidecar(path, labels, **extra):
    shapes = [
        {"label": label, "points": [[1, 1], [9, 1], [9, 9]], "group_id": None, "shape_type": "polygon", "flags": {},
         "score": 0.5}
        for label in labels
    ]
    shapes.append({"label": labels[0], "points": [[2, 2], [4, 4]], "shape_type": "circle", "flags": {}})
    data = {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": path.with_suffix(".png").name,
            "imageData": None, "imageHeight": 20, "imageWidth": 30, **extra}
    path.write_text(json.dumps(data))


def test_rename_rewrites_every_sidecar_and_keeps_unknown_keys(tmp_path):
    root = _project(tmp_path)
    (root / "labels.txt").write_text("car\nbus\n")
    _sidecar(root / "a.json", ["car", "bus"], otherData={"who": "me"})
    _sidecar(root / "b.json", ["bus"])
    untouched = (root / "b.json").read_bytes()
    (root / "c.json").write_text("{ broken")
    broken = (root / "c.json").read_bytes()
    project = Project(root)
    seen = []

    report = project.rename_label("car", "vehicle", progress=lambda done, total, msg="": seen.append((done, total)))

    a = json.loads((root / "a.json").read_text())
    assert [s["label"] for s in a["shapes"]] == ["vehicle", "bus", "vehicle"]  # the circle too
    assert a["otherData"] == {"who": "me"} and a["shapes"][0]["score"] == 0.5
    assert (root / "b.json").read_bytes() == untouched  # nothing to rename: not rewritten
    assert (root / "c.json").read_bytes() == broken
    assert report.files == [root / "a.json"] and report.shapes == 2
    assert len(report.problems) == 1 and "c.json: malformed JSON" in report.problems[0]
    assert project.labels.names == ["vehicle", "bus"]
    assert (root / "labels.txt").read_text() == "vehicle\nbus\n"
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    # the renamed file still loads
    assert [s.label for s in project.load(root / "a.png").shapes] == ["vehicle", "bus"]


def test_rename_can_merge_skip_the_open_image_and_refuses_empty_names(tmp_path):
    root = _project(tmp_path, ("a", "b"))
    LabelSet(["car", "vehicle"]).save(root / "labels.txt")
    _sidecar(root / "a.json", ["car"])
    _sidecar(root / "b.json", ["car"])
    open_image = (root / "b.json").read_bytes()
    project = Project(root)
    report = project.rename_label("car", "vehicle", exclude=[root / "b.png"])
    assert report.files == [root / "a.json"]
    assert (root / "b.json").read_bytes() == open_image
    assert project.labels.names == ["vehicle"]
    with pytest.raises(LabelError, match="must not be empty"):
        project.rename_label("vehicle", "  ")


def test_rename_of_a_label_only_files_use_adds_it(tmp_path):
    root = _project(tmp_path, ("a",))
    (root / "labels.txt").write_text("car\n")
    _sidecar(root / "a.json", ["stray"])
    project = Project(root)
    assert project.rename_label("stray", "truck").shapes == 2
    assert project.labels.names == ["car", "truck"]


def test_recoloured_labels_are_saved_where_colours_survive(tmp_path):
    (tmp_path / "labels.txt").write_text("car\nbus\n")
    project = Project(tmp_path)
    project.labels.add("tram")  # default colours: the text file can hold it
    assert project.save_labels() == tmp_path / "labels.txt"
    project.labels.recolor("bus", (1, 2, 3))
    written = project.save_labels()
    assert written == tmp_path / "labels.json"
    again = Project(tmp_path).labels
    assert again.names == ["car", "bus", "tram"] and again["bus"].color == (1, 2, 3)
