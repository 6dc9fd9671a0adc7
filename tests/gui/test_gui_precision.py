"""The model indicator names the image encoder's precision (bf16 / int8; nothing for fp32) and its
engine (OpenVINO), a bf16 request on a CPU without native bf16 turns the AI tools off with the
reason, not a traceback, and an OpenVINO engine that cannot start leaves PyTorch running, saying so."""

from __future__ import annotations

import numpy as np
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


def _has_openvino() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not NATIVE_BF16, reason=f"no native bf16 on this CPU: {NATIVE_REASON}")
@pytest.mark.parametrize("engine", ["torch", "auto"])
def test_bf16_mode_loads_a_bf16_encoder_and_says_so(qtbot, make_window, image_folder, tiny_model, tmp_path, engine):
    import torch

    if engine == "auto" and not _has_openvino():
        pytest.skip("openvino is not installed: auto is PyTorch, the case above")
    ckpt = tmp_path / "tiny.pth"
    torch.save(tiny_model.state_dict(), ckpt)
    win = make_window(image_folder, model_name="test_tiny", checkpoint=str(ckpt), device="cpu", quantize="bf16",
                      engine=engine)
    qtbot.waitUntil(lambda: win.sam.ready, timeout=120000)  # the bf16 encoder made the embedding
    assert precision.encoder_precision(win.model) == "bf16"
    on_openvino = getattr(win.model.image_encoder, "_samlabel_openvino", None) is not None
    assert on_openvino == (engine == "auto")  # auto: OpenVINO where installed
    assert win.model.model_id.endswith("+ov-bf16" if on_openvino else "+bf16")
    text = win._model_status.text()
    assert "bf16" in text and ("OpenVINO" in text) == on_openvino
    if not on_openvino:
        assert win.model.image_encoder.blocks[0].attn.qkv.weight.dtype == torch.bfloat16


def test_the_indicator_names_the_openvino_engine():
    status = ModelStatus(ModelState.READY, "vit_t")
    text, tip = status.indicator("cpu", precision="bf16", engine="OpenVINO")
    assert text == "Model: vit_t (cpu, bf16, OpenVINO)" and "Image encoder: bf16 on OpenVINO" in tip
    text, tip = status.indicator("cpu", precision="fp32", engine="OpenVINO")
    assert text == "Model: vit_t (cpu, OpenVINO)" and "fp32 on OpenVINO" in tip


def test_engine_choices_reach_run_app_and_are_checked(monkeypatch, capsys):
    import samlabel.sam.fast.openvino_engine as engine_mod

    seen = {}
    monkeypatch.setattr(gui_app, "run_app", lambda **kw: seen.update(kw) or 0)
    assert main(["--device", "cpu"]) == 0 and seen["engine"] == "auto"
    assert main(["--device", "cpu", "--engine", "torch"]) == 0 and seen["engine"] == "torch"
    monkeypatch.setattr(engine_mod, "openvino_available", lambda: (True, "openvino test"))
    assert main(["--device", "cpu", "--engine", "openvino"]) == 0 and seen["engine"] == "openvino"
    assert choose_model("vit_t", device="cpu", engine="openvino").engine == "openvino"
    assert main(["--device", "cuda", "--engine", "openvino"]) == 2
    assert "CPU only" in capsys.readouterr().err
    monkeypatch.setattr(engine_mod, "openvino_available",
                        lambda: (False, "the openvino package is not installed; pip install 'samlabel[openvino]'"))
    assert main(["--device", "cpu", "--engine", "openvino"]) == 2
    assert "samlabel[openvino]" in capsys.readouterr().err


