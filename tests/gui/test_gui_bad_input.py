"""Bad images and broken sidecars in a folder project: named, skipped, never a modal dialog,
and the user's broken sidecar is never overwritten."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QLabel, QMessageBox


@pytest.fixture
def no_modal(monkeypatch):
    """Any modal QMessageBox would block an offscreen test forever: record it instead."""
    shown = []
    for name in ("warning", "critical", "information", "question"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(lambda *a, _n=name, **k: shown.append((_n, a)) or QMessageBox.StandardButton.Ok))
    return shown


@pytest.fixture
def bad_folder(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    img = (np.random.default_rng(1).random((60, 80, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(folder / "a_good.png")
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG")
    (folder / "b_trunc.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    (folder / "c_zero.png").write_bytes(b"")
    (folder / "d_text.jpg").write_text("this is not an image")
    Image.fromarray(img).save(folder / "e_good.png")
    Image.fromarray(img).save(folder / "f_broken_sidecar.png")
    (folder / "f_broken_sidecar.json").write_text('{"version": "5.0", "shapes": [ {"label": "x",')
    Image.fromarray(img).save(folder / "g_good.png")
    return folder


def names(win):
    return [p.name for p, _ in win.last_open_failures]


def test_next_and_previous_skip_bad_images_and_name_them(make_window, bad_folder, no_modal):
    win = make_window(bad_folder)
    assert win.image_path.name == "a_good.png"
    assert win.next_image()
    assert win.image_path.name == "e_good.png"
    assert names(win) == ["b_trunc.jpg", "c_zero.png", "d_text.jpg"]
    message = win.statusBar().currentMessage()
    assert "b_trunc.jpg" in message and "truncated" in message and "c_zero.png" in message
    reasons = dict((p.name, r) for p, r in win.last_open_failures)
    assert "empty" in reasons["c_zero.png"]
    assert "not an image" in reasons["d_text.jpg"]
    for name in ("b_trunc.jpg", "c_zero.png", "d_text.jpg"):
        assert win.files_dock.problem(bad_folder / name)
    assert win.files_dock.problem(bad_folder / "e_good.png") is None
    assert win.next_image()  # over the broken sidecar
    assert win.image_path.name == "g_good.png"
    assert names(win) == ["f_broken_sidecar.png"]
    assert "f_broken_sidecar.json" in win.statusBar().currentMessage()
    assert "malformed JSON" in win.statusBar().currentMessage()
    assert win.prev_image()
    assert win.image_path.name == "e_good.png"
    assert not win.prev_image() or win.image_path.name == "a_good.png"
    assert win.image_path.name == "a_good.png"
    assert no_modal == []


def test_clicking_a_bad_image_keeps_the_open_one(make_window, bad_folder, no_modal):
    win = make_window(bad_folder)
    win.open_image_path(str(bad_folder / "c_zero.png"))
    assert win.image_path.name == "a_good.png"
    assert names(win) == ["c_zero.png"]
    assert "c_zero.png" in win.statusBar().currentMessage()
    assert win.files_dock.current_path() == str(bad_folder / "a_good.png")
    label = win.findChild(QLabel, "open_problem_label")
    assert label is not None and "c_zero.png" in label.text()
    assert no_modal == []


def test_broken_sidecar_survives_and_is_not_autosaved_over(make_window, bad_folder, no_modal):
    broken = bad_folder / "f_broken_sidecar.json"
    before = broken.read_bytes()
    win = make_window(bad_folder / "f_broken_sidecar.png")
    assert win.document is None  # it refused to open: no document that could autosave
    assert "malformed JSON" in win.statusBar().currentMessage()
    assert "f_broken_sidecar.json" in win.statusBar().currentMessage()
    assert win.open_path(bad_folder)
    win.open_image_path(str(bad_folder / "f_broken_sidecar.png"))
    assert win.image_path.name == "a_good.png"
    win.open_image_path(str(bad_folder / "g_good.png"))
    assert win.image_path.name == "g_good.png"
    assert win.prev_image() and win.image_path.name == "e_good.png"
    assert win.next_image() and win.image_path.name == "g_good.png"
    assert win.save_now()
    assert broken.read_bytes() == before
    assert no_modal == []


def test_a_folder_opens_at_its_first_image_that_opens(make_window, tmp_path, no_modal):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(folder / "b.png")
    win = make_window(folder)
    assert win.image_path.name == "b.png"
    assert names(win) == ["a.png"]
    assert no_modal == []


def test_a_truncated_checkpoint_leaves_ai_off_and_names_the_file(make_window, bad_folder, tmp_path, qtbot, no_modal):
    import torch

    from samlabel.gui.tools import Tool
    from samlabel.sam.build import build_sam

    full = tmp_path / "full.pth"
    torch.save(build_sam("test_tiny").state_dict(), full)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    win = make_window(bad_folder / "a_good.png", model_name="test_tiny", checkpoint=str(truncated))
    qtbot.waitUntil(lambda: "AI tools are off" in win._model_status.toolTip(), timeout=20000)
    tip = win._model_status.toolTip()
    assert str(truncated) in tip and "could not load" in tip.lower()
    assert "AI off" in win._model_status.text()
    assert win.model is None
    win.actions_by_id["tool_ai"].trigger()  # refused, saying why
    assert win.tool is not Tool.SAM
    message = win.statusBar().currentMessage()
    assert "failed to load" in message and str(truncated) in message and "Load checkpoint file" in message
    assert no_modal == []


def test_opening_a_missing_path_or_an_empty_folder_is_a_notice_not_a_dialog(make_window, tmp_path, no_modal):
    empty = tmp_path / "empty"
    empty.mkdir()
    win = make_window(tmp_path / "does_not_exist")
    assert win.image_path is None
    assert "does_not_exist" in win.statusBar().currentMessage()
    assert not win.open_path(empty)
    assert f"{empty} contains no images" in win.statusBar().currentMessage()
    assert no_modal == []


def test_a_malformed_label_file_is_named_and_left_alone(make_window, bad_folder, no_modal):
    labels = bad_folder / "labels.json"
    labels.write_text('{"labels": [')
    win = make_window(bad_folder)  # used to raise out of create_main_window
    assert win.image_path is None
    message = win.statusBar().currentMessage()
    assert "labels.json" in message and "malformed JSON" in message
    win.set_current_label("another")
    assert labels.read_text() == '{"labels": ['
    assert no_modal == []
