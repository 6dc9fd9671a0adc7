"""Settings persist in an INI file, never the real user settings."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow
from PySide6.QtCore import Qt

from samlabel.gui.settings import AppSettings, default_settings_path


def test_default_location_follows_the_config_dir_env():
    assert default_settings_path().parent == Path(os.environ["SAMLABEL_CONFIG_DIR"])


def test_defaults_when_nothing_is_stored(tmp_path):
    s = AppSettings(tmp_path / "s.ini")
    assert s.last_folder is None
    assert s.model_name is None
    assert s.checkpoint_path is None
    assert s.refine is True
    assert 0.0 < s.overlay_opacity < 1.0
    assert s.simplify_tolerance >= 0.0
    assert s.export_format == "coco"
    assert s.window_geometry is None and s.window_state is None


def test_round_trip_through_the_file(tmp_path):
    path = tmp_path / "s.ini"
    s = AppSettings(path)
    s.last_folder = tmp_path / "images"
    s.model_name = "vit_b"
    s.checkpoint_path = "/models/sam_vit_b_01ec64.pth"
    s.refine = False
    s.overlay_opacity = 0.7
    s.simplify_tolerance = 2.5
    s.export_format = "yolo"
    s.export_folder = tmp_path / "out"
    s.sync()
    assert path.is_file()

    t = AppSettings(path)
    assert t.last_folder == str(tmp_path / "images")
    assert t.model_name == "vit_b"
    assert t.checkpoint_path == "/models/sam_vit_b_01ec64.pth"
    assert t.refine is False
    assert t.overlay_opacity == 0.7
    assert t.simplify_tolerance == 2.5
    assert t.export_format == "yolo"
    assert t.export_folder == str(tmp_path / "out")

    t.model_name = None
    t.sync()
    assert AppSettings(path).model_name is None


def test_values_are_clamped_and_garbage_falls_back(tmp_path):
    path = tmp_path / "s.ini"
    path.write_text("[view]\noverlay_opacity=banana\n[edit]\nsimplify_px=-3\n[model]\nrefine=maybe\n")
    s = AppSettings(path)
    assert s.overlay_opacity == 0.45
    assert s.simplify_tolerance == 0.0
    assert s.refine is True
    s.overlay_opacity = 7
    assert s.overlay_opacity == 1.0


def test_window_layout_round_trip(qtbot, tmp_path):
    path = tmp_path / "s.ini"

    def make_window():
        w = QMainWindow()
        w.setCentralWidget(QLabel("canvas"))
        dock = QDockWidget("Labels", w)
        dock.setObjectName("labels_dock")
        dock.setWidget(QLabel("x"))
        w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        qtbot.addWidget(w)
        return w, dock

    w, dock = make_window()
    w.resize(640, 480)
    w.show()
    qtbot.waitExposed(w)
    w.removeDockWidget(dock)
    w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    dock.show()
    s = AppSettings(path)
    s.save_window(w)
    s.sync()

    w2, dock2 = make_window()
    assert w2.dockWidgetArea(dock2) == Qt.DockWidgetArea.RightDockWidgetArea
    assert AppSettings(path).restore_window(w2)
    assert w2.dockWidgetArea(dock2) == Qt.DockWidgetArea.LeftDockWidgetArea
