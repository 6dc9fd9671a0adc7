"""Where samlabel finds its bundled resources and keeps its user files.

Resources live in the top-level ``resources/`` folder of the source tree and are
installed as the ``samlabel.resources`` package data in wheels and frozen builds.
User directories come from platformdirs and can be overridden by environment
variables, which the tests use to stay out of the real home directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "samlabel"


def resources_dir() -> Path:
    """The folder holding icons, the sample image and the default label set."""
    candidates = []
    frozen_root = getattr(sys, "_MEIPASS", None)  # PyInstaller bundle
    if frozen_root:
        candidates.append(Path(frozen_root) / "samlabel" / "resources")
    here = Path(__file__).resolve().parent
    candidates.append(here / "resources")  # installed wheel
    candidates.append(here.parent / "resources")  # source checkout
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "samlabel's resources folder is missing; looked in: "
        + ", ".join(str(c) for c in candidates)
    )


def resource_path(*parts: str) -> Path:
    """Path of one bundled resource, e.g. ``resource_path("sample", "street.jpg")``."""
    return resources_dir().joinpath(*parts)


def cache_dir() -> Path:
    """User cache (checkpoints, embeddings). ``SAMLABEL_CACHE_DIR`` overrides it."""
    override = os.environ.get("SAMLABEL_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir(APP_NAME))


def checkpoint_dir() -> Path:
    """Where downloaded checkpoints go. ``SAMLABEL_CHECKPOINT_DIR`` overrides it."""
    override = os.environ.get("SAMLABEL_CHECKPOINT_DIR")
    return Path(override) if override else cache_dir() / "checkpoints"


def sample_copy_dir() -> Path:
    """Where the bundled sample image is copied to be annotated (its sidecar is saved there)."""
    return cache_dir() / "sample"


def embedding_cache_dir() -> Path:
    """On-disk cache of image embeddings."""
    return cache_dir() / "embeddings"
