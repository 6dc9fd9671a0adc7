"""A run killed (SIGKILL) in the middle, then run again: nothing lost, nothing doubled.

The command runs in a subprocess; the test watches the sidecars (no fixed sleeps) and
kills it once some images are done and others are not. Every sidecar must then be either
untouched or complete (atomic writes), and after the rerun every sidecar must be exactly
what one uninterrupted run writes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autolabel_testing import FACTORY, HERE, make_project

N_IMAGES = 12
KILL_AFTER = 3


def _command(root: Path, weights: str) -> list[str]:
    return [sys.executable, "-m", "samlabel", "autolabel", str(root), "--from", "boxes",
            "--model-factory", FACTORY, "--checkpoint", weights, "--device", "cpu"]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parents[1]), env.get("PYTHONPATH", "")])
    return env


def _done(root: Path) -> list[str]:
    """Images whose sidecar holds auto-labelled shapes (each sidecar is read whole: a
    half-written one would fail to parse here)."""
    done = []
    for sidecar in sorted(root.glob("img*.json")):
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        if any("samlabel_autolabel" in s for s in data["shapes"]):
            done.append(sidecar.name)
    return done


@pytest.mark.slow
def test_kill_then_rerun_finishes_exactly_the_rest(tmp_path, weights):
    from samlabel.annotations.atomic import TEMP_PREFIX

    root = make_project(tmp_path / "killed", n_images=N_IMAGES, boxes_per_image=3)
    clean = tmp_path / "clean"
    shutil.copytree(root, clean)
    originals = {p.name: p.read_bytes() for p in root.glob("*.json")}

    proc = subprocess.Popen(_command(root, weights), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while len(_done(root)) < KILL_AFTER:
            assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
            assert time.monotonic() < deadline, "no progress in 300 s"
            time.sleep(0.01)  # polling interval, not a wait for the outcome
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    done = _done(root)
    assert KILL_AFTER <= len(done) < N_IMAGES, done  # killed in the middle
    for sidecar in root.glob("img*.json"):  # untouched, or complete
        assert sidecar.name in done or sidecar.read_bytes() == originals[sidecar.name]

    rerun = subprocess.run(_command(root, weights), env=_env(), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{N_IMAGES - len(done)} sidecar(s) written" in rerun.stdout, rerun.stdout
    whole = subprocess.run(_command(clean, weights), env=_env(), capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr

    for sidecar in sorted(clean.glob("*.json")):  # exactly what one uninterrupted run writes
        assert (root / sidecar.name).read_bytes() == sidecar.read_bytes(), sidecar.name
    for sidecar in root.glob("img*.json"):
        shapes = json.loads(sidecar.read_text(encoding="utf-8"))["shapes"]
        sources = {s["samlabel_autolabel"]["source"] for s in shapes if "samlabel_autolabel" in s}
        assert len(sources) == 3 and not any(s["shape_type"] == "rectangle" for s in shapes)
    assert not [p.name for p in root.iterdir() if p.name.startswith(TEMP_PREFIX)]
    again = subprocess.run(_command(root, weights), env=_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "0 sidecar(s) written" in again.stdout
