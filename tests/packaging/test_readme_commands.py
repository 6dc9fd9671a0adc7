"""The README's two set-up commands, as a new user types them, and ``.ci/run`` running them.

The fast tests read README.md and ``.ci/run``: the README opens with what samlabel is, then
exactly two commands (the app, the suite), and CI runs those same commands. The slow test
copies the repository's files (what a clone has: tracked and not-ignored files, so a
dependence on something git ignores shows up) into a throwaway folder and runs both
commands there with the machine's ``python3``, outside any virtual environment: each must
make the folder's own ``.venv``, the app command must start samlabel from it (offscreen,
``--smoke-test`` appended so it ends by itself) and the test command must run pytest from it
(on one test file appended, so the suite does not run itself recursively).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_setup_commands(text: str) -> list[str]:
    """The commands of the first ```bash block under the README's first ``##`` heading."""
    first_section = re.search(r"^## .*?(?=^## |\Z)", text, flags=re.S | re.M)
    assert first_section, "README.md has no ## section"
    block = re.search(r"^```bash\n(.*?)^```", first_section.group(0), flags=re.S | re.M)
    assert block, f"no ```bash block in the README's first section {first_section.group(0)[:60]!r}"
    commands = []
    for line in block.group(1).splitlines():
        command = line.split("#", 1)[0].strip()
        if command:
            commands.append(command)
    return commands


def ci_commands(text: str) -> list[str]:
    """The commands ``.ci/run`` runs, without comments, ``set`` lines and environment prefixes."""
    commands = []
    for line in text.splitlines():
        command = line.split("#", 1)[0].strip()
        if not command or command.startswith(("set ", "cd ")):
            continue
        words = shlex.split(command)
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            words.pop(0)
        commands.append(" ".join(words))
    return commands


def test_readme_opens_with_what_samlabel_is_then_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    head, _, _ = text.partition("\n## ")
    assert head.startswith("# samlabel\n")
    assert "labelling images with masks and polygons" in head  # what it is, before any command
    assert "```" not in head
    commands = readme_setup_commands(text)
    assert commands == ["python3 tools/run.py app", "python3 tools/run.py test"], commands


def test_ci_runs_the_readme_commands_after_the_named_system_package_script():
    readme = (ROOT / "README.md").read_text()
    ci = ci_commands((ROOT / ".ci" / "run").read_text())
    app, suite = readme_setup_commands(readme)
    script = "tools/install-system-packages.sh"
    assert script in readme  # the README names the script CI uses
    system = next(i for i, c in enumerate(ci) if script in c)
    # the app command may only gain --smoke-test (CI has no one to close the window)
    runs_app = [i for i, c in enumerate(ci) if c in (app, f"{app} --smoke-test")]
    runs_suite = [i for i, c in enumerate(ci) if c == suite]
    assert runs_app and runs_suite, ci
    assert system < runs_app[0] < runs_suite[0]
    # nothing else installs Python packages behind the README's back
    assert not any("pip" in c for c in ci), ci


def test_the_readme_commands_parse_as_the_first_block_only():
    text = "# samlabel\n\nA tool.\n\n## Set up\n\n```bash\npython3 a.py x  # one\n\npython3 a.py y\n```\n\n```bash\nno\n```\n## Next\n```bash\nnot this\n```\n"
    assert readme_setup_commands(text) == ["python3 a.py x", "python3 a.py y"]
    assert ci_commands("set -e\n# c\nQT_QPA_PLATFORM=offscreen python3 a.py x --smoke-test\n") == [
        "python3 a.py x --smoke-test"]


def _clone_files(destination: Path) -> int:
    """Copy the files a clone of this checkout would have (tracked or not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    count = 0
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():  # listed but deleted in the work tree: a clone would not have it either
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            count += 1
    return count


def _outside_any_venv() -> dict[str, str]:
    """This environment minus whatever virtual environment runs the tests: a new user's shell."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    venv_bin = str(Path(sys.prefix) / "bin") if sys.prefix != sys.base_prefix else None
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    return env


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the repository's files")
def test_readme_commands_work_in_a_throwaway_clone(tmp_path):
    clone = tmp_path / "clone"
    assert _clone_files(clone) > 50
    assert not (clone / ".venv").exists()
    env = _outside_any_venv()
    python3 = shutil.which("python3", path=env["PATH"])
    assert python3 is not None
    user = tmp_path / "user"
    env.update(QT_QPA_PLATFORM="offscreen", SAMLABEL_SMOKE_TIMEOUT="300",
               SAMLABEL_CACHE_DIR=str(user / "cache"), SAMLABEL_CHECKPOINT_DIR=str(user / "checkpoints"),
               SAMLABEL_CONFIG_DIR=str(user / "config"))
    env.pop("SAMLABEL_VENV", None)
    app, suite = readme_setup_commands((clone / "README.md").read_text())

    started = subprocess.run(shlex.split(app) + ["--smoke-test"], cwd=clone, env=env, capture_output=True,
                             text=True, timeout=1500)
    assert started.returncode == 0, started.stdout[-4000:] + started.stderr[-4000:]
    venv = clone / ".venv"
    assert (venv / "bin" / "samlabel").is_file()
    assert json.loads((venv / "samlabel-setup.json").read_text())["modes"] == ["app"]
    assert started.stdout.rstrip().splitlines()[-1].startswith("smoke test passed")
    # the sample came from the clone: samlabel ran from its own venv's editable install
    assert f"ok: sample image {clone}" in started.stdout, started.stdout
    # a user install: neither the test tools nor the reference implementations
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import importlib.util as u; print([m for m in ('pytest', 'segment_anything', 'torchvision') if u.find_spec(m)])"],
                           capture_output=True, text=True, env=env)
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr

    ran = subprocess.run(shlex.split(suite) + ["tests/test_layering.py"], cwd=clone, env=env,
                         capture_output=True, text=True, timeout=1500)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]
    assert re.search(r"^\d+ passed", ran.stdout.strip().splitlines()[-1]), ran.stdout[-2000:]
    assert "test" in json.loads((venv / "samlabel-setup.json").read_text())["modes"]
    # the second run of the app command reuses the venv: no pip this time
    again = subprocess.run(shlex.split(app) + ["--version"], cwd=clone, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0 and again.stdout.startswith("samlabel "), again.stdout + again.stderr
    assert "running -m pip" not in again.stderr
