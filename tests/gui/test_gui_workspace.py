"""The Qt-free workspace the window binds to: project, open image, document, labels, jobs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from samlabel.annotations import LabelSet
from samlabel.gui.workspace import Workspace, WorkspaceChangeKind


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
