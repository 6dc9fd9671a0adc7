"""Labels dock: renaming a label in every image of the project (background task)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations import Document, Project
from samlabel.gui.docks.labels_dock import LabelsDock


def _image_with_sidecar(root, stem, labels):
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / f"{stem}.png")
    shapes = [{"label": name, "points": [[1, 1], [5, 1], [5, 5]], "shape_type": "polygon", "flags": {}} for name in labels]
    (root / f"{stem}.json").write_text(json.dumps(
        {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": f"{stem}.png", "imageData": None,
         "imageHeight": 10, "imageWidth": 10}))


def _labels_in(path):
    return [s["label"] for s in json.loads(path.read_text())["shapes"]]


@pytest.fixture
def project_dock(qtbot, tmp_path):
    for stem in ("a", "b", "c"):
        _image_with_sidecar(tmp_path, stem, ["car", "tree"])
    (tmp_path / "c.json").write_text("{ not json")
    (tmp_path / "labels.txt").write_text("car\ntree\n")
    project = Project(tmp_path)
    dock = LabelsDock(project.labels)
    qtbot.addWidget(dock)
    dock.set_project(project)
    document = Document(project.load(tmp_path / "a.png"))
    dock.set_document(document)
    return dock, project, document, tmp_path


def test_rename_everywhere_rewrites_other_sidecars_and_relabels_the_open_image(qtbot, project_dock):
    dock, project, document, root = project_dock
    open_image_file = (root / "a.json").read_bytes()
    warnings = []
    dock._warn = warnings.append
    dock.set_current_label("car")
    dock._ask_rename = lambda old: ("vehicle", True)
    with qtbot.waitSignal(dock.projectRenameFinished, timeout=10_000) as blocker:
        dock.rename_button.click()
    report = blocker.args[0]
    assert _labels_in(root / "b.json") == ["vehicle", "tree"]
    assert (root / "a.json").read_bytes() == open_image_file  # the document's autosave writes it
    assert [s.label for s in document.shapes] == ["vehicle", "tree"]
    assert document.undo_text.startswith("Rename label")
    assert report.files == [root / "b.json"] and report.shapes == 1
    assert len(warnings) == 1 and "c.json" in warnings[0]  # the broken file is named
    assert project.labels.names == ["vehicle", "tree"] and dock.current_label() == "vehicle"


def test_rename_only_here_leaves_other_images(qtbot, project_dock):
    dock, project, document, root = project_dock
    assert dock.rename_label("tree", "oak", everywhere=False) is None
    assert [s.label for s in document.shapes] == ["car", "oak"]
    assert _labels_in(root / "b.json") == ["car", "tree"]


def test_two_quick_renames_both_reach_every_file(qtbot, project_dock):
    dock, project, document, root = project_dock
    dock._warn = lambda text: None  # c.json is broken on purpose
    first = dock.rename_label("car", "vehicle", everywhere=True)
    second = dock.rename_label("tree", "oak", everywhere=True)
    with qtbot.waitSignals([first.done, second.done], timeout=10_000):
        pass
    assert _labels_in(root / "b.json") == ["vehicle", "oak"]
