"""The model, document and format layers must never import Qt (DESIGN.md, Layers)."""

from __future__ import annotations

import subprocess
import sys

import pytest

QT_FREE = ["samlabel.sam", "samlabel.annotations", "samlabel.formats", "samlabel.autolabel", "samlabel.video"]


@pytest.mark.parametrize("package", QT_FREE)
def test_layer_imports_no_qt(package):
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'shiboken', 'qtpy')))\n"
        "print(','.join(qt))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{package} pulled in Qt modules: {result.stdout.strip()}"


def test_layering_check_detects_qt():
    """The check above must be able to fail: importing the gui layer does load Qt."""
    code = "import sys, samlabel.gui, PySide6.QtCore; print(any(m.startswith('PySide6') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "True", result.stderr
