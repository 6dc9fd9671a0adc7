"""The model indicator names the image encoder's precision (bf16 / int8; nothing for fp32), and a
bf16 request on a CPU without native bf16 turns the AI tools off with the reason, not a traceback."""

from __future__ import annotations

import pytest

import samlabel.gui.app as gui_app
import samlabel.sam.fast.precision as precision
from samlabel.cli import main
from samlabel.gui.model_manager import choose_model
from samlabel.gui.model_status import ModelState, ModelStatus

NATIVE_BF16, NATIVE_REASON = precision.native_bf16()


def test_the_indicator_names_a_reduced_precision(tmp_path):
    status = ModelStatus(ModelState.READY, "vit_t")
    assert status.indicator("cpu")[0] == "Model: vit_t (cpu)"
    assert status.indicator("cpu", precision="fp32")[0] == "Model: vit_t (cpu)"
    text, tip = status.indicator("cpu", precision="bf16")
    assert text == "Model: vit_t (cpu, bf16)" and "Image encoder: bf16" in tip
    assert status.indicator("cpu", precision="int8")[0] == "Model: vit_t (cpu, int8)"
    assert status.indicator("cpu", True)[0] == "Model: vit_t (cpu, int8)"  # the old quantized=True
    mine = tmp_path / "x.pth"
    mine.write_bytes(b"w")
    text, tip = ModelStatus.ready(choose_model("vit_b", checkpoint=mine, device="cpu")).indicator("cpu", precision="bf16")
    assert text == "Model: vit_b (cpu, bf16, your file: x.pth)"
    assert "Image encoder: bf16" in tip and f"your file {mine}" in tip


def test_precision_choices_reach_run_app(monkeypatch):
    seen = {}
    monkeypatch.setattr(gui_app, "run_app", lambda **kw: seen.update(kw) or 0)
    monkeypatch.setattr(precision, "native_bf16", lambda: (True, "test"))
    for option in ("--precision", "--quantize"):
        for value in ("fp32", "int8", "auto", "bf16"):
            assert main(["--device", "cpu", option, value]) == 0
            assert seen["quantize"] == value
    assert choose_model("vit_t", device="cpu", quantize="auto").quantize == "auto"


def test_bf16_without_native_support_is_refused_on_the_command_line(monkeypatch, capsys):
    monkeypatch.setattr(gui_app, "run_app", lambda **kw: 0)
    monkeypatch.setattr(precision, "native_bf16", lambda: (False, "this CPU (AVX2) lacks AVX512-BF16 and AMX"))
    assert main(["--device", "cpu", "--precision", "bf16"]) == 2
    err = capsys.readouterr().err
    assert "needs native bf16" in err and "AVX512-BF16" in err and "--precision int8 or auto" in err
    assert main(["--device", "cuda", "--precision", "bf16"]) == 2
    assert "CPU only" in capsys.readouterr().err


@pytest.mark.skipif(not NATIVE_BF16, reason=f"no native bf16 on this CPU: {NATIVE_REASON}")
def test_bf16_mode_loads_a_bf16_encoder_and_says_so(qtbot, make_window, image_folder, tiny_model, tmp_path):
    import torch

    ckpt = tmp_path / "tiny.pth"
    torch.save(tiny_model.state_dict(), ckpt)
    win = make_window(image_folder, model_name="test_tiny", checkpoint=str(ckpt), device="cpu", quantize="bf16")
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)  # the bf16 encoder made the embedding
    assert precision.encoder_precision(win.model) == "bf16"
    assert win.model.model_id.endswith("+bf16")
    assert "bf16" in win._model_status.text()


def test_bf16_without_native_support_turns_the_ai_off_with_the_reason(qtbot, make_window, image_folder,
                                                                      tiny_model, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(precision, "native_bf16", lambda: (False, "this CPU (AVX2) lacks AVX512-BF16 and AMX"))
    ckpt = tmp_path / "tiny.pth"
    torch.save(tiny_model.state_dict(), ckpt)
    win = make_window(image_folder, model_name="test_tiny", checkpoint=str(ckpt), device="cpu", quantize="bf16")
    qtbot.waitUntil(lambda: win.model_status.state is ModelState.FAILED, timeout=60000)
    assert win.model is None
    assert "needs native bf16" in win.model_status.reason and "AVX512-BF16" in win.model_status.reason
