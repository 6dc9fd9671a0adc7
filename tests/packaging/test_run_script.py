"""tools/run.py's own logic: when it installs, what it runs, and what it says when the venv module is missing.

The end-to-end run (a fresh venv from a throwaway copy) is tests/packaging/test_readme_commands.py.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("samlabel_tools_run", ROOT / "tools" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_install_runs_only_when_the_project_changed_or_more_is_needed(run):
    fp = run.project_fingerprint()
    assert run.install_needed("app", {}, fp)  # nothing installed yet
    assert run.install_needed("app", {"fingerprint": "old", "modes": ["app", "test"]}, fp)  # pyproject changed
    assert not run.install_needed("app", {"fingerprint": fp, "modes": ["app"]}, fp)
    assert run.install_needed("test", {"fingerprint": fp, "modes": ["app"]}, fp)  # the test tools are missing
    assert not run.install_needed("test", {"fingerprint": fp, "modes": ["app", "test"]}, fp)
    assert not run.install_needed("app", {"fingerprint": fp, "modes": ["app", "test"]}, fp)


def test_the_fingerprint_follows_pyproject(run, monkeypatch, tmp_path):
    for name in ("pyproject.toml", "setup.py"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    monkeypatch.setattr(run, "ROOT", tmp_path)
    before = run.project_fingerprint()
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + "\n# changed\n")
    assert run.project_fingerprint() != before


def test_install_writes_the_stamp_and_skips_next_time(run, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(run, "pip", lambda *args, venv, env=None: calls.append(args + ((env,) if env else ())))
    run.install("app", cpu_torch=False, venv=tmp_path)
    assert calls == [("install", "-e", str(run.ROOT))]
    assert json.loads((tmp_path / run.STAMP_NAME).read_text())["modes"] == ["app"]
    run.install("app", cpu_torch=False, venv=tmp_path)
    assert len(calls) == 1  # reused
    run.install("test", cpu_torch=False, venv=tmp_path)
    assert calls[-2] == ("install", "-e", f"{run.ROOT}[dev]")
    # then Meta's SAM 2 reference, built against that torch and without its CUDA extension
    assert calls[-1] == ("install", "--no-build-isolation", "-e", f"{run.ROOT}[reference-sam2]", {"SAM2_BUILD_CUDA": "0"})
    assert json.loads((tmp_path / run.STAMP_NAME).read_text())["modes"] == ["app", "test"]
    run.install("app", cpu_torch=True, venv=tmp_path)  # asked for: the CPU wheels first, then the project
    assert calls[-2] == ("install", "--index-url", run.CPU_TORCH_INDEX, "torch")
    assert calls[-1] == ("install", "-e", str(run.ROOT))


def test_a_missing_venv_module_names_the_debian_package(run, monkeypatch, tmp_path):
    fake_python = tmp_path / "python3"
    fake_python.write_text("#!/bin/sh\necho 'The virtual environment was not created successfully because ensurepip is not\n"
                           "available.  On Debian/Ubuntu systems, you need to install the python3-venv package' >&2\nexit 1\n")
    fake_python.chmod(0o755)
    monkeypatch.setattr(run.sys, "executable", str(fake_python))
    with pytest.raises(run.SetupError) as raised:
        run.create_venv(tmp_path / "venv")
    message = str(raised.value)
    assert "could not make the virtual environment" in message and str(tmp_path / "venv") in message
    assert f"sudo apt-get install python{sys.version_info.major}.{sys.version_info.minor}-venv" in message
    assert not (tmp_path / "venv").exists()  # nothing half-made left behind


def test_a_broken_venv_is_made_anew(run, monkeypatch, tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("not a python")
    made = []
    monkeypatch.setattr(run.subprocess, "run", lambda cmd, **kw: made.append(cmd) or type("R", (), {"returncode": 0})())
    monkeypatch.setattr(run, "python_works", lambda python: False)
    run.create_venv(venv)
    assert not venv.exists()  # removed before the new one is made (the fake made nothing)
    assert made == [[sys.executable, "-m", "venv", str(venv)]]


def test_what_each_mode_runs(run, tmp_path, monkeypatch):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    command, env = run.command_for("app", ["photos/"], venv=tmp_path)
    assert command == [str(tmp_path / "bin" / "samlabel"), "photos/"]
    assert env["PATH"].startswith(str(tmp_path / "bin")) and env["VIRTUAL_ENV"] == str(tmp_path)
    assert "QT_QPA_PLATFORM" not in env  # the app opens a real window
    command, env = run.command_for("test", ["-m", "not slow"], venv=tmp_path)
    assert command == [str(tmp_path / "bin" / "python"), "-m", "pytest", "-q", "-m", "not slow"]
    assert env["QT_QPA_PLATFORM"] == "offscreen"


def test_too_old_a_python_is_refused_with_a_message(run, monkeypatch, capsys):
    monkeypatch.setattr(run.sys, "version_info", (3, 9, 18))
    assert run.main(["app"]) == 2
    assert "needs Python 3.10 or newer" in capsys.readouterr().err
