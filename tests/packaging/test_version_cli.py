"""``samlabel --version`` prints the package version, quickly and without Qt or torch."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def test_module_version_matches_pyproject():
    out = subprocess.run([sys.executable, "-m", "samlabel", "--version"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == f"samlabel {_project_version()}"


def test_version_does_not_import_qt_or_torch():
    code = ("import sys; from samlabel.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit as e:\n    assert e.code in (0, None)\n"
            "print(sorted(m for m in ('PySide6', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_installed_console_script_prints_the_version():
    script = shutil.which("samlabel") or str(Path(sys.executable).parent / "samlabel")
    result = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"samlabel \d+\.\d+\.\d+\S*", result.stdout.strip())
    assert result.stdout.strip() == f"samlabel {_project_version()}"
