"""The Qt-free workspace the window binds to: project, open image, document, labels, jobs,
and its file side (opening, reading sidecars, saving, outside edits), driven without widgets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations import LabelSet, Shape
from samlabel.annotations.sidecar_guard import OutsideEditChoice
from samlabel.gui.workspace import (
    OpenError,
    PendingLoad,
    SaveOutcome,
    Workspace,
    WorkspaceChangeKind,
    describe_open_failures,
)


class _Project:
    def __init__(self, names):
        self.labels = LabelSet(names)


class _Job:
    def __init__(self, running=True):
        self.running = running

    def is_running(self):
        return self.running


def test_state_changes_are_announced_in_order_and_labels_follow_the_project():
    ws = Workspace()
    seen = []
    stop = ws.subscribe(lambda change: seen.append(change.kind))
    ws.labels.set_current("person")  # in the default set, and in the project's
    ws.open_project(_Project(["car", "person"]))
    assert ws.labels.labels.names == ["car", "person"] and ws.labels.current == "person"
    ws.open_project(_Project(["tree"]))  # the current label is not there: the set's first
    assert ws.labels.current == "tree"
    ws.show_image(1, Path("b.png"), object())
    assert ws.document is None and not ws.editable and ws.index == 1
    doc = object()
    ws.set_document(doc)
    assert ws.document is doc and ws.editable
    ws.show_image(0, Path("a.png"), object())  # another image: no document until it is read
    assert ws.document is None
    assert seen == [WorkspaceChangeKind.PROJECT, WorkspaceChangeKind.PROJECT, WorkspaceChangeKind.IMAGE, WorkspaceChangeKind.DOCUMENT,
                    WorkspaceChangeKind.IMAGE]
    stop()
    ws.set_document(None)
    assert len(seen) == 5


def test_only_running_jobs_are_pending():
    ws = Workspace()
    a, b = _Job(), _Job()
    ws.add_job(a)
    ws.add_job(b)
    assert ws.pending_jobs() == [a, b]
    a.running = False
    assert ws.pending_jobs() == [b]
    b.running = False
    ws.add_job(_Job(running=True))
    assert len(ws.pending_jobs()) == 1


def test_the_workspace_and_the_label_state_import_no_qt():
    code = ("import sys, samlabel.gui.workspace, samlabel.gui.label_state\n"
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
    # the check can fail: the labels dock does import Qt
    code = "import sys, samlabel.gui.docks.labels_dock; print(any(m.startswith('PySide6') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr


# ---------------------------------------------------------------------------- the file side, without widgets


@pytest.fixture
def folder(tmp_path):
    """a.png, b.png (not an image) and c.png."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("a.png", "c.png"):
        Image.fromarray(np.full((20, 30, 3), 120, np.uint8)).save(root / name)
    (root / "b.png").write_bytes(b"not a png")
    return root


def _opened(folder, name="a.png"):
    """A workspace showing ``name`` with its document, as the window opens it."""
    ws = Workspace()
    ws.open_project(ws.project_at(folder / name, in_folder=True))
    read = ws.read_image(*ws.first_image(folder / name))
    ws.show_image(read.index, read.path, read.source)
    ws.set_document(ws.document_of(read.loaded), read.loaded.guard())
    return ws


def test_opening_a_folder_skips_images_that_do_not_open_and_remembers_why(folder):
    ws = Workspace()
    ws.open_project(ws.project_at(folder))
    assert [p.name for p in ws.project.images] == ["a.png", "b.png", "c.png"]
    assert ws.first_image(folder) == (0, 1) and ws.first_image(folder / "c.png") == (2, 0)
    read = ws.read_image(1, step=1)  # D onto the broken b.png: c.png opens, b.png is named
    assert read.opened and read.path.name == "c.png" and read.index == 2 and read.loaded is not None
    assert [p.name for p, _ in read.failures] == ["b.png"] and read.new_failures == read.failures
    assert set(ws.problems) == {folder / "b.png"}
    read = ws.read_image(1, step=0)  # a click on b.png: it does not open, nothing else does
    assert not read.opened and [p.name for p, _ in read.failures] == ["b.png"]
    read = ws.read_image(1, step=-1, failures=read.failures)  # A from c.png: a.png, both failures kept
    assert read.opened and read.path.name == "a.png" and len(read.failures) == 2 and len(read.new_failures) == 1
    assert ws.read_image(2, step=1, in_background=lambda sidecar: True).loaded is None  # read later, by the caller
    ws.show_image(2, folder / "c.png", object())
    assert ws.next_image_path() is None and ws.neighbour(-1) == (1, -1)


