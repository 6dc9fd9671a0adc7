"""SidecarGuard: a sidecar changed by another program is detected and never overwritten
without a choice; each choice keeps both versions somewhere (no Qt)."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations import Document, Shape, write_sidecar
from samlabel.annotations.project import Project
from samlabel.annotations.sidecar_guard import (
    RACY_NS,
    OutsideEditChoice,
    OutsideEditError,
    SidecarGuard,
    SidecarStamp,
    copy_path,
)

WHEN = datetime(2024, 1, 2, 3, 4, 5)


@pytest.fixture
def sidecar(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'{"shapes": [{"label": "car"}]}\n')
    return path


def test_an_untouched_file_is_no_change_and_a_missing_one_stays_missing(tmp_path, sidecar):
    assert SidecarGuard.now(sidecar).outside_change() is None
    gone = tmp_path / "b.json"
    guard = SidecarGuard.now(gone)
    assert not guard.stamp.exists and guard.outside_change() is None


def test_same_size_same_mtime_different_content_is_a_change(sidecar):
    """The coarse-mtime case: a rewrite within one timestamp tick (mtime put back here)."""
    guard = SidecarGuard.now(sidecar)
    st = os.stat(sidecar)
    sidecar.write_bytes(b'{"shapes": [{"label": "bus"}]}\n')  # same size
    os.utime(sidecar, ns=(st.st_atime_ns, st.st_mtime_ns))
    change = guard.outside_change()
    assert change is not None and change.kind == "modified" and "a.json" in change.describe()
    assert change.now.size == change.before.size and change.now.sha256 != change.before.sha256


def test_a_touch_is_no_change_and_the_stamp_is_refreshed(sidecar):
    guard = SidecarGuard.now(sidecar)
    os.utime(sidecar, ns=(10**18, 10**18))
    assert guard.outside_change() is None
    assert guard.stamp.mtime_ns == 10**18


def test_an_old_stamp_with_the_same_stat_is_trusted_without_reading(monkeypatch, sidecar):
    stamp = SidecarStamp.of_file(sidecar)
    settled = dataclasses.replace(stamp, taken_ns=stamp.ctime_ns + RACY_NS + 1)
    assert stamp.racy and not settled.racy

    def no_read(*_a, **_k):
        raise AssertionError("hashed although the stat was enough")

    monkeypatch.setattr(SidecarStamp, "read", classmethod(no_read))
    assert SidecarGuard(sidecar, settled).outside_change() is None


def test_deleted_and_created_files_are_changes(tmp_path, sidecar):
    guard = SidecarGuard.now(sidecar)
    sidecar.unlink()
    assert guard.outside_change().kind == "deleted"
    other = tmp_path / "new.json"
    guard = SidecarGuard.now(other)
    other.write_text("{}")
    assert guard.outside_change().kind == "created"


def test_save_refuses_to_overwrite_an_outside_edit_and_writes_nothing(sidecar):
    guard = SidecarGuard.now(sidecar)
    guard.save(b'{"mine": 1}\n')  # unchanged since read: written
    guard.save(b'{"mine": 2}\n')  # our own write is not an outside edit
    assert sidecar.read_bytes() == b'{"mine": 2}\n'
    sidecar.write_bytes(b'{"theirs": 1}\n')
    with pytest.raises(OutsideEditError) as info:
        guard.save(b'{"mine": 3}\n')
    assert info.value.change.kind == "modified" and "a.json" in str(info.value)
    assert sidecar.read_bytes() == b'{"theirs": 1}\n'
    assert [p.name for p in sidecar.parent.iterdir()] == ["a.json"]


def test_keep_mine_copies_theirs_beside_then_writes_mine(sidecar):
    guard = SidecarGuard.now(sidecar)
    sidecar.write_bytes(b'{"theirs": true}\n')
    change = guard.outside_change()
    result = guard.resolve(OutsideEditChoice.KEEP_MINE, b'{"mine": true}\n', when=WHEN)
    assert result.saved_mine and not result.reload_theirs
    assert result.copy == sidecar.with_name("a.outside-20240102-030405.json")
    assert result.copy.read_bytes() == b'{"theirs": true}\n'
    assert sidecar.read_bytes() == b'{"mine": true}\n'
    assert "a.outside-20240102-030405.json" in result.message()
    assert change is not None and guard.outside_change() is None  # mine is the known version now
    guard.save(b'{"mine": 2}\n')


def test_keep_mine_after_a_deletion_has_nothing_to_copy(sidecar):
    guard = SidecarGuard.now(sidecar)
    sidecar.unlink()
    result = guard.resolve(OutsideEditChoice.KEEP_MINE, b"{}\n", when=WHEN)
    assert result.copy is None and sidecar.read_bytes() == b"{}\n"
    assert sorted(p.name for p in sidecar.parent.iterdir()) == ["a.json"]


def test_save_mine_beside_leaves_theirs_and_asks_for_a_reload(sidecar):
    guard = SidecarGuard.now(sidecar)
    sidecar.write_bytes(b'{"theirs": true}\n')
    result = guard.resolve(OutsideEditChoice.SAVE_MINE_BESIDE, b'{"mine": true}\n', when=WHEN)
    assert result.reload_theirs and not result.saved_mine
    assert result.copy == sidecar.with_name("a.samlabel-20240102-030405.json")
    assert result.copy.read_bytes() == b'{"mine": true}\n'
    assert sidecar.read_bytes() == b'{"theirs": true}\n'


def test_reload_theirs_writes_nothing(sidecar):
    guard = SidecarGuard.now(sidecar)
    sidecar.write_bytes(b'{"theirs": true}\n')
    result = guard.resolve(OutsideEditChoice.RELOAD_THEIRS, b'{"mine": true}\n')
    assert result.reload_theirs and result.copy is None and not result.saved_mine
    assert sorted(p.name for p in sidecar.parent.iterdir()) == ["a.json"]
    assert sidecar.read_bytes() == b'{"theirs": true}\n'


def test_copy_names_keep_the_image_name_and_never_collide(tmp_path):
    first = copy_path(tmp_path / "a.jpg.json", "outside", WHEN)
    assert first.name == "a.jpg.outside-20240102-030405.json"
    first.write_text("{}")
    assert copy_path(tmp_path / "a.jpg.json", "outside", WHEN).name == "a.jpg.outside-20240102-030405-2.json"


# --- through the Project -----------------------------------------------------------
@pytest.fixture
def project(tmp_path):
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "a.png")
    return Project(tmp_path)


def test_project_load_stamped_and_guarded_autosave(project, tmp_path):
    image = tmp_path / "a.png"
    doc = Document(project.load(image))
    doc.add_shape(Shape.rectangle("car", (1, 1), (9, 9)))
    project.save(doc.annotation, image)
    loaded = project.load_stamped(image)
    assert loaded.sidecar == tmp_path / "a.json" and loaded.notes == ()
    assert loaded.stamp.sha256 == SidecarStamp.of_file(tmp_path / "a.json").sha256
    doc = Document(loaded.annotation)
    guard = loaded.guard()
    doc.add_shape(Shape.rectangle("bus", (2, 2), (8, 8)))
    assert project.autosave(doc, image, guard=guard)
    # another program relabels the file: the next autosave refuses and keeps it dirty
    data = json.loads((tmp_path / "a.json").read_text())
    data["shapes"][0]["label"] = "van"
    (tmp_path / "a.json").write_text(json.dumps(data))
    doc.add_shape(Shape.rectangle("tree", (3, 3), (7, 7)))
    with pytest.raises(OutsideEditError):
        project.autosave(doc, image, guard=guard)
    assert doc.is_dirty and json.loads((tmp_path / "a.json").read_text())["shapes"][0]["label"] == "van"
    # the copies are not images: the project still lists one image
    guard.resolve(OutsideEditChoice.KEEP_MINE, project.encode(doc.annotation, image)[1])
    assert Project(tmp_path).images == [image]


def test_encode_is_what_save_writes(project, tmp_path):
    image = tmp_path / "a.png"
    annotation = project.load(image)
    path, data = project.encode(annotation, image)
    write_sidecar(tmp_path / "ref.json", annotation.replace(image_path="a.png"))
    assert path == tmp_path / "a.json" and data == (tmp_path / "ref.json").read_bytes()
    assert project.save(annotation, image) == path and path.read_bytes() == data


def test_load_stamped_of_an_image_without_sidecar_is_empty_and_missing(project, tmp_path):
    loaded = project.load_stamped(tmp_path / "a.png")
    assert loaded.annotation.shapes == () and not loaded.stamp.exists
    assert loaded.annotation.image_path == "a.png" and loaded.annotation.image_height == 40
