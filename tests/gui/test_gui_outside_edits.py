"""Issue 20, nothing lost: a sidecar edited by another program while its image is open is
never overwritten by an autosave without asking, and every answer keeps both versions."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from samlabel.annotations import Project, Shape
from samlabel.annotations.sidecar_guard import OutsideEditChoice
from samlabel.gui.dialogs import outside_edit


def _write(path, labels, height=160, width=240):
    """A labelme sidecar of a.png (240 x 160) with one rectangle per label."""
    shapes = [{"label": label, "points": [[10 + 20 * i, 10], [25 + 20 * i, 30]], "shape_type": "rectangle",
               "group_id": None, "flags": {}, "description": ""} for i, label in enumerate(labels)]
    path.write_text(json.dumps({"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": "a.png",
                                "imageData": None, "imageHeight": height, "imageWidth": width}))


def _labels(path):
    return [s["label"] for s in json.loads(path.read_text())["shapes"]]


def _beside(folder, tag):
    return sorted(folder.glob(f"a.{tag}-*.json"))


@pytest.fixture
def opened(make_window, image_folder):
    """The window on a.png (sidecar: one "car"), then "bus" written to a.json behind its back."""
    sidecar = image_folder / "a.json"
    _write(sidecar, ["car"])
    win = make_window(image_folder)  # opens at a.png
    assert win.image_path.name == "a.png" and [s.label for s in win.document.shapes] == ["car"]
    _write(sidecar, ["bus"])  # another program (labelme, a script, git checkout)
    return win, sidecar


@pytest.fixture
def answers(monkeypatch):
    """Replace the dialog: each call pops the next answer and records the change asked about."""
    asked, queue = [], []

    def fake(parent, change):
        asked.append(change)
        return queue.pop(0)

    monkeypatch.setattr(outside_edit, "ask_outside_edit", fake)
    return asked, queue


def _edit(win, label="tree"):
    win.document.add_shape(Shape.rectangle(label, (100, 60), (140, 100)))


def test_an_edit_after_an_outside_change_asks_and_nothing_is_written_while_the_question_is_open(
    qtbot, opened, monkeypatch, image_folder
):
    win, sidecar = opened
    seen = []

    def pending(parent, change):
        # the dialog is open: nothing was written, and autosaves coming due meanwhile
        # (another edit, a traced mask) write nothing and do not ask a second time
        seen.append(("asked", change.kind, _labels(sidecar)))
        _edit(win, "person")
        QCoreApplication.processEvents()
        QCoreApplication.processEvents()
        seen.append(("still", _labels(sidecar), sorted(p.name for p in image_folder.glob("*.json"))))
        return None  # closed without an answer

    monkeypatch.setattr(outside_edit, "ask_outside_edit", pending)
    _edit(win)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert seen == [("asked", "modified", ["bus"]), ("still", ["bus"], ["a.json"])]
    assert _labels(sidecar) == ["bus"] and win.document.is_dirty
    assert "*" in win.windowTitle() and "Not saved" in win.statusBar().currentMessage()
    assert len(seen) == 2  # one question for both edits
    assert win.next_image() is False and win.image_path.name == "a.png"  # D asks again; unanswered: stays
    assert len(seen) == 4 and _labels(sidecar) == ["bus"]


def test_reload_theirs_shows_their_version_and_undo_brings_mine_back(qtbot, opened, answers, image_folder):
    win, sidecar = opened
    asked, queue = answers
    queue.append(OutsideEditChoice.RELOAD_THEIRS)
    _edit(win)
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=5000)
    assert [s.label for s in win.document.shapes] == ["bus"] and not win.document.is_dirty
    assert _labels(sidecar) == ["bus"] and sorted(p.name for p in image_folder.glob("*.json")) == ["a.json"]
    assert len(win.layer.order) == 1
    win.undo()  # mine, unsaved: the autosave now writes it (theirs is one Redo away)
    assert [s.label for s in win.document.shapes] == ["car", "tree"]
    qtbot.waitUntil(lambda: _labels(sidecar) == ["car", "tree"], timeout=5000)
    assert len(asked) == 1


def test_keep_mine_saves_theirs_beside_then_overwrites(qtbot, opened, answers, image_folder):
    win, sidecar = opened
    asked, queue = answers
    queue.append(OutsideEditChoice.KEEP_MINE)
    _edit(win)
    qtbot.waitUntil(lambda: _labels(sidecar) == ["car", "tree"], timeout=5000)
    (copy,) = _beside(image_folder, "outside")
    assert _labels(copy) == ["bus"] and copy.name in win.statusBar().currentMessage()
    assert not win.document.is_dirty and "*" not in win.windowTitle()
    _edit(win, "person")  # later autosaves need no question
    qtbot.waitUntil(lambda: _labels(sidecar) == ["car", "tree", "person"], timeout=5000)
    assert len(asked) == 1


def test_save_mine_beside_keeps_theirs_and_shows_it(qtbot, opened, answers, image_folder):
    win, sidecar = opened
    asked, queue = answers
    queue.append(OutsideEditChoice.SAVE_MINE_BESIDE)
    _edit(win)
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=5000)
    (copy,) = _beside(image_folder, "samlabel")
    assert _labels(copy) == ["car", "tree"] and _labels(sidecar) == ["bus"]
    assert json.loads(copy.read_text())["imagePath"] == "a.png"
    assert [s.label for s in win.document.shapes] == ["bus"] and not win.document.is_dirty
    assert Project(image_folder).images == [image_folder / "a.png", image_folder / "b.png"]  # copies are no images


def test_switching_images_asks_too_and_closing_unanswered_saves_mine_beside(qtbot, opened, answers, image_folder):
    win, sidecar = opened
    asked, queue = answers
    queue.extend([None, None])
    win.document.begin_group("Move vertex")  # a drag: no autosave until it ends
    _edit(win)
    assert win.next_image() is False and len(asked) == 1  # D asked; unanswered: stays
    assert _labels(sidecar) == ["bus"] and not _beside(image_folder, "samlabel")
    win.close()  # unanswered again: mine goes beside theirs, theirs stays
    assert len(asked) == 2
    (copy,) = _beside(image_folder, "samlabel")
    assert _labels(copy) == ["car", "tree"] and _labels(sidecar) == ["bus"]


def test_a_clean_document_shows_an_outside_edit_when_the_window_is_active_again(qtbot, opened, answers):
    win, sidecar = opened
    asked, _queue = answers
    win.check_outside_edits()  # what the window does when it is activated
    assert [s.label for s in win.document.shapes] == ["bus"] and not win.document.is_dirty
    assert "changed by another program" in win.statusBar().currentMessage()
    assert not asked
    win.undo()
    assert [s.label for s in win.document.shapes] == ["car"]


def test_a_deleted_sidecar_is_asked_about_and_keep_mine_recreates_it(qtbot, opened, answers, image_folder):
    win, sidecar = opened
    asked, queue = answers
    sidecar.unlink()
    queue.append(OutsideEditChoice.KEEP_MINE)
    _edit(win)
    qtbot.waitUntil(lambda: sidecar.is_file(), timeout=5000)
    assert asked[0].kind == "deleted" and _labels(sidecar) == ["car", "tree"]
    assert not _beside(image_folder, "outside")  # nothing of theirs to keep


def test_the_real_dialog_names_the_file_and_its_buttons_decide(qtbot, opened, image_folder):
    win, sidecar = opened
    seen = []

    def answer():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or box.objectName() != "outside_edit_dialog":
            return
        timer.stop()
        seen.append((box.text(), box.informativeText(), _labels(sidecar),
                     [b.text() for b in box.buttons() if b.property("choice")]))
        box.findChild(type(box.buttons()[0]), "choice_keep_mine").click()

    timer = QTimer()
    timer.timeout.connect(answer)
    timer.start(10)
    _edit(win)
    qtbot.waitUntil(lambda: _labels(sidecar) == ["car", "tree"], timeout=10000)
    timer.stop()
    text, info, on_disk, buttons = seen[0]
    assert "a.json" in text and "another program" in text and on_disk == ["bus"]
    assert "discarded" in info and "a.outside-" in info and "a.samlabel-" in info
    assert sorted(buttons) == ["Keep mine", "Reload theirs", "Save mine beside it"]
    (copy,) = _beside(image_folder, "outside")
    assert _labels(copy) == ["bus"]
