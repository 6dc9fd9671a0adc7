"""Build the sdist and wheel, install the wheel into a fresh virtual environment and run
``samlabel`` from there, outside the source tree: nothing may depend on the checkout.

The test must work from whatever environment runs it (a venv, the system Python, conda).
A venv made with ``--system-site-packages`` would see the *base interpreter's* packages,
not those of a venv the tests run in, so instead the new venv is isolated and a ``.pth``
file in it names the running environment's site-packages folders: torch, PySide6, ... are
reused (``--no-deps``: nothing is downloaded), after the venv's own site-packages. Folders
named in a ``.pth`` file have their own ``.pth`` files ignored, so an editable install of
samlabel there cannot shadow the wheel; the test checks which copy imports anyway.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "io.github.samlabel.SamLabel"
# Not part of a source distribution (ignored by git, or too big to copy for nothing).
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                              ".whl", ".gl", ".agents", ".benchmarks", "screenshots", "*.part")

pytestmark = pytest.mark.slow


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def _running_site_dirs() -> list[Path]:
    """The site-packages folders of the environment running the tests, never the source tree."""
    import site

    candidates = [*site.getsitepackages(), site.getusersitepackages(), *sys.path]
    dirs: list[Path] = []
    for entry in candidates:
        path = Path(entry).resolve() if entry else None
        # only folders named site-packages/dist-packages: the source tree on sys.path is never one
        if path is not None and path.is_dir() and path.name in ("site-packages", "dist-packages") and path not in dirs:
            dirs.append(path)
    return dirs


def test_running_site_dirs_name_where_the_dependencies_are():
    import torch

    dirs = _running_site_dirs()
    assert any(Path(torch.__file__).resolve().is_relative_to(d) for d in dirs), (torch.__file__, dirs)
    assert ROOT.resolve() not in dirs and (ROOT / "samlabel").resolve() not in dirs


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(venv_bin, env, cwd, dist_dir)`` of a venv with the freshly built wheel installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    dist = tmp / "dist"
    # --no-isolation: build with the installed setuptools instead of downloading one.
    _run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", dist, src])
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv])
    bin_dir = venv / "bin"
    venv_site = Path(_run([bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (venv_site / "zz_running_environment.pth").write_text("\n".join(str(p) for p in _running_site_dirs()) + "\n")
    wheel = next(dist.glob("samlabel-*.whl"))
    _run([bin_dir / "python", "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", wheel])
    cwd = tmp / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        QT_QPA_PLATFORM="offscreen",
        SAMLABEL_CACHE_DIR=str(tmp / "user" / "cache"),  # no downloaded checkpoint: the tiny model
        SAMLABEL_CHECKPOINT_DIR=str(tmp / "user" / "checkpoints"),
        SAMLABEL_CONFIG_DIR=str(tmp / "user" / "config"),
    )
    return bin_dir, env, cwd, dist


def test_wheel_and_sdist_carry_the_resources(installed):
    _, _, _, dist = installed
    with zipfile.ZipFile(next(dist.glob("samlabel-*.whl"))) as whl:
        names = set(whl.namelist())
    expected = {
        "samlabel/resources/sample/coffee.jpg",
        "samlabel/resources/labels.txt",
        f"samlabel/resources/icons/hicolor/256x256/apps/{APP_ID}.png",
        f"samlabel/resources/icons/hicolor/scalable/apps/{APP_ID}.svg",
        "samlabel/gui/smoke.py",
        "samlabel/cli.py",
    }
    assert expected <= names, sorted(expected - names)
    assert not any(n.startswith("tests/") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(next(dist.glob("samlabel-*.whl"))) as whl:
        text = whl.read(entry_points).decode()
    assert "samlabel = samlabel.cli:main" in text and "samlabel-gui = samlabel.cli:gui_main" in text
    with tarfile.open(next(dist.glob("samlabel-*.tar.gz"))) as sdist:
        members = {m.split("/", 1)[1] for m in sdist.getnames() if "/" in m}
    assert {"resources/sample/coffee.jpg", "setup.py", "MANIFEST.in", f"packaging/{APP_ID}.desktop"} <= members


def test_installed_package_comes_from_the_venv_not_the_source_tree(installed):
    bin_dir, env, cwd, _ = installed
    out = _run([bin_dir / "python", "-c",
                "import samlabel, samlabel.paths; print(samlabel.__file__); print(samlabel.paths.resources_dir())"],
               env=env, cwd=cwd).stdout.split("\n")
    venv = bin_dir.parent.resolve()
    module_file, resources = Path(out[0]).resolve(), Path(out[1]).resolve()
    assert module_file.is_relative_to(venv), module_file
    assert resources.is_relative_to(venv) and resources.name == "resources", resources
    assert not module_file.is_relative_to(ROOT.resolve())


def test_installed_console_script_prints_the_version(installed):
    bin_dir, env, cwd, _ = installed
    from samlabel import __version__

    out = _run([bin_dir / "samlabel", "--version"], env=env, cwd=cwd).stdout
    assert out.strip() == f"samlabel {__version__}"


def test_installed_smoke_test_passes(installed):
    bin_dir, env, cwd, _ = installed
    result = subprocess.run([str(bin_dir / "samlabel"), "--smoke-test"], capture_output=True, text=True,
                            env={**env, "SAMLABEL_SMOKE_TIMEOUT": "120"}, cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    venv = str(bin_dir.parent)
    assert f"ok: sample image {venv}" in result.stdout  # the wheel's own copy of the sample
    assert "ok: model test_tiny" in result.stdout and "ok: prediction in" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("smoke test passed")
