"""Datumaro in a venv of its own, for tests/formats/test_fmt_datumaro.py.

``datumaro==1.13.12`` pins ``pillow~=12`` and ``opencv-python<5`` while samlabel's venv has
Pillow 13 and ``opencv-python-headless`` 5 (two ``cv2`` distributions would overwrite each
other), so it cannot be installed beside samlabel. :func:`datumaro_python` makes (once, with
``python -m venv`` and pip) or reuses ``<repo>/.venv-datumaro``; a stamp file naming the
version makes later runs skip pip. :func:`run_side` runs ``datumaro_side.py`` there with a
JSON request and returns its JSON answer. Either failing is a pytest failure that shows
pip's or Datumaro's own output.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DATUMARO = "datumaro==1.13.12"
REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("SAMLABEL_DATUMARO_VENV", REPO / ".venv-datumaro"))
STAMP = VENV / ".samlabel-installed"
SIDE = Path(__file__).with_name("datumaro_side.py")


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(command: list[str], what: str, timeout: float) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} took over {timeout:.0f} s: {' '.join(command)}", pytrace=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-4000:]
        pytest.fail(f"{what} failed (exit {done.returncode}): {' '.join(command)}\n{tail}", pytrace=False)


def datumaro_python() -> Path:
    """The interpreter of a venv with ``DATUMARO`` installed, made on first use."""
    if STAMP.is_file() and STAMP.read_text().strip() == DATUMARO and _python().is_file():
        return _python()
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / ".venv-datumaro.lock", "w") as lock:  # pytest-xdist workers wait for one install
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (STAMP.is_file() and STAMP.read_text().strip() == DATUMARO and _python().is_file()):
            if not _python().is_file():
                _run([sys.executable, "-m", "venv", str(VENV)], f"making the Datumaro venv {VENV}", 300)
            _run(
                [str(_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q", DATUMARO],
                f"installing {DATUMARO} into {VENV} (it needs the package index)",
                1200,
            )
            STAMP.write_text(DATUMARO + "\n")
    return _python()


def run_side(request: dict, timeout: float = 600) -> dict:
    """``datumaro_side.py``'s JSON answer to ``request`` (see that script)."""
    command = [str(datumaro_python()), str(SIDE)]
    try:
        done = subprocess.run(command, input=json.dumps(request), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Datumaro took over {timeout:.0f} s for {request['op']} {request['format']}", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"Datumaro failed on {request['op']} {request['format']} (exit {done.returncode}):\n{done.stderr[-4000:]}", pytrace=False)
    return json.loads(done.stdout)


__all__ = ["DATUMARO", "VENV", "datumaro_python", "run_side"]
