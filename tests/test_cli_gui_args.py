"""The GUI command line reaches run_app intact, and impossible combinations are refused."""

from __future__ import annotations

import samlabel.gui.app as gui_app
from samlabel.cli import main


def test_gui_options_reach_run_app(monkeypatch):
    seen = {}
    monkeypatch.setattr(gui_app, "run_app", lambda **kw: seen.update(kw) or 0)
    assert main(["some/folder", "--model", "vit_t", "--device", "cpu", "--quantize", "int8"]) == 0
    assert seen == {"path": "some/folder", "model": "vit_t", "checkpoint": None, "device": "cpu", "quantize": "int8"}


def test_quantize_defaults_to_fp32(monkeypatch):
    seen = {}
    monkeypatch.setattr(gui_app, "run_app", lambda **kw: seen.update(kw) or 0)
    assert main([]) == 0
    assert seen["quantize"] == "fp32" and seen["path"] is None


def test_int8_on_cuda_is_refused_with_a_reason(monkeypatch, capsys):
    monkeypatch.setattr(gui_app, "run_app", lambda **kw: 0)
    assert main(["--device", "cuda", "--quantize", "int8"]) == 2
    assert "CPU only" in capsys.readouterr().err
