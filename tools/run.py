#!/usr/bin/env python3
"""Set up samlabel in a project-local virtual environment, then start the app or run the tests.

    python3 tools/run.py app [SAMLABEL_ARGS...]    # the app on the bundled sample (or on SAMLABEL_ARGS)
    python3 tools/run.py test [PYTEST_ARGS...]     # the whole test suite
    python3 tools/run.py --cpu-torch app           # first take PyTorch's CPU-only wheels (no CUDA libraries)

Both make ``.venv`` beside this checkout's ``pyproject.toml`` on the first run (or reuse it),
install samlabel into it (``app``: what the app needs; ``test``: plus the test tools and the
reference implementations the tests compare against), and skip the install next time unless
``pyproject.toml`` or ``setup.py`` changed. Nothing touches the system interpreter, so PEP 668
("externally-managed-environment") never applies. Needs only Python 3.10+ and its ``venv``
module; uses the standard library alone, since it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("SAMLABEL_VENV", ROOT / ".venv"))
STAMP_NAME = "samlabel-setup.json"
MIN_PYTHON = (3, 10)
# PyTorch's own index of CPU-only wheels: no CUDA libraries (about 3 GB less on Linux).
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
EXTRAS = {"app": "", "test": "[dev]"}
# Meta's SAM 2 reference (tests only) builds a CUDA extension unless told not to, and must be
# built against the torch already installed (no isolated build environment with its own torch).
SAM2_EXTRA = "[reference-sam2]"
SAM2_ENV = {"SAM2_BUILD_CUDA": "0"}


class SetupError(Exception):
    """A set-up step failed; the message says which and what to do."""


def say(message: str) -> None:
    print(f"samlabel setup: {message}", file=sys.stderr, flush=True)


def venv_python(venv: Path = VENV) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def venv_script(name: str, venv: Path = VENV) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def project_fingerprint() -> str:
    """What decides the installed dependencies: a change to either file means reinstalling."""
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "setup.py"):
        path = ROOT / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return digest.hexdigest()


def read_stamp(venv: Path = VENV) -> dict:
    try:
        stamp = json.loads((venv / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def install_needed(mode: str, stamp: dict, fingerprint: str) -> bool:
    """Whether ``mode`` needs a pip install: the project changed, or it needs more than is installed."""
    if stamp.get("fingerprint") != fingerprint:
        return True
    return mode == "test" and "test" not in stamp.get("modes", [])


def python_works(python: Path) -> bool:
    if not python.exists():
        return False
    try:
        return subprocess.run([str(python), "-c", "import sys, venv"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def create_venv(venv: Path = VENV) -> None:
    if python_works(venv_python(venv)):
        return
    if venv.exists():
        say(f"{venv} is not a working virtual environment (its Python is missing or broken); making it anew")
        shutil.rmtree(venv)
    say(f"making the virtual environment {venv}")
    result = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        shutil.rmtree(venv, ignore_errors=True)
        hint = ""
        if "ensurepip" in detail or "venv" in detail:
            version = f"{sys.version_info.major}.{sys.version_info.minor}"
            hint = (f"\nOn Debian/Ubuntu the venv module is a separate package: "
                    f"sudo apt-get install python{version}-venv  (or python3-venv)")
        raise SetupError(f"could not make the virtual environment {venv}:\n{detail}{hint}")


def pip(*args: str, venv: Path = VENV, env: dict | None = None) -> None:
    command = [str(venv_python(venv)), "-m", "pip", *args]
    say("running " + " ".join(command[1:]))
    if subprocess.run(command, env={**os.environ, **env} if env else None).returncode != 0:
        raise SetupError(f"'{' '.join(command[1:])}' failed (see pip's message above); nothing else was changed")


def install(mode: str, cpu_torch: bool, venv: Path = VENV) -> None:
    """Install samlabel (editable) with what ``mode`` needs, unless the stamp says it is there."""
    fingerprint = project_fingerprint()
    stamp = read_stamp(venv)
    if not cpu_torch and not install_needed(mode, stamp, fingerprint):
        return
    if cpu_torch:
        # Taken first, so the project install below finds torch satisfied and keeps the CPU build.
        pip("install", "--index-url", CPU_TORCH_INDEX, "torch", *(["torchvision"] if mode == "test" else []), venv=venv)
    say("installing samlabel and its dependencies" + (" with the test tools" if mode == "test" else "")
        + " (the first time takes several minutes: PyTorch is large)")
    pip("install", "-e", f"{ROOT}{EXTRAS[mode]}", venv=venv)
    if mode == "test":
        pip("install", "--no-build-isolation", "-e", f"{ROOT}{SAM2_EXTRA}", venv=venv, env=SAM2_ENV)
    modes = set(stamp.get("modes", [])) if stamp.get("fingerprint") == fingerprint else set()
    modes.add(mode)
    if mode == "test":
        modes.add("app")  # the test install is a superset
    (venv / STAMP_NAME).write_text(json.dumps({"fingerprint": fingerprint, "modes": sorted(modes)}))


def command_for(mode: str, extra: list[str], venv: Path = VENV) -> tuple[list[str], dict[str, str]]:
    """The command (and environment) that ``mode`` runs once the venv is ready."""
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv_python(venv).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONHOME", None)
    if mode == "app":
        return [str(venv_script("samlabel", venv)), *extra], env
    # The GUI tests drive real windows without a screen.
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return [str(venv_python(venv)), "-m", "pytest", "-q", *extra], env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 tools/run.py",
        description="Set up samlabel in .venv (made or reused), then start the app or run the test suite.",
    )
    parser.add_argument("--cpu-torch", action="store_true",
                        help=f"install PyTorch's CPU-only wheels from {CPU_TORCH_INDEX} first (no CUDA libraries)")
    parser.add_argument("--setup-only", action="store_true", help="set up .venv and stop")
    parser.add_argument("mode", choices=sorted(EXTRAS), help="app: start samlabel; test: run the test suite")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="passed on to samlabel (app) or pytest (test)")
    args = parser.parse_args(argv)
    if sys.version_info < MIN_PYTHON:
        say(f"samlabel needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is {sys.version.split()[0]}")
        return 2
    try:
        create_venv()
        install(args.mode, args.cpu_torch)
    except SetupError as exc:
        say(str(exc))
        return 1
    if args.setup_only:
        return 0
    command, env = command_for(args.mode, args.args)
    sys.stdout.flush()
    sys.stderr.flush()
    # The app or pytest replaces this process: its exit code and Ctrl+C are the user's.
    if os.name == "nt":
        return subprocess.run(command, env=env).returncode
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
