"""FileListDock: annotated marks, filtering, activation and refresh."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt

from samlabel.annotations import Project
from samlabel.gui.docks.file_list_dock import FileListDock
from samlabel.gui.docks.models import filter_files


@pytest.fixture
def project(tmp_path):
    for name in ("street2.png", "street10.png", "cat.jpg"):
        Image.new("RGB", (8, 6)).save(tmp_path / name)
    (tmp_path / "cat.json").write_text(
        '{"version": "5.5.0", "flags": {}, "shapes": [], "imagePath": "cat.jpg", '
        '"imageData": null, "imageHeight": 6, "imageWidth": 8}'
    )
    return Project(tmp_path)


@pytest.fixture
def dock(qtbot, project):
    dock = FileListDock()
    qtbot.addWidget(dock)
    dock.set_project(project)
    dock.show()
    return dock


def test_filter_files_logic():
    paths = ["/a/Street_1.png", "/a/street_2.jpg", "/a/cat.png"]
    assert [p.name for p in filter_files(paths, "STREET png")] == ["Street_1.png"]
    done = {"/a/cat.png"}
    assert [p.name for p in filter_files(paths, "", lambda p: str(p) in done, "not annotated")] == [
        "Street_1.png", "street_2.jpg"]
    assert [p.name for p in filter_files(paths, "", lambda p: str(p) in done, "annotated")] == ["cat.png"]
    with pytest.raises(ValueError):
        filter_files(paths, "", None, "some")


def test_images_listed_in_project_order_with_marks(dock, project):
    names = [Path(p).name for p in dock.visible_paths()]
    assert names == ["cat.jpg", "street2.png", "street10.png"]
    assert dock.is_marked(project.root / "cat.jpg")
    assert not dock.is_marked(project.root / "street2.png")
    assert dock.summary.text() == "1 of 3 annotated"


def test_filter_box_and_annotation_filter(qtbot, dock):
    qtbot.keyClicks(dock.filter_edit, "street")
    assert [Path(p).name for p in dock.visible_paths()] == ["street2.png", "street10.png"]
    assert "2 shown" in dock.summary.text()
    dock.set_filter("", "annotated")
    assert [Path(p).name for p in dock.visible_paths()] == ["cat.jpg"]
    dock.set_filter("", "not annotated")
    assert [Path(p).name for p in dock.visible_paths()] == ["street2.png", "street10.png"]


def test_click_activates_and_set_current_does_not(qtbot, dock, project):
    emitted = []
    dock.imageActivated.connect(emitted.append)
    dock.set_current(project.root / "street2.png")
    assert Path(dock.current_path()).name == "street2.png" and emitted == []
    item = dock.list.item(2)
    with qtbot.waitSignal(dock.imageActivated) as blocker:
        qtbot.mouseClick(dock.list.viewport(), Qt.MouseButton.LeftButton, pos=dock.list.visualItemRect(item).center())
    assert Path(blocker.args[0]) == project.root / "street10.png"
    with qtbot.waitSignal(dock.imageActivated) as blocker:
        qtbot.keyClick(dock.list, Qt.Key.Key_Up)
    assert Path(blocker.args[0]) == project.root / "street2.png"


def test_refresh_updates_one_mark(dock, project):
    target = project.root / "street10.png"
    (project.root / "street10.json").write_text(
        '{"version": "5.5.0", "flags": {}, "shapes": [], "imagePath": "street10.png", '
        '"imageData": null, "imageHeight": 6, "imageWidth": 8}'
    )
    assert not dock.is_marked(target)
    dock.refresh(target)
    assert dock.is_marked(target)
    assert dock.summary.text() == "2 of 3 annotated"
    dock.set_project(None)
    assert dock.visible_paths() == []
