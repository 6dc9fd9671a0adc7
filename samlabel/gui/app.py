"""Starting the desktop app.

``run_app(path, model, checkpoint, device)`` is what ``samlabel`` (``samlabel.cli``) calls:
it creates the ``QApplication``, the main window, opens ``path`` (or the bundled sample
image) and loads the SAM model in a background thread, so the window is usable at once.

``create_main_window(...)`` builds the same window without running the event loop; tests
and the smoke test use it, injecting an already-built model with ``sam_model=``.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

log = logging.getLogger(__name__)

APP_NAME = "samlabel"
ORG_NAME = "samlabel"
DESKTOP_ID = "io.github.samlabel.SamLabel"


def _ensure_app():
    from PySide6.QtGui import QImageReader
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationDisplayName(APP_NAME)
    # The freedesktop id of packaging/*.desktop: lets Wayland compositors match the window
    # to its desktop entry and icon.
    app.setDesktopFileName(DESKTOP_ID)
    # Icons and any image Qt reads itself: no 256 MB cap (the canvas converts from numpy anyway).
    QImageReader.setAllocationLimit(0)
    return app


def default_image() -> Path | None:
    try:
        from samlabel.paths import resource_path

        sample = resource_path("sample", "coffee.jpg")
    except FileNotFoundError:
        return None
    if not sample.is_file():
        return None
    # work on a copy: the sidecar JSON must not be written into the installation (the window
    # shows where it goes: samlabel.gui.save_location)
    from samlabel.paths import sample_copy_dir

    copy = sample_copy_dir() / sample.name
    try:
        if not copy.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sample, copy)
        return copy
    except OSError:
        return sample


def create_main_window(path=None, model_name=None, checkpoint=None, device=None, sam_model=None, settings=None,
                       quantize=None, image_in_folder=False, engine=None):
    """Build (and return, not show) the main window.

    Args:
        path: image or folder to open (None: nothing; ``run_app`` passes the sample).
        model_name, checkpoint, device: which SAM model to load (see ``model_manager``).
        sam_model: an already-built model to use instead of loading one (tests, smoke test).
        quantize: the image encoder's precision on the CPU, "bf16", "int8" or "auto" (see
            ``samlabel.sam.fast.precision``); None or "fp32": fp32.
        engine: what runs the image encoder, "torch", "openvino" or "auto" (default: OpenVINO
            for bf16 and int8 where it is installed; ``samlabel.sam.fast.encoder_choice``).
        settings: an ``AppSettings`` (default: the user's settings file).
        image_in_folder: an image ``path`` opens inside its folder (D / A move through the
            folder's images), still showing that image first; ``samlabel IMAGE`` does this.
    """
    _ensure_app()
    from samlabel.gui.main_window import MainWindow
    from samlabel.gui.model_manager import ModelChoice, choose_model
    from samlabel.gui.settings import AppSettings

    if settings is None:
        settings = AppSettings()
    if sam_model is not None:
        dev = str(getattr(sam_model, "device", device or "cpu"))
        name = getattr(sam_model, "model_id", "model").split(":")[0]
        choice = ModelChoice(name, Path("<injected>"), dev, f"Model {name}")
    else:
        choice = choose_model(model_name, checkpoint, device, saved_model=settings.model_name, quantize=quantize,
                              engine=engine)
        if model_name:
            settings.model_name = model_name  # the next start uses it too
    window = MainWindow(settings=settings, model_choice=choice)
    settings.restore_window(window)
    if path is not None:
        window.open_path(path, in_folder=image_in_folder)
    if sam_model is not None:
        window.set_model(sam_model)
    elif choice.available:
        window.load_model(choice)
    return window


def run_app(path=None, model=None, checkpoint=None, device=None, quantize=None, engine=None) -> int:
    """Run the GUI until the window closes; returns the exit code (3: Qt cannot start here)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from samlabel.gui.qt_platform import check_platform, no_display_message

    # before Qt loads: name the missing system libraries instead of Qt's generic abort
    problem = check_platform()
    if problem is not None:
        print(problem.message(), file=sys.stderr)
        return 3
    message = no_display_message(os.environ)
    if message is not None:
        print(message, file=sys.stderr)
        return 3
    from samlabel.sam.runtime.cpu import configure_allocator

    # large freed tensors kept in the heap (see docs/performance.md); torch's threads are set
    # when a model loads (ModelLoader), so a window without a model never imports torch
    configure_allocator()
    app = _ensure_app()
    if path is None:
        path = default_image()
    else:
        from samlabel.path_kinds import path_problem

        problem = path_problem(path, "file or folder")  # a named pipe is refused, not opened
        if problem is not None:
            print(f"samlabel: {path}: {problem}", file=sys.stderr)
            return 2
    from samlabel.gui.main_thread_gc import MainThreadGC

    # Qt objects in garbage cycles must be finalised on the UI thread, not in a worker that
    # happens to trigger a collection (see main_thread_gc)
    collector = MainThreadGC(parent=app).install()
    window = create_main_window(path=path, model_name=model, checkpoint=checkpoint, device=device, quantize=quantize,
                                image_in_folder=True, engine=engine)
    window.show()
    code = app.exec()
    window.shutdown()
    collector.uninstall()
    return int(code)
