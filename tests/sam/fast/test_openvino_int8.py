"""samlabel.sam.fast.openvino_int8: the OpenVINO engine's int8 encoder, quantised by NNCF.

Small random models (SAM 1 ``test_tiny`` ViT, a small SAM 2 Hiera): the int8 IR really holds
quantised operations, its embedding is close to fp32's and tagged ``+ov-int8``; the calibration
inputs are exactly what ``set_image`` hands the encoder; the quantised entry is cached beside the
float32 one, keyed by the calibration images, and never left half-made by a cancel or a failure.
"""

from __future__ import annotations

import copy
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("openvino", reason="the OpenVINO engine's tests need the openvino package ([dev] installs it)")
pytest.importorskip("nncf", reason="the int8 engine's tests need the nncf package ([dev] installs it)")

import samlabel.sam.fast.openvino_cache as cache_mod  # noqa: E402
import samlabel.sam.fast.openvino_int8 as int8_mod  # noqa: E402
from samlabel.sam import SamPredictor  # noqa: E402
from samlabel.sam.embedding import compute_embedding  # noqa: E402
from samlabel.sam.errors import Cancelled  # noqa: E402
from samlabel.sam.fast.openvino_engine import (EngineError, EngineUnavailableError, cache_key, engine_of,  # noqa: E402
                                               stop_openvino, use_openvino)
