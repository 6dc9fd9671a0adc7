"""samlabel.sam.fast.encoder_choice: the precision and engine rule shared by the app and autolabel."""

from __future__ import annotations

import copy

import pytest

import samlabel.sam.fast.openvino_engine as engine_mod
import samlabel.sam.fast.openvino_int8 as int8_mod
import samlabel.sam.fast.precision as precision_mod
from samlabel.sam.fast.encoder_choice import choose_encoder, wants_openvino
from samlabel.sam.fast.openvino_engine import EngineError, engine_of
from samlabel.sam.fast.precision import encoder_precision


@pytest.fixture
def installed(monkeypatch):
    """openvino and nncf reported installed on a CPU with int8 dot products (VNNI); the calls that
    would use them are the test's."""
    monkeypatch.setattr(engine_mod, "openvino_available", lambda: (True, "openvino test"))
    monkeypatch.setattr(int8_mod, "nncf_available", lambda: (True, "nncf test"))
    monkeypatch.setattr(precision_mod, "int8_dot_products", lambda: (True, "CPU flags avx512_vnni"))
    return monkeypatch


def test_auto_takes_openvino_for_bf16_and_int8_where_it_can(installed):
    assert wants_openvino("auto", "int8") and wants_openvino("auto", "bf16")
    assert not wants_openvino("auto", "fp32") and not wants_openvino("torch", "int8")
    assert wants_openvino("openvino", "fp32")
    installed.setattr(int8_mod, "nncf_available", lambda: (False, "no nncf"))
    assert not wants_openvino("auto", "int8")  # PyTorch's dynamic int8 then
    assert wants_openvino("auto", "bf16") and wants_openvino("openvino", "int8")  # asked for: tried, and said
    installed.setattr(engine_mod, "openvino_available", lambda: (False, "no openvino"))
    assert not wants_openvino("auto", "bf16")
    with pytest.raises(ValueError, match="engine must be one of"):
        wants_openvino("onnx", "fp32")


def test_without_int8_dot_products_auto_runs_int8_in_pytorch(installed):
    """AVX2 alone: OpenVINO's int8 measured 0.75-1.2x fp32 there, PyTorch's dynamic int8 runs it."""
    installed.setattr(precision_mod, "int8_dot_products", lambda: (False, "no VNNI"))
    assert not wants_openvino("auto", "int8")
    assert wants_openvino("auto", "bf16") and wants_openvino("openvino", "int8")  # asked for: still OpenVINO


def test_without_int8_dot_products_the_choice_says_why_pytorch_runs_int8(tiny_sam, installed):
    installed.setattr(precision_mod, "int8_dot_products", lambda: (False, "this CPU lacks AVX512-VNNI"))
    installed.setattr(engine_mod, "use_openvino", lambda *a, **k: pytest.fail("OpenVINO int8 without VNNI"))
    chosen = choose_encoder(copy.deepcopy(tiny_sam), "int8", "auto")
    assert (chosen.precision, chosen.engine) == ("int8", "torch") and encoder_precision(chosen.model) == "int8"
    assert chosen.note.startswith("OpenVINO's int8 not used: this CPU lacks AVX512-VNNI")
    installed.setattr(int8_mod, "nncf_available", lambda: (False, "no nncf"))  # not installed: nothing to explain
    assert choose_encoder(copy.deepcopy(tiny_sam), "int8", "auto").note == ""


def test_int8_dot_products_are_read_from_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(precision_mod.platform, "machine", lambda: "x86_64")
    for flags, found in (({"avx2", "fma"}, False), ({"avx2", "avx512f"}, False), ({"avx2", "avx_vnni"}, True),
                         ({"avx512f", "avx512_vnni"}, True), ({"amx_int8", "amx_tile"}, True)):
        monkeypatch.setattr(precision_mod, "_cpu_flags", lambda flags=flags: flags)
        ok, reason = precision_mod.int8_dot_products()
        assert ok is found, (flags, reason)
        assert (reason.startswith("CPU flags ") and reason[10:] in flags) if found else "lacks" in reason
    monkeypatch.setattr(precision_mod.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(precision_mod, "_cpu_flags", lambda: {"fp", "asimd", "asimddp"})
    assert precision_mod.int8_dot_products()[0]
    monkeypatch.setattr(precision_mod, "_cpu_flags", lambda: {"fp", "asimd"})
    assert not precision_mod.int8_dot_products()[0]


def test_fp32_and_torch_leave_the_model_on_pytorch(tiny_sam):
    model = copy.deepcopy(tiny_sam)
    chosen = choose_encoder(model, "fp32", "auto")
    assert chosen.model is model and (chosen.precision, chosen.engine, chosen.note) == ("fp32", "torch", "")
    assert encoder_precision(model) == "fp32" and model.model_id == tiny_sam.model_id
    chosen = choose_encoder(copy.deepcopy(tiny_sam), "int8", "torch")
    assert (chosen.precision, chosen.engine) == ("int8", "torch")
    assert encoder_precision(chosen.model) == "int8" and chosen.model.model_id.endswith("+int8")
    assert engine_of(chosen.model) is None


def test_int8_goes_to_openvino_with_the_callers_progress_and_cancel(tiny_sam, installed):
    calls = []

    def fake(model, precision, progress=None, threads=None, cancel=None):
        calls.append((precision, progress, threads, cancel))
        return model

    installed.setattr(engine_mod, "use_openvino", fake)
    say, stop = print, (lambda: False)
    chosen = choose_encoder(copy.deepcopy(tiny_sam), "int8", "auto", progress=say, cancel=stop, threads=3)
    assert (chosen.precision, chosen.engine, chosen.note) == ("int8", "openvino", "")
    assert calls == [("int8", say, 3, stop)]
    choose_encoder(copy.deepcopy(tiny_sam), "fp32", "openvino")
    assert calls[-1][0] == "f32"


def test_an_engine_that_cannot_start_leaves_pytorch_in_the_same_precision_and_says_why(tiny_sam, installed):
    def broken(model, *args, **kwargs):
        raise EngineError("could not make the int8 quantisation of ImageEncoderViT for OpenVINO: test")

    installed.setattr(engine_mod, "use_openvino", broken)
    chosen = choose_encoder(copy.deepcopy(tiny_sam), "int8", "auto")
    assert (chosen.precision, chosen.engine) == ("int8", "torch")
    assert chosen.note.startswith("OpenVINO not used (could not make the int8 quantisation")
    assert encoder_precision(chosen.model) == "int8" and engine_of(chosen.model) is None


def test_on_a_gpu_auto_is_fp32_and_openvino_is_not_used(tiny_sam, installed):
    installed.setattr(engine_mod, "use_openvino", lambda *a, **k: pytest.fail("OpenVINO on a GPU model"))
    chosen = choose_encoder(copy.deepcopy(tiny_sam), "auto", "auto", device="cuda")
    assert (chosen.precision, chosen.engine, chosen.note) == ("fp32", "torch", "")
    chosen = choose_encoder(copy.deepcopy(tiny_sam), "fp32", "openvino", device="cuda:0")
    assert chosen.engine == "torch" and "runs on the GPU" in chosen.note
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_encoder(copy.deepcopy(tiny_sam), "fp8", "torch")
