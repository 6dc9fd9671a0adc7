"""Fixtures for the main-window tests: the tiny random SAM model and a small image folder."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def tiny_model():
    from samlabel.sam.build import build_sam

    return build_sam("test_tiny")


@pytest.fixture
def image_folder(tmp_path):
    """Two images of different sizes (so an embedding cannot fit the wrong one)."""
    folder = tmp_path / "project"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w), tag in (("a.png", (160, 240), 10), ("b.png", (150, 200), 20)):
        img = (rng.random((h, w, 3)) * 60 + 90).astype(np.uint8)
        img[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = (200, 40, 40)
        img[0, 0] = tag
        Image.fromarray(img).save(folder / name)
    return folder


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch):
    """``make_window(path, sam_model=..., **kw)`` -> a shown MainWindow, shut down afterwards.

    Each test gets its own embedding cache folder, so the encoder really runs.
    """
    monkeypatch.setenv("SAMLABEL_CACHE_DIR", str(tmp_path / "cache"))
    from samlabel.gui.app import create_main_window
    from samlabel.gui.settings import AppSettings

    windows = []

    def make(path=None, before_model=None, **kw):
        settings = AppSettings(tmp_path / "settings.ini")
        model = kw.pop("sam_model", None)
        win = create_main_window(path=path, settings=settings, **kw)
        qtbot.addWidget(win)
        if before_model is not None:
            before_model(win)
        if model is not None:
            win.set_model(model)
        win.resize(900, 650)
        win.show()
        qtbot.waitExposed(win)
        win.activateWindow()
        qtbot.waitUntil(win.isActiveWindow, timeout=5000)  # window shortcuts need an active window
        win.canvas.setFocus()
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.shutdown()
