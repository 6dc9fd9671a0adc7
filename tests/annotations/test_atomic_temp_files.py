"""Atomic saves' temporary files (issue 20: nothing lost, nothing garbled).

The temporary file has a short name of its own, so a target name near the 255-byte limit
saves; temporary files left by a writer killed mid-save are removed by the next save into
the folder; and a writer killed at any moment leaves the sidecar whole.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations import ImageAnnotation, Project, Shape, atomic, read_sidecar, write_sidecar
from samlabel.annotations.sidecar import annotation_to_dict, dumps

H, W = 40, 50


def _temp_files(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_an_image_name_of_250_bytes_saves_and_loads(tmp_path):
    image = tmp_path / ("é" * 123 + ".png")  # 246 + 4 = 250 bytes; its sidecar name is 251 bytes
    assert len(image.name.encode()) == 250
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(image)
    project = Project(tmp_path)
    annotation = project.load(image).with_shapes([Shape.polygon("car", [[1, 1], [9, 1], [9, 9]])])
    sidecar = project.save(annotation, image)
    assert len(sidecar.name.encode()) == 251
    assert project.load(image).shapes[0].same_content(annotation.shapes[0])
    assert _temp_files(tmp_path) == []


def test_a_target_name_of_255_bytes_saves(tmp_path):
    path = tmp_path / ("a" * 250 + ".json")
    atomic.atomic_write_text(path, "{}")
    assert path.read_text() == "{}" and _temp_files(tmp_path) == []


def test_stale_temp_files_are_removed_by_the_next_save(tmp_path):
    host, now = atomic._HOST, time.time()
    dead = f".samlabel-{host}-{_dead_pid()}-k1ll3d_x.tmp"  # its writer is gone
    old = f".samlabel-{'0' * 6 if host != '0' * 6 else '1' * 6}-{os.getpid()}-0ld0ld0l.tmp"  # another machine's, 10 min old
    live = f".samlabel-{host}-{os.getppid()}-w0rk1ng_.tmp"  # a running writer's
    remote = f".samlabel-{'0' * 6 if host != '0' * 6 else '1' * 6}-{_dead_pid()}-r3m0te__.tmp"  # another machine's, fresh
    other = [".photo.json.abc12345.tmp", "notes.tmp", ".samlabel-x.tmp"]  # not ours: never touched
    for name in [dead, old, live, remote, *other]:
        (tmp_path / name).write_text("partial")
    os.utime(tmp_path / old, (now - 600, now - 600))
    write_sidecar(tmp_path / "img.json", ImageAnnotation("img.png", H, W))
    assert _temp_files(tmp_path) == sorted([live, remote, *other])
    assert read_sidecar(tmp_path / "img.json").shapes == ()


def _versions() -> list[ImageAnnotation]:
    """Five annotations of 20 round 100-point polygons (about 50 kB of JSON each)."""
    angles = np.linspace(0, 2 * np.pi, 100, endpoint=False)
    out = []
    for k in range(5):
        shapes = [
            Shape.polygon(f"obj{k}", np.stack([20 + (5 + i % 10) * np.cos(angles), 20 + (5 + k) * np.sin(angles)], 1).round(3))
            for i in range(20)
        ]
        out.append(ImageAnnotation("img.png", H, W, shapes))
    return out


def _save_forever(path, texts: list[str]) -> None:  # pragma: no cover - runs in the killed child
    """Save the sidecar over and over: what ``write_sidecar`` does once the JSON text is
    made (serialising is done beforehand, so the kills land in the save itself)."""
    try:
        i = 0
        while True:
            atomic.atomic_write_text(path, texts[i % len(texts)])
            i += 1
    finally:
        os._exit(0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_kill_loop_never_leaves_a_broken_sidecar_or_temp_files(tmp_path):
    """100 times: a writer saving the sidecar over and over is SIGKILLed at a random moment;
    the sidecar must then be one of the versions written, whole, and after the next save no
    temporary file may be left."""
    path = tmp_path / "img.json"
    versions = _versions()
    texts = [dumps(annotation_to_dict(v)) for v in versions]
    write_sidecar(path, versions[0])
    rng = random.Random(20)
    kills = corrupt = left_after_kill = leftovers = 0
    started = time.monotonic()
    for round_ in range(100):
        delay = rng.uniform(0.0005, 0.05)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            # its own timer SIGKILLs it at a random moment, wherever the save has got to
            signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGKILL))
            signal.setitimer(signal.ITIMER_REAL, delay)
            _save_forever(path, texts)
        _, status = os.waitpid(pid, 0)  # returns once the child is dead
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        kills += 1
        text = path.read_text(encoding="utf-8")
        try:
            read_sidecar(path)
        except Exception:
            corrupt += 1
        else:
            corrupt += text not in texts
        left_after_kill += len(_temp_files(tmp_path))
        write_sidecar(path, versions[round_ % len(versions)])  # the next save
        leftovers += len(_temp_files(tmp_path))
    figure = (
        f"kill loop: {kills} kills, {corrupt} corrupt sidecars, {left_after_kill} temp files left by kills, "
        f"{leftovers} left after the next save ({time.monotonic() - started:.1f} s)"
    )
    print(figure)
    assert (kills, corrupt, leftovers) == (100, 0, 0), figure


def test_an_import_of_an_image_with_a_250_byte_name_keeps_its_annotations(tmp_path):
    from samlabel.formats.batch import export_project, import_dataset

    source = tmp_path / "source"
    source.mkdir()
    image = source / ("é" * 123 + ".png")  # 250 bytes; its sidecar name is 251 bytes
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(image)
    project = Project(source)
    project.save(project.load(image).with_shapes([Shape.polygon("car", [[1, 1], [9, 1], [9, 9]])]), image)
    for fmt in ("labelme", "coco"):
        out = tmp_path / f"export-{fmt}"
        report = export_project(fmt, source, out)
        assert report.exported == 1 and not report.problems, report.problems
        src = out / "annotations" / "instances_default.json" if fmt == "coco" else out  # COCO imports from its JSON
        target = tmp_path / f"imported-{fmt}"
        report = import_dataset(fmt, src, target)
        assert report.exported == 1 and not report.problems, report.problems
        imported = Project(target)
        shapes = imported.load(target / image.name).shapes
        assert len(shapes) == 1 and shapes[0].label == "car", fmt
        assert _temp_files(target) == []