def test_what_cannot_be_opened_is_an_open_error(tmp_path, folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(OpenError, match="contains no images") as info:
        Workspace.project_at(empty)
    assert info.value.failures == [(empty, "contains no images")]
    alone = Workspace.project_at(folder / "c.png")  # an image alone is a project of one image
    assert alone.images == [folder / "c.png"]
    (folder / "labels.json").write_text("{ broken")
    with pytest.raises(OpenError, match="fix or move the label file"):
        Workspace.project_at(folder)


def test_edits_are_announced_and_a_save_goes_one_way_and_returns_its_result(folder):
    ws = _opened(folder)
    changes = []
    ws.subscribe(changes.append)
    assert ws.title == "a.png — samlabel" and not ws.dirty and ws.save().outcome is SaveOutcome.UNCHANGED
    ws.document.add_shape(Shape.rectangle("cat", (1, 1), (5, 6)))
    assert [c.kind for c in changes] == [WorkspaceChangeKind.EDITED] and changes[0].redraw
    assert ws.dirty and ws.title == "a.png* — samlabel" and ws.autosave_due
    changes.clear()
    result = ws.save()
    assert result.outcome is SaveOutcome.SAVED and result.ok and result.wrote and result.image == folder / "a.png"
    assert not ws.dirty and "*" not in ws.title
    assert json.loads((folder / "a.json").read_text())["shapes"][0]["label"] == "cat"
    # the document's "saved" notice reaches listeners as nothing to do: no redraw, no autosave
    assert [(c.kind, c.redraw, c.saved) for c in changes] == [(WorkspaceChangeKind.EDITED, False, True)]
    assert ws.save().outcome is SaveOutcome.UNCHANGED  # nothing changed since


def test_a_drag_in_progress_is_saved_only_by_an_explicit_save(folder):
    ws = _opened(folder)
    ws.document.add_shape(Shape.rectangle("cat", (1, 1), (5, 6)))
    ws.document.begin_group("Move vertex")
    assert not ws.autosave_due and ws.save().outcome is SaveOutcome.UNCHANGED and ws.dirty
    assert ws.save(end_group=True).outcome is SaveOutcome.SAVED and not ws.document.in_group


def test_a_save_that_fails_keeps_the_changes_and_names_the_error(folder, monkeypatch):
    from samlabel.annotations.errors import SaveError

    ws = _opened(folder)
    ws.document.add_shape(Shape.rectangle("cat", (1, 1), (5, 6)))

    def refuse(*_a, **_k):
        raise SaveError(folder / "a.json", "disk full")

    monkeypatch.setattr(type(ws.project), "save", refuse)
    result = ws.save()
    assert result.outcome is SaveOutcome.FAILED and not result.ok and "disk full" in str(result.error)
    assert ws.dirty and not (folder / "a.json").exists()


def test_an_outside_edit_is_never_overwritten_and_the_choice_is_the_callers(folder):
    ws = _opened(folder)
    ws.document.add_shape(Shape.rectangle("mine", (1, 1), (5, 6)))
    theirs = {"version": "5.0", "flags": {}, "shapes": [], "imagePath": "a.png", "imageData": None,
              "imageHeight": 20, "imageWidth": 30}
    (folder / "a.json").write_text(json.dumps(theirs))
    result = ws.save()  # nobody to ask, nothing chosen: it stays unsaved
    assert result.outcome is SaveOutcome.NOT_SAVED and not result.ok and "Not saved" in result.message
    assert ws.dirty and json.loads((folder / "a.json").read_text())["shapes"] == []
    asked = []

    def ask(change):
        asked.append(change.kind)
        assert ws.asking and ws.save().outcome is SaveOutcome.BUSY  # an autosave while the user decides
        return OutsideEditChoice.RELOAD_THEIRS

    result = ws.save(ask=ask)
    assert asked == ["created"] and not ws.asking
    assert result.outcome is SaveOutcome.RESOLVED and result.reload_theirs and not result.wrote and ws.dirty
    ws.apply_reloaded(ws.document, ws.project.load_stamped(folder / "a.png"))  # what the window does then
    assert ws.document.shapes == () and not ws.dirty
    ws.document.undo()  # mine is one Undo away, and saving it now is not an outside edit
    assert ws.save().outcome is SaveOutcome.SAVED


def test_a_left_document_is_saved_beside_an_outside_edit(folder):
    ws = _opened(folder)
    left, image = ws.document, ws.image_path
    ws.show_image(2, folder / "c.png", object())  # the user moved on
    left.add_shape(Shape.rectangle("late", (1, 1), (5, 6)))  # a mask traced afterwards
    (folder / "a.json").write_text(json.dumps({"shapes": [], "imageHeight": 20, "imageWidth": 30}))
    result = ws.save(left, image, unanswered=OutsideEditChoice.SAVE_MINE_BESIDE)
    assert result.outcome is SaveOutcome.RESOLVED and not result.reload_theirs  # not the open document
    assert len(list(folder.glob("a.samlabel-*.json"))) == 1 and not result.wrote  # theirs stays the sidecar


def test_outside_edits_are_shown_only_when_nothing_of_mine_is_unsaved(folder):
    ws = _opened(folder)
    assert ws.outside_change() is None
    (folder / "a.json").write_text(json.dumps({"shapes": [], "imageHeight": 20, "imageWidth": 30}))
    assert ws.outside_change().kind == "created"
    ws.document.add_shape(Shape.rectangle("mine", (1, 1), (5, 6)))
    assert ws.outside_change() is None  # the next save asks instead


def test_background_reads_are_matched_to_the_image_they_were_for(folder):
    ws = _opened(folder)
    shown = ws.shown()
    assert shown.path == folder / "a.png" and shown.document is ws.document
    ws.show_image(2, folder / "c.png", object())
    ws.pending_load = PendingLoad(folder / "c.png", step=1, restore=shown)
    assert ws.loading and ws.shown() is shown  # still the image to go back to
    assert ws.take_pending_load(folder / "a.png") is None and ws.loading  # a stale result
    pending = ws.take_pending_load(folder / "c.png")
    assert pending is not None and not ws.loading
    pending, following = ws.after_failed_load(pending, "broken")
    assert following is None and pending.failures == ((folder / "c.png", "broken"),)  # the last image: go back
    assert ws.problems[folder / "c.png"] == "broken"
    ws.show_image(0, folder / "a.png", object())
    _, following = ws.after_failed_load(PendingLoad(folder / "a.png", step=1), "broken")
    assert following == 1


def test_the_label_list_is_saved_to_the_project(folder):
    ws = Workspace()
    assert ws.save_labels() is None  # no project: nothing to do
    ws.open_project(ws.project_at(folder))
    ws.labels.add("zebra")
    assert ws.save_labels() is None and "zebra" in (folder / "labels.txt").read_text()


def test_open_failures_are_described_in_one_line():
    a, b, c = Path("/x/a.png"), Path("/x/b.png"), Path("/x/c.png")
    assert describe_open_failures([(a, "empty")], skipped=False, image_open=True) == "Cannot open a.png: empty"
    assert describe_open_failures([(a, "empty")], skipped=False, image_open=False) == \
        "Cannot open a.png: empty — no image is open"
    assert describe_open_failures([(a, "empty"), (b, "?"), (c, "?")], skipped=True, image_open=True) == \
        "Skipped — Cannot open a.png: empty (and 2 more: b.png, c.png)"
    assert describe_open_failures([(a, "x")], False, True, plain="/x contains no images.") == "/x contains no images."
