"""OpenMP settings for an interactive app, applied before torch loads its OpenMP runtime.

``GOMP_SPINCOUNT`` is how long GNU OpenMP's worker threads (libgomp, which PyTorch's Linux
wheels use) spin after a parallel region before they sleep. libgomp's default, 300000
spins (a few milliseconds), suits batch jobs. In the app the decoder's ~300 ops follow each
other within microseconds, so a tenth of that keeps its team awake through a decode; between
hover events the threads then sleep instead of competing with the UI thread and OpenCV's
threads for the cores. In the real window this trims the hover latency's tail (its p95) more
than its median (figures: docs/performance.md, "`GOMP_SPINCOUNT=30000`").

libgomp reads its environment once, when torch is first imported, so
:func:`configure_openmp_env` must run before that. The app's entry point
(``samlabel.cli.main``) calls it first. It never overrides a value the user set, and does
nothing for other OpenMP runtimes. This module must not import torch.
"""

from __future__ import annotations

import os
import sys
from typing import MutableMapping, Optional

DEFAULT_GOMP_SPINCOUNT = "30000"


def configure_openmp_env(
    environ: Optional[MutableMapping[str, str]] = None, modules: Optional[dict] = None
) -> bool:
    """Set ``GOMP_SPINCOUNT`` for interactive use. True if it was set by this call.

    Does nothing when torch is already imported (too late: libgomp has read its
    environment), or when the user chose ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` already.
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if "torch" in modules:
        return False
    if "GOMP_SPINCOUNT" in environ or "OMP_WAIT_POLICY" in environ:
        return False
    environ["GOMP_SPINCOUNT"] = DEFAULT_GOMP_SPINCOUNT
    return True
