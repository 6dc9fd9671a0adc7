"""The smoke test's own logic, against a stand-in main window (the real one is tested
end to end by test_smoke_cli.py and the wheel test).

Each stand-in misbehaves in one way, and the smoke test must say so and return 1.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QWidget

from samlabel.gui import smoke


class FakeWindow(QWidget):
    embeddingReady = Signal(str)
    predictionShown = Signal(object)

    def __init__(self, path, embed=True, mask=None, raise_in_slot=False):
        super().__init__()
        self.path = path
        self.prompts = []
        self._mask = mask
        self._raise = raise_in_slot
        if embed:
            QTimer.singleShot(0, lambda: self.embeddingReady.emit(f"key-of-{path}"))

    def prompt_points(self, points, labels, box=None):
        self.prompts.append((np.asarray(points), np.asarray(labels), box))
        if self._raise:
            QTimer.singleShot(0, self._fail)
        elif self._mask is not None:
            QTimer.singleShot(0, lambda: self.predictionShown.emit(types.SimpleNamespace(mask=self._mask)))

    def _fail(self):
        raise RuntimeError("decoder exploded")


@pytest.fixture
def fake_app(monkeypatch, qapp):
    """Install a fake ``samlabel.gui.app`` whose window behaves as ``made["kwargs"]`` says."""
    made = {"kwargs": {}, "windows": [], "calls": []}

    def create_main_window(path=None, model_name=None, checkpoint=None, device=None, sam_model=None, settings=None):
        made["calls"].append(dict(path=path, device=device, sam_model=sam_model, settings=settings))
        window = FakeWindow(path, **made["kwargs"])
        made["windows"].append(window)
        return window

    module = types.ModuleType("samlabel.gui.app")
    module.create_main_window = create_main_window
    monkeypatch.setitem(__import__("sys").modules, "samlabel.gui.app", module)
    monkeypatch.setenv("SAMLABEL_SMOKE_TIMEOUT", "3")
    return made


def test_passes_with_a_window_that_embeds_and_predicts(fake_app, capsys):
    fake_app["kwargs"] = dict(mask=np.zeros((480, 640), dtype=bool))
    assert smoke.run_smoke_test() == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "ok: model test_tiny (random weights" in out
    assert "ok: embedding in" in out and "ok: prediction in" in out
    assert out.rstrip().splitlines()[-1].startswith("smoke test passed")
    call = fake_app["calls"][0]
    assert call["path"].endswith("coffee.jpg") and "samlabel-smoke-" in call["path"]  # a temporary copy
    assert call["sam_model"].config.name == "test_tiny"
    assert Path(call["settings"].path).parent == Path(call["path"]).parent  # not the user's settings
    (points, labels, box), = fake_app["windows"][0].prompts
    assert points.shape == (1, 2) and labels.tolist() == [1] and box is None


def test_fails_when_no_embedding_arrives(fake_app, capsys, monkeypatch):
    fake_app["kwargs"] = dict(embed=False)
    monkeypatch.setenv("SAMLABEL_SMOKE_TIMEOUT", "1.5")
    assert smoke.run_smoke_test() == 1
    out = capsys.readouterr().out
    assert "FAIL: embedding: nothing arrived within 1.5 s" in out


def test_fails_when_no_prediction_arrives(fake_app, capsys, monkeypatch):
    fake_app["kwargs"] = dict(mask=None)
    monkeypatch.setenv("SAMLABEL_SMOKE_TIMEOUT", "1.5")
    assert smoke.run_smoke_test() == 1
    assert "FAIL: prediction: nothing arrived within 1.5 s" in capsys.readouterr().out


def test_fails_on_a_malformed_mask(fake_app, capsys):
    fake_app["kwargs"] = dict(mask=np.zeros((4, 5, 3), dtype=np.uint8))
    assert smoke.run_smoke_test() == 1
    assert "FAIL: the mask has shape (4, 5, 3)" in capsys.readouterr().out


@pytest.mark.qt_no_exception_capture
def test_fails_when_a_slot_raises(fake_app, capsys):
    fake_app["kwargs"] = dict(raise_in_slot=True)
    assert smoke.run_smoke_test() == 1
    out = capsys.readouterr().out
    assert "FAIL: an exception escaped a Qt slot" in out and "decoder exploded" in out


def test_an_explicit_bad_checkpoint_fails(fake_app, capsys, tmp_path):
    bad = tmp_path / "not_a_checkpoint.pth"
    bad.write_bytes(b"junk")
    assert smoke.run_smoke_test(model="vit_t", checkpoint=str(bad)) == 1
    out = capsys.readouterr().out
    assert "FAIL: model:" in out and "not_a_checkpoint.pth" in out
    assert fake_app["calls"] == []


def test_check_mask_requires_foreground_for_real_models():
    with pytest.raises(smoke.SmokeFailure, match="empty mask"):
        smoke.check_mask(np.zeros((3, 4), dtype=bool), require_foreground=True)
    mask = np.zeros((3, 4), dtype=bool)
    mask[1, 2] = True
    assert smoke.check_mask(mask, require_foreground=True) == "4x3 mask, 1 px foreground"
    with pytest.raises(smoke.SmokeFailure, match="dtype float32"):
        smoke.check_mask(np.zeros((3, 4), dtype=np.float32), require_foreground=False)


def test_a_missing_explicit_checkpoint_fails(fake_app, capsys, tmp_path):
    assert smoke.run_smoke_test(model="vit_b", checkpoint=str(tmp_path / "nope.pth")) == 1
    assert f"FAIL: model: the checkpoint {tmp_path / 'nope.pth'} does not exist" in capsys.readouterr().out


def test_the_model_configured_in_the_settings_is_looked_for(fake_app, capsys, monkeypatch, tmp_path):
    from samlabel.gui.settings import AppSettings

    monkeypatch.setenv("SAMLABEL_CONFIG_DIR", str(tmp_path / "config"))
    configured = AppSettings()
    configured.model_name = "vit_l"
    configured.sync()
    fake_app["kwargs"] = dict(mask=np.zeros((8, 8), dtype=bool))
    assert smoke.run_smoke_test() == 0
    assert "ok: model test_tiny (random weights; no checkpoint for vit_l: not downloaded" in capsys.readouterr().out


def test_an_explicit_snapshot_folder_is_loaded(fake_app, capsys, tmp_path):
    """``--checkpoint FOLDER`` takes a Hugging Face snapshot folder, as ``build_sam`` does."""
    import torch
    from safetensors.torch import save_file

    from samlabel.sam.build import build_sam

    from ..sam.files.test_files_checkpoint import _hf_state_dict

    torch.manual_seed(3)
    weights = build_sam("test_tiny")
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    save_file(_hf_state_dict(weights), str(snapshot / "model.safetensors"))
    (snapshot / "config.json").write_text("{}")
    fake_app["kwargs"] = dict(mask=np.zeros((8, 8), dtype=bool))
    assert smoke.run_smoke_test(model="test_tiny", checkpoint=str(snapshot)) == 0
    assert f"ok: model test_tiny from {snapshot}" in capsys.readouterr().out
    loaded = fake_app["calls"][0]["sam_model"]
    assert torch.equal(loaded.state_dict()["image_encoder.pos_embed"], weights.state_dict()["image_encoder.pos_embed"])


def test_a_folder_that_is_no_snapshot_names_what_is_missing(fake_app, capsys, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert smoke.run_smoke_test(model="vit_t", checkpoint=str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert f"FAIL: model: the checkpoint folder {tmp_path} holds neither model.safetensors nor pytorch_model.bin" in out
    assert "Traceback" not in out and fake_app["calls"] == []


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="named pipes are a POSIX thing")
def test_a_named_pipe_checkpoint_fails_without_blocking(fake_app, capsys, tmp_path):
    import os

    fifo = tmp_path / "weights.pth"
    os.mkfifo(fifo)
    assert smoke.run_smoke_test(model="vit_t", checkpoint=str(fifo)) == 1
    assert f"FAIL: model: the checkpoint {fifo}: not a file or folder (a named pipe)" in capsys.readouterr().out