@pytest.mark.skipif(not _has_openvino(), reason="openvino is not installed")
def test_the_openvino_engine_loads_says_what_it_does_and_matches_pytorch(qtbot, make_window, image_folder,
                                                                        tiny_model, tmp_path):
    import torch

    ckpt = tmp_path / "tiny.pth"
    torch.save(tiny_model.state_dict(), ckpt)
    messages = []
    win = make_window(image_folder, model_name="test_tiny", checkpoint=str(ckpt), device="cpu", engine="openvino",
                      before_model=lambda w: w.statusBar().messageChanged.connect(messages.append))
    qtbot.waitUntil(lambda: win.sam.ready, timeout=120000)
    assert getattr(win.model.image_encoder, "_samlabel_openvino", None) is not None
    assert precision.encoder_precision(win.model) == "fp32" and not win.model.model_id.endswith("+bf16")
    assert "OpenVINO" in win._model_status.text()
    assert any("Exporting the image encoder for OpenVINO" in m for m in messages)  # the slow first use is announced
    assert any("OpenVINO f32 encoder (exported in" in m for m in messages)
    from samlabel.sam.embedding import compute_embedding

    image = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    ours, plain = compute_embedding(win.model, image), compute_embedding(win.model, image, path="plain")
    assert 0 < (ours.features - plain.features).abs().max().item() <= 1e-4  # OpenVINO's, equal within rounding


def test_an_openvino_engine_that_cannot_start_leaves_pytorch_running(qtbot, make_window, image_folder,
                                                                     tiny_model, tmp_path, monkeypatch):
    import torch

    import samlabel.sam.fast.openvino_engine as engine_mod

    def broken(model, *args, **kwargs):
        raise engine_mod.EngineError("could not export ImageEncoderViT for OpenVINO: RuntimeError: test")

    monkeypatch.setattr(engine_mod, "use_openvino", broken)
    monkeypatch.setattr(engine_mod, "openvino_available", lambda: (True, "openvino test"))
    ckpt = tmp_path / "tiny.pth"
    torch.save(tiny_model.state_dict(), ckpt)
    messages = []
    win = make_window(image_folder, model_name="test_tiny", checkpoint=str(ckpt), device="cpu", engine="openvino",
                      before_model=lambda w: w.statusBar().messageChanged.connect(messages.append))
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)
    assert getattr(win.model.image_encoder, "_samlabel_openvino", None) is None
    assert "OpenVINO" not in win._model_status.text()
    assert any("OpenVINO not used" in m and "could not export" in m for m in messages)
    assert "OpenVINO not used" in win._model_status.toolTip()  # kept once the message is gone


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


def _has_nncf() -> bool:
    try:
        import nncf  # noqa: F401
    except ImportError:
        return False
    return _has_openvino()


@pytest.mark.skipif(not _has_nncf(), reason="openvino and nncf are not installed")
def test_int8_mode_quantises_on_openvino_and_says_so(qtbot, make_window, image_folder, tiny_model, tmp_path,
                                                    monkeypatch):
    import torch

    # a CPU with int8 dot products (VNNI), where --engine auto takes OpenVINO's int8 (AVX2 alone: PyTorch's)
    monkeypatch.setattr(precision, "int8_dot_products", lambda: (True, "CPU flags avx512_vnni"))
    ckpt = tmp_path / "tiny.pth"
    torch.save(tiny_model.state_dict(), ckpt)
    messages = []
    win = make_window(image_folder, model_name="test_tiny", checkpoint=str(ckpt), device="cpu", quantize="int8",
                      before_model=lambda w: w.statusBar().messageChanged.connect(messages.append))
    qtbot.waitUntil(lambda: win.sam.ready, timeout=180000)  # the int8 encoder made the embedding
    assert getattr(win.model.image_encoder, "_samlabel_openvino", None) is not None  # auto: OpenVINO, not PyTorch
    assert precision.encoder_precision(win.model) == "int8" and "+ov-int8." in win.model.model_id
    assert any("Quantising the image encoder to int8" in m for m in messages)  # the slow first use is announced
    assert any("OpenVINO int8 encoder (exported in" in m and "quantised in" in m for m in messages)
    assert "(cpu, int8, OpenVINO" in win._model_status.text()

