"""samlabel.sam.runtime.openmp_env: GOMP_SPINCOUNT for the app, set only when it can still take effect."""

from __future__ import annotations

import subprocess
import sys

from samlabel.sam.runtime.openmp_env import DEFAULT_GOMP_SPINCOUNT, configure_openmp_env


def test_sets_the_spin_count_before_torch_is_imported():
    env: dict = {}
    assert configure_openmp_env(env, modules={}) is True
    assert env == {"GOMP_SPINCOUNT": DEFAULT_GOMP_SPINCOUNT}


def test_never_overrides_the_users_choice():
    for chosen in ({"GOMP_SPINCOUNT": "7"}, {"OMP_WAIT_POLICY": "ACTIVE"}):
        env = dict(chosen)
        assert configure_openmp_env(env, modules={}) is False
        assert env == chosen


def test_does_nothing_once_torch_is_loaded():
    env: dict = {}
    assert configure_openmp_env(env, modules={"torch": object()}) is False
    assert env == {}


def test_the_module_itself_does_not_import_torch():
    """It must be importable first thing, before torch (a fresh interpreter checks)."""
    code = (
        "import sys; from samlabel.sam.runtime.openmp_env import configure_openmp_env; "
        "ok = configure_openmp_env(); print(ok, 'torch' in sys.modules)"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["True", "False"]
