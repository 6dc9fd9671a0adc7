"""Settings shared by the whole suite.

Qt runs offscreen, user directories point into a per-session temporary folder so that
no test touches the real home, and torch uses the machine's cores without oversubscribing.
"""

from __future__ import annotations

import gc
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """Tests that drive Qt (qtbot) run without automatic garbage collection, as the app does
    (``samlabel.gui.main_thread_gc``): otherwise a worker thread allocating (the model loader,
    the encoder) can start a collection that finalises earlier tests' windows from that
    thread, which crashes Qt (a segfault in ``QObject::event`` about one full run in two).
    Their garbage is collected on the main thread once the test's widgets are closed
    (``pytest_runtest_teardown`` below)."""
    if "qtbot" in getattr(item, "fixturenames", ()) and gc.isenabled():
        gc.disable()
        item._samlabel_enable_gc = True
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield  # the fixtures (qtbot closes and deletes the widgets, make_window stops the workers)
    if getattr(item, "_samlabel_enable_gc", False):
        from PySide6.QtCore import QCoreApplication, QEvent

        if QCoreApplication.instance() is not None:
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
        gc.enable()


@pytest.fixture(scope="session", params=["fast", "plain"])
def compute_path(request):
    """Both computation paths (``samlabel.sam.compute_path``): the equivalence tests take this
    fixture, so the plain, reference-shaped path and the fast one are each held to the reference."""
    return request.param
