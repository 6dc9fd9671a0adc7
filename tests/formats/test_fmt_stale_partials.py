"""Temporary folders left by a killed export are removed by the next export beside them;
those of running exports, and anything else, are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from samlabel.formats import batch
from samlabel.formats.batch import export_project, partial_prefix


def _partial(parent: Path, name: str, age_s: float = 0.0) -> Path:
    folder = parent / name
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "x.png").write_bytes(b"half written")
    then = time.time() - age_s
    for path in (folder / "images" / "x.png", folder / "images", folder):
        os.utime(path, (then, then))
    return folder


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_killed_exports_are_cleaned_up_by_the_next_export(sample_project, tmp_path):
    parent = tmp_path
    dead = _partial(parent, partial_prefix(parent / "old", pid=_dead_pid()) + "abc123")
    mine = _partial(parent, partial_prefix(parent / "running", pid=os.getpid()) + "def456", age_s=86400)
    legacy_old = _partial(parent, ".old.partial-k3j4h5g6", age_s=2 * batch.STALE_AFTER_S)
    legacy_new = _partial(parent, ".new.partial-a1b2c3d4")  # an older samlabel, maybe still running
    other_host = _partial(parent, ".x.partial-123@elsewhere@zz")
    user_folder = _partial(parent, "data.partial-keep", age_s=2 * batch.STALE_AFTER_S)
    (parent / ".file.partial-1@h@x").write_text("not a folder")
    absurd = _partial(parent, partial_prefix(parent / "z", pid=10**30) + "q")  # no such process can exist

    report = export_project("coco", sample_project.root, parent / "out")

    assert not dead.exists() and not legacy_old.exists()
    assert mine.exists() and legacy_new.exists() and other_host.exists() and user_folder.exists() and absurd.exists()
    assert (parent / ".file.partial-1@h@x").is_file()
    assert sorted(n for n in report.notes if "partial output" in n) == sorted(
        f"{p}: removed the partial output of an export that was interrupted" for p in (dead, legacy_old)
    )
    assert (parent / "out" / "annotations" / "instances_default.json").is_file()
    assert not [p for p in parent.iterdir() if p.name.startswith(".out.partial-")]


def test_a_temporary_folder_names_its_process(tmp_path, sample_project, monkeypatch):
    seen = []
    real = batch.tempfile.mkdtemp

    def spy(prefix, dir):
        seen.append(prefix)
        return real(prefix=prefix, dir=dir)

    monkeypatch.setattr(batch.tempfile, "mkdtemp", spy)
    export_project("yolo", sample_project.root, tmp_path / ("n" * 250))
    assert seen[0].startswith(".") and f".partial-{os.getpid()}@" in seen[0]
    assert len(seen[0].encode()) < 200  # room for mkdtemp's suffix within a file name's 255 bytes
