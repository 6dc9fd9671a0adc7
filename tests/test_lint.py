"""ruff and the import contracts (pyproject.toml's [tool.ruff] and [tool.importlinter]) pass over the tree.

The contracts: the layers gui > autolabel > formats > annotations > sam, no Qt below the GUI, and the plain
model (``samlabel.sam.modeling``) imports no fast path.
Each check is also shown to fail on a planted violation, so a passing run means something.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(args, cwd=ROOT, **kw):
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, **kw)


def test_ruff_finds_nothing():
    result = _run([sys.executable, "-m", "ruff", "check", "--no-cache", "samlabel", "tests", "tools", "benchmarks"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_with_our_settings_catches_an_unused_import(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("import os\n\n\ndef f(x=[]):\n    return x\n")
    result = _run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config", ROOT / "pyproject.toml", planted])
    assert result.returncode == 1 and "F401" in result.stdout and "B006" in result.stdout, result.stdout


def test_import_contracts_hold():
    result = _run([BIN / "lint-imports", "--no-cache"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    "importer,imported",
    [("sam.model", "gui.window"), ("sam.modeling.transformer", "sam.fast.attention"), ("gui.workspace", "PySide6")],
    ids=["model-imports-gui", "plain-model-imports-fast-path", "workspace-imports-qt"],
)
def test_import_contracts_catch_a_planted_violation(tmp_path, importer, imported):
    package = tmp_path / "fakelabel"
    for folder in ("gui", "autolabel", "video", "formats", "annotations", "sam", "sam/modeling", "sam/fast"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    for module in ("__init__", "paths", "path_kinds", "ray_support", "sam/compute_path", "sam/interactive", "sam/predictor",
                   "gui/window", "gui/workspace", "gui/workspace_save", "gui/label_state", "gui/save_location", "gui/timeline_model",
                   "sam/fast/attention",
                   "sam/model", "sam/modeling/transformer"):
        (package / f"{module}.py").write_text("")  # the modules the contracts name, and the two ends
    target = imported if imported == "PySide6" else f"fakelabel.{imported}"  # an external package, or ours
    (package / (importer.replace(".", "/") + ".py")).write_text(f"from {target} import x  # noqa\n")
    import tomllib

    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (tmp_path / ".importlinter").write_text(_as_ini(ours).replace("samlabel", "fakelabel"))
    result = _run([BIN / "lint-imports", "--no-cache", tmp_path / ".importlinter"], cwd=tmp_path,
                  env={"PYTHONPATH": str(tmp_path), "PATH": str(BIN)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and f"fakelabel.{importer} -> {target}" in result.stdout, result.stdout


def _as_ini(data: dict) -> str:
    """pyproject's [tool.importlinter] table in the INI form lint-imports also reads."""
    lines = ["[importlinter]", f"root_package = {data['root_package']}",
             f"include_external_packages = {data['include_external_packages']}"]
    for i, contract in enumerate(data["contracts"]):
        lines.append(f"\n[importlinter:contract:{i}]")
        for key, value in contract.items():
            if isinstance(value, list):
                lines.append(f"{key} =\n" + "\n".join(f"    {v}" for v in value))
            else:
                lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"
