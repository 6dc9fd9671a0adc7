"""Export dialog: real export with progress and problems; errors; settings; cancel."""

from __future__ import annotations

import json
import threading

import pytest
from PIL import Image

from samlabel.annotations import ImageAnnotation, Project, Shape
from samlabel.gui.dialogs.export_dialog import ExportDialog, suggest_out_dir
from samlabel.gui.settings import AppSettings


@pytest.fixture
def project_dir(tmp_path):
    root = tmp_path / "shots"
    root.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (16, 12), (90, 90, 90)).save(root / name)
    project = Project(root)
    shape = Shape.polygon("car", [[1, 1], [8, 1], [8, 6], [1, 6]])
    project.save(ImageAnnotation("a.png", 12, 16, [shape]))
    (root / "b.json").write_text("{ this is not json")
    (root / "labels.txt").write_text("car\nperson\n")
    return root


def _dialog(qtbot, project_dir, **kwargs):
    dialog = ExportDialog(project_dir, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_suggested_folder_is_new(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    assert suggest_out_dir(project, "yolo") == tmp_path / "p-yolo"
    (tmp_path / "p-yolo").mkdir()
    assert suggest_out_dir(project, "yolo") == tmp_path / "p-yolo"  # empty: usable
    (tmp_path / "p-yolo" / "x").write_text("x")
    assert suggest_out_dir(project, "yolo") == tmp_path / "p-yolo-2"


def test_export_writes_coco_with_progress_and_lists_problems(qtbot, project_dir, tmp_path):
    settings = AppSettings(tmp_path / "s.ini")
    dialog = _dialog(qtbot, project_dir, settings=settings)
    assert dialog.format() == "coco"
    out = tmp_path / "out-coco"
    dialog.set_out_dir(out)
    reports = []
    with qtbot.waitSignal(dialog.exported, timeout=20000) as blocker:
        dialog.export_button.click()
        dialog.task.progress.connect(lambda done, total, message: reports.append((done, total)))  # queued: none missed
    report = blocker.args[0]
    assert report.exported == 2 and len(report.problems) == 1 and "b.json" in report.problems[0]
    data = json.loads((out / "annotations" / "instances_default.json").read_text())
    assert len(data["annotations"]) == 1 and len(data["images"]) == 2
    assert len(reports) >= 2 and reports[0][0] < reports[-1][0] == reports[-1][1]
    assert dialog.progress_bar.value() == 1000
    assert dialog.problems_view.isVisible() and "b.json" in dialog.problems_view.toPlainText()
    assert "Exported 2 image(s)" in dialog.status_label.text()
    assert dialog.out_dir() != out  # a new suggestion for the next run
    assert settings.export_format == "coco" and settings.export_folder == str(tmp_path)


def test_format_and_simplify_come_from_settings(qtbot, project_dir, tmp_path):
    settings = AppSettings(tmp_path / "s.ini")
    settings.export_format = "yolo"
    settings.simplify_tolerance = 2.5
    dialog = _dialog(qtbot, project_dir, settings=settings)
    assert dialog.format() == "yolo" and dialog.simplify_spin.value() == 2.5
    assert dialog.out_dir().name == "shots-yolo"
    dialog.set_format("voc")
    assert dialog.out_dir().name == "shots-voc"


def test_refused_output_folder_shows_the_error(qtbot, project_dir, tmp_path):
    out = tmp_path / "full"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    dialog = _dialog(qtbot, project_dir)
    dialog.set_out_dir(out)
    with qtbot.waitSignal(dialog.failed, timeout=20000) as blocker:
        dialog.start()
    assert str(out) in blocker.args[0]
    assert "Export failed" in dialog.status_label.text() and dialog.export_button.isEnabled()
    assert (out / "keep.txt").read_text() == "mine"


def test_cancel(qtbot, project_dir, tmp_path):
    started, release = threading.Event(), threading.Event()

    def slow_export(fmt, project_dir, out_dir, labels_file=None, simplify=None, progress=None):
        progress(0, 10, "reading")
        started.set()
        release.wait(10)
        progress(1, 10, "reading")  # raises: cancelled
        raise AssertionError("not reached")

    dialog = _dialog(qtbot, project_dir, export_fn=slow_export)
    task = dialog.start()
    assert started.wait(10)
    with qtbot.waitSignal(task.cancelled, timeout=10000):
        dialog.cancel_button.click()
        release.set()
    assert "cancelled" in dialog.status_label.text() and dialog.export_button.isEnabled()
