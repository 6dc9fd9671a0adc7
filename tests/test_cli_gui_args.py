"""The GUI command line reaches run_app intact, and impossible combinations are refused; a
PATH or --checkpoint that is not what it must be is refused before Qt starts, naming the path
and the real problem (a link loop, a named pipe, a folder that is no snapshot), never opened."""

from __future__ import annotations

import os

import pytest

import samlabel.gui.app as gui_app
from samlabel.cli import main

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")


def test_gui_options_reach_run_app(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(gui_app, "run_app", lambda **kw: seen.update(kw) or 0)
    assert main([str(tmp_path), "--model", "vit_t", "--device", "cpu", "--quantize", "int8", "--engine", "torch"]) == 0
    assert seen == {"path": str(tmp_path), "model": "vit_t", "checkpoint": None, "device": "cpu", "quantize": "int8",
                    "engine": "torch"}


def test_quantize_defaults_to_fp32(monkeypatch):
    seen = {}
    monkeypatch.setattr(gui_app, "run_app", lambda **kw: seen.update(kw) or 0)
    assert main([]) == 0
    assert seen["quantize"] == "fp32" and seen["path"] is None


def test_int8_on_cuda_is_refused_with_a_reason(monkeypatch, capsys):
    monkeypatch.setattr(gui_app, "run_app", lambda **kw: 0)
    assert main(["--device", "cuda", "--quantize", "int8"]) == 2
    assert "CPU only" in capsys.readouterr().err


@pytest.fixture
def never_started(monkeypatch):
    started = []
    monkeypatch.setattr(gui_app, "run_app", lambda **kw: started.append(kw) or 0)
    return started


def _special(tmp_path, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "broken":
        path.symlink_to("gone.png")
    return path


@pytest.mark.parametrize("kind, problem", [
    pytest.param("fifo", "not a file or folder (a named pipe)", marks=needs_fifo),
    ("loop", "a symbolic link loop"),
    ("broken", "a broken symbolic link (to gone.png)"),
    ("missing", "no such file or folder"),
])
def test_a_path_that_is_no_image_or_folder_is_named(tmp_path, capsys, never_started, kind, problem):
    path = _special(tmp_path, kind)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert f"samlabel: {path}: {problem}" in err and "Traceback" not in err
    assert never_started == []


@pytest.mark.parametrize("kind, problem", [
    pytest.param("fifo", "not a file or folder (a named pipe)", marks=needs_fifo),
    ("loop", "a symbolic link loop"),
])
def test_a_checkpoint_that_is_no_file_is_refused_without_opening_it(tmp_path, capsys, never_started, kind, problem):
    path = _special(tmp_path, kind)
    assert main(["--checkpoint", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"samlabel: checkpoint {path}: {problem}" in err and "Traceback" not in err
    assert never_started == []


def test_a_missing_checkpoint_is_refused(tmp_path, capsys, never_started):
    assert main(["--checkpoint", str(tmp_path / "nope.pth")]) == 2
    assert f"samlabel: checkpoint {tmp_path / 'nope.pth'} does not exist" in capsys.readouterr().err
    assert never_started == []


def test_a_snapshot_folder_checkpoint_reaches_the_app(tmp_path, capsys, never_started):
    snapshot = tmp_path / "models--facebook--sam-vit-base" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "model.safetensors").write_bytes(b"weights")  # read by the loader, not here
    assert main(["--checkpoint", str(snapshot)]) == 0
    assert never_started[0]["checkpoint"] == str(snapshot)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text("{}")
    assert main(["--checkpoint", str(bare)]) == 2
    err = capsys.readouterr().err
    assert f"checkpoint folder {bare} holds neither model.safetensors nor pytorch_model.bin" in err
    assert len(never_started) == 1