from samlabel.sam.fast.precision import encoder_precision  # noqa: E402


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def _photo(seed: int = 0, h: int = 120, w: int = 160) -> np.ndarray:
    """A smooth image with edges (gradients and rectangles), closer to a photo than noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (w + h)], -1).astype(np.float32)
    for _ in range(4):
        y0, x0 = rng.integers(0, h - 20), rng.integers(0, w - 20)
        img[y0:y0 + rng.integers(10, 40), x0:x0 + rng.integers(10, 60)] = rng.integers(0, 256, 3)
    return img.clip(0, 255).astype(np.uint8)


CALIBRATION = [_photo(s) for s in range(3)]  # small and few: quantising takes seconds, not a minute


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("openvino-int8-cache")


@pytest.fixture(scope="module")
def int8_sam(tiny_sam, cache):
    return use_openvino(copy.deepcopy(tiny_sam), "int8", cache_dir=cache, calibration=CALIBRATION)


def _quantised_inputs(op) -> int:
    return sum(1 for i in op.inputs() if i.get_source_output().get_node().get_type_name() == "FakeQuantize")


def test_the_int8_ir_holds_quantised_operations_but_not_the_attention_projections(tiny_sam, int8_sam, cache):
    import openvino as ov

    info = engine_of(int8_sam).info
    assert info.precision == "int8" and info.exported and info.quantize_s > 0
    ops = {op.get_friendly_name(): op for op in ov.Core().read_model(str(info.cache_path / "encoder.xml")).get_ops()}
    products = [op for op in ops.values() if op.get_type_name() in ("MatMul", "Convolution")]
    assert sum(1 for op in products if _quantised_inputs(op)) >= 10  # the qkv and MLP products, the convolutions
    f32_ir = ov.Core().read_model(str(cache / cache_key(tiny_sam) / "encoder.xml"))
    kept = int8_mod.attention_projections(f32_ir)
    assert len(kept) == len(tiny_sam.image_encoder.blocks)  # one per block: test_tiny's global and windowed
    assert all(_quantised_inputs(ops[name]) == 0 for name in kept)  # float32 in the int8 IR


def test_attention_projections_are_found_after_scaled_dot_product_and_softmax_attention(small_sam2, cache):
    import openvino as ov

    sam2 = use_openvino(copy.deepcopy(small_sam2), "f32", cache_dir=cache)
    ir = ov.Core().read_model(str(engine_of(sam2).info.cache_path / "encoder.xml"))
    kept = int8_mod.attention_projections(ir)
    assert len(kept) == len(small_sam2.image_encoder.trunk.blocks)  # SDPA attention: one projection per block
    assert all(ir_op.get_type_name() == "MatMul" for ir_op in ir.get_ops() if ir_op.get_friendly_name() in kept)


def test_int8_is_close_tagged_and_reported(tiny_sam, int8_sam):
    image = _photo(7)
    ref = compute_embedding(tiny_sam, image)
    emb = compute_embedding(int8_sam, image)
    assert 0.001 < _rel(emb.features, ref.features) < 0.15  # really quantised, and close
    key = engine_of(int8_sam).info.cache_path.name
    # never mixed with fp32, PyTorch's +int8, or another quantisation of the same weights
    assert int8_sam.model_id == tiny_sam.model_id + "+ov-int8." + key[:8] == emb.model_id
    assert encoder_precision(int8_sam) == "int8"
    assert all(p.dtype == torch.float32 for p in int8_sam.parameters())  # PyTorch's weights untouched
    with pytest.raises(ValueError, match="OpenVINO int8"):
        stop_openvino(int8_sam)


def test_int8_masks_mostly_agree_with_fp32(tiny_sam, int8_sam):
    image = _photo(9)
    ours, theirs = SamPredictor(int8_sam), SamPredictor(tiny_sam)
    ours.set_image(image)
    theirs.set_image(image)
    ious = []
    for point in ([30, 20], [100, 60], [80, 90], [140, 30]):
        m1, _, _ = ours.predict(point_coords=np.array([point]), point_labels=np.array([1]))
        m0, _, _ = theirs.predict(point_coords=np.array([point]), point_labels=np.array([1]))
        for a, b in zip(m0, m1):
            union = (a | b).sum()
            ious.append(1.0 if union == 0 else (a & b).sum() / union)
    assert np.median(ious) > 0.9


def test_the_sam2_int8_engine_keeps_its_high_res_maps_close(small_sam2, cache):
    model = use_openvino(copy.deepcopy(small_sam2), "int8", cache_dir=cache, calibration=CALIBRATION)
    image = _photo(3, 96, 128)
    e0, e1 = compute_embedding(small_sam2, image), compute_embedding(model, image)
    assert 0.001 < _rel(e1.features, e0.features) < 0.15
    assert len(e1.high_res_features) == 2
    assert all(0 < _rel(a, b) < 0.15 for a, b in zip(e1.high_res_features, e0.high_res_features))
    assert "+ov-int8." in e1.model_id and encoder_precision(model) == "int8"


# ----------------------------------------------------------------------------- calibration
@pytest.mark.parametrize("family", ["sam1", "sam2"])
def test_calibration_inputs_are_what_set_image_gives_the_encoder(tiny_sam, small_sam2, cache, family, monkeypatch):
    model = use_openvino(copy.deepcopy(tiny_sam if family == "sam1" else small_sam2), "f32", cache_dir=cache)
    image = _photo(5, 90, 150)
    seen = []
    engine = engine_of(model)
    real = engine._one
    monkeypatch.setattr(engine, "_one", lambda x, cancel: seen.append(x.numpy().copy()) or real(x, cancel))
    compute_embedding(model, image)
    (given,) = int8_mod.calibration_inputs(model, [image])
    assert given.dtype == np.float32 and given.shape == seen[0].shape
    np.testing.assert_array_equal(given, seen[0])


def test_the_default_calibration_set_is_views_of_the_sample_photo():
    images = int8_mod.calibration_images()
    assert len(images) == 6
    assert all(im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3 for im in images)
    shapes = {im.shape[:2] for im in images}
    assert len(shapes) >= 4  # the whole photo, a square, 16:9, portrait (and the same size mirrored, zoomed)
    assert np.array_equal(images[4], images[0][:, ::-1])  # the mirrored one


def test_other_calibration_images_make_their_own_entry_and_the_same_ones_reuse_it(tiny_sam, int8_sam, cache,
                                                                                   monkeypatch):
    key = cache_key(tiny_sam)
    inputs = int8_mod.calibration_inputs(tiny_sam, CALIBRATION)
    assert int8_mod.int8_key(key, inputs) == engine_of(int8_sam).info.cache_path.name
    other = int8_mod.int8_key(key, int8_mod.calibration_inputs(tiny_sam, CALIBRATION[:2]))
    assert other != engine_of(int8_sam).info.cache_path.name
    monkeypatch.setattr(int8_mod, "quantize_to", lambda *a, **k: pytest.fail("quantised again"))
    monkeypatch.setattr(cache_mod, "_export_to", lambda *a: pytest.fail("exported again"))
    messages = []
    again = use_openvino(copy.deepcopy(tiny_sam), "int8", cache_dir=cache, calibration=CALIBRATION,
                         progress=messages.append)
    info = engine_of(again).info
    assert not info.exported and info.export_s == 0 and info.quantize_s == 0 and "from the cache" in messages[-1]
    x = torch.randn(1, 3, 1024, 1024)
    from samlabel.sam.compute_path import encode_image

    assert torch.equal(encode_image(again, x), encode_image(int8_sam, x))


def _int8_weight_extremes(ir) -> list[int]:
    """The largest magnitude in each int8 weight constant of a quantised IR."""
    return [int(np.abs(op.get_data().astype(np.int32)).max()) for op in ir.get_ops()
            if op.get_type_name() == "Constant" and op.get_element_type().get_type_name() == "i8"]


def test_without_int8_dot_products_the_weights_use_7_bits(tiny_sam, int8_sam, cache, tmp_path, monkeypatch):
    """x86 without VNNI sums pairs of u8 x s8 products into saturating 16 bits: 7-bit weights never
    saturate (2 x 255 x 64 < 32767); with VNNI, 8-bit weights (all but the first product)."""
    import openvino as ov

    import samlabel.sam.fast.precision as precision_mod

    f32_ir = ov.Core().read_model(str(cache / cache_key(tiny_sam) / "encoder.xml"))
    inputs = int8_mod.calibration_inputs(tiny_sam, CALIBRATION[:1])
    extremes = {}
    for vnni in (True, False):
        monkeypatch.setattr(precision_mod, "int8_dot_products", lambda vnni=vnni: (vnni, "test"))
        folder = tmp_path / str(vnni)
        folder.mkdir()
        int8_mod.quantize_to(f32_ir.clone(), folder, inputs, lambda m: None)
        extremes[vnni] = _int8_weight_extremes(ov.Core().read_model(str(folder / "encoder.xml")))
        assert len(extremes[vnni]) >= 10  # the qkv and MLP products, the convolutions
    assert max(extremes[False]) <= 64
    assert max(extremes[True]) == 127
    key = cache_key(tiny_sam)
    assert int8_mod.int8_key(key, inputs, "enable") != int8_mod.int8_key(key, inputs, "first_layer_only")
    monkeypatch.setattr(precision_mod, "int8_dot_products", lambda: (False, "test"))
    assert int8_mod.overflow_fix() == "enable" and int8_mod.int8_key(key, inputs) == int8_mod.int8_key(key, inputs, "enable")


# ----------------------------------------------------------------------------- failures
def test_cancel_during_calibration_leaves_no_int8_entry(tiny_sam, tmp_path):
    calibrating = [0]

    def cancel():  # false through the export and the first two calibration images, then true
        return calibrating[0] >= 2

    def progress(message):
        if "calibration pass" in message:
            calibrating[0] += 1

    model = copy.deepcopy(tiny_sam)
    with pytest.raises(Cancelled):
        use_openvino(model, "int8", cache_dir=tmp_path, calibration=CALIBRATION, progress=progress, cancel=cancel)
    assert calibrating[0] >= 1 and engine_of(model) is None and model.model_id == tiny_sam.model_id
    f32 = tmp_path / cache_key(tiny_sam)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f32.name]  # the f32 export stays; nothing half-quantised
    done = use_openvino(model, "int8", cache_dir=tmp_path, calibration=CALIBRATION)  # and it works afterwards
    assert encoder_precision(done) == "int8" and not engine_of(done).info.export_s


def test_a_failed_quantisation_is_an_engine_error_remembered(tiny_sam, tmp_path, monkeypatch):
    import nncf

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("no int8 kernels for operator Frobnicate")

    monkeypatch.setattr(nncf, "quantize", broken)
    model = copy.deepcopy(tiny_sam)
    with pytest.raises(EngineError, match="int8 quantisation of.*Frobnicate"):
        use_openvino(model, "int8", cache_dir=tmp_path, calibration=CALIBRATION)
    with pytest.raises(EngineError, match="int8 quantisation of this encoder failed before.*Frobnicate"):
        use_openvino(model, "int8", cache_dir=tmp_path, calibration=CALIBRATION)
    assert len(calls) == 1 and engine_of(model) is None
    assert any(p.suffix == ".failed" for p in tmp_path.iterdir())
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_without_nncf_int8_says_how_to_install_it(tiny_sam, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nncf", None)  # import nncf -> ImportError
    with pytest.raises(EngineUnavailableError, match=r"nncf.*samlabel\[openvino\]"):
        use_openvino(copy.deepcopy(tiny_sam), "int8", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # refused before anything was exported


def test_calibration_images_are_for_int8_only(tiny_sam, tmp_path):
    with pytest.raises(ValueError, match="for precision='int8' only"):
        use_openvino(copy.deepcopy(tiny_sam), "f32", cache_dir=tmp_path, calibration=CALIBRATION)
    with pytest.raises(ValueError, match="at least one image"):
        use_openvino(copy.deepcopy(tiny_sam), "int8", cache_dir=tmp_path, calibration=[])


def test_a_failed_f32_export_is_remembered_as_the_export_not_as_the_quantisation(tiny_sam, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::frobnicate")

    monkeypatch.setattr(torch.export, "export", broken)
    with pytest.raises(EngineError, match="frobnicate"):
        use_openvino(copy.deepcopy(tiny_sam), "int8", cache_dir=tmp_path, calibration=CALIBRATION)
    markers = [p.name for p in tmp_path.iterdir() if p.suffix == ".failed"]
    assert markers == [cache_key(tiny_sam) + ".failed"]  # deleting it, as the message says, is enough to retry


def test_a_full_disk_while_quantising_is_not_remembered(tiny_sam, tmp_path, monkeypatch):
    import errno
    import os

    real = int8_mod.save_ir
    calls = []

    def full(ir, folder):
        calls.append(folder)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(ir, folder)

    monkeypatch.setattr(int8_mod, "save_ir", full)
    with pytest.raises(EngineError, match="No space left"):
        use_openvino(copy.deepcopy(tiny_sam), "int8", cache_dir=tmp_path, calibration=CALIBRATION)
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".failed" or ".partial-" in p.name]
    model = use_openvino(copy.deepcopy(tiny_sam), "int8", cache_dir=tmp_path, calibration=CALIBRATION)  # space again
    assert encoder_precision(model) == "int8" and len(calls) == 2


def test_a_missing_calibration_photo_is_an_engine_error(tiny_sam, tmp_path, monkeypatch):
    def missing():
        raise FileNotFoundError("resources/sample/coffee.jpg: the calibration photo is missing or unreadable")

    monkeypatch.setattr(int8_mod, "calibration_images", missing)
    with pytest.raises(EngineError, match="calibration.*coffee.jpg"):  # the app then keeps PyTorch running
        use_openvino(copy.deepcopy(tiny_sam), "int8", cache_dir=tmp_path)


def test_an_entry_another_process_completed_meanwhile_is_kept(tmp_path):
    key = "abc123"
    theirs = tmp_path / key

    def slow_write(folder, progress, cancel):  # while this one writes, another process completes the entry
        theirs.mkdir()
        (theirs / "encoder.xml").write_text("<theirs/>")
        (theirs / "manifest.json").write_text('{"files": {"encoder.xml": 9}}')
        (folder / "encoder.xml").write_text("<mine/>")
        (folder / "manifest.json").write_text('{"files": {"encoder.xml": 7}}')

    entry, made, _ = cache_mod.prepare_entry(None, tmp_path, key, print, write=slow_write)
    assert entry == theirs and (theirs / "encoder.xml").read_text() == "<theirs/>"  # not deleted under them
    assert [p.name for p in tmp_path.iterdir()] == [key]  # and no partial left


def test_no_usage_telemetry_is_sent():
    openvino_telemetry = pytest.importorskip("openvino_telemetry")
    import nncf.telemetry.wrapper as wrapper

    cache_mod.quiet_telemetry()
    assert openvino_telemetry.Telemetry is cache_mod._NoTelemetry  # what OpenVINO's conversion constructs
    sender = openvino_telemetry.Telemetry(app_name="ovc", tid="G-TEST", backend="ga4")
    assert sender.send_event("ovc", "convert", "torch") is None and sender.start_session("ovc") is None
    if hasattr(wrapper.telemetry, "_impl"):  # NNCF's own instance (a stub under pytest already)
        assert isinstance(wrapper.telemetry._impl, cache_mod._NoTelemetry)
