"""Settings shared by the whole suite.

Qt runs offscreen, user directories point into a per-session temporary folder so that
no test touches the real home, and torch uses the machine's cores without oversubscribing.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_user_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    old = {k: os.environ.get(k) for k in ("SAMLABEL_CACHE_DIR", "SAMLABEL_CHECKPOINT_DIR", "SAMLABEL_CONFIG_DIR")}
    os.environ["SAMLABEL_CACHE_DIR"] = str(root / "cache")
    os.environ["SAMLABEL_CHECKPOINT_DIR"] = str(root / "checkpoints")
    os.environ["SAMLABEL_CONFIG_DIR"] = str(root / "config")
    yield root
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
