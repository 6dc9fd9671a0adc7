"""samlabel.sam.fast.openvino_engine: the image encoder exported to OpenVINO, cached, compiled.

Small random models (SAM 1 ``test_tiny`` ViT, a small TinyViT, a small SAM 2 Hiera): the f32
engine equals PyTorch within 1e-4 (the same bound as the reference-equivalence tests), bf16 is
close and tagged, the cache is reused, renewed for other weights, repaired when damaged and never
left half-written. Each export takes 5-10 s here, so exports are shared through module-scoped
cache folders where the weights are the same.
"""

from __future__ import annotations

import copy
import errno
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("openvino", reason="the OpenVINO engine's tests need the openvino package ([dev] installs it)")

import samlabel.sam.fast.openvino_cache as cache_mod  # noqa: E402
import samlabel.sam.fast.precision as precision  # noqa: E402
from samlabel.sam import SamPredictor  # noqa: E402
from samlabel.sam.compute_path import encode_image, image_features  # noqa: E402
from samlabel.sam.embedding import compute_embedding  # noqa: E402
from samlabel.sam.errors import Cancelled  # noqa: E402
from samlabel.sam.fast.openvino_engine import (EngineError, EngineUnavailableError, cache_key,  # noqa: E402
                                               engine_of, stop_openvino, use_openvino)
from samlabel.sam.fast.precision import encoder_precision, set_encoder_precision  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_models import TinyVitHolder, noise_image  # noqa: E402

NATIVE_BF16, NATIVE_REASON = precision.native_bf16()
needs_bf16 = pytest.mark.skipif(not NATIVE_BF16, reason=f"no native bf16 on this CPU: {NATIVE_REASON}")
F32_BOUND = 1e-4


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("openvino-cache")


@pytest.fixture(scope="module")
def ov_tiny_sam(tiny_sam, cache):
    return use_openvino(copy.deepcopy(tiny_sam), "f32", cache_dir=cache)


# ----------------------------------------------------------------------------- equal to PyTorch
def test_f32_vit_engine_equals_pytorch_and_leaves_the_plain_path(tiny_sam, ov_tiny_sam, monkeypatch):
    image = noise_image()
    ref = compute_embedding(tiny_sam, image, path="plain")
    emb = compute_embedding(ov_tiny_sam, image)
    assert emb.model_id == tiny_sam.model_id  # f32: the same model, no suffix
    assert engine_of(ov_tiny_sam) is not None and engine_of(tiny_sam) is None
    assert 0 < (emb.features - ref.features).abs().max().item() <= F32_BOUND  # OpenVINO ran (not bit-equal)
    # the plain path still runs the PyTorch modules, not the engine
    engine = engine_of(ov_tiny_sam)
    monkeypatch.setattr(engine, "_one", lambda *a: pytest.fail("the plain path called OpenVINO"))
    plain = compute_embedding(ov_tiny_sam, image, path="plain")
    assert torch.equal(plain.features, ref.features)


def test_f32_vit_engine_gives_the_pytorch_masks(tiny_sam, ov_tiny_sam):
    image = noise_image(seed=3)
    ours, theirs = SamPredictor(ov_tiny_sam), SamPredictor(tiny_sam)
    ours.set_image(image)
    theirs.set_image(image)
    for point in ([40, 30], [120, 90], [80, 60]):
        m1, s1, l1 = ours.predict(point_coords=np.array([point]), point_labels=np.array([1]))
        m0, s0, l0 = theirs.predict(point_coords=np.array([point]), point_labels=np.array([1]))
        assert np.abs(s1 - s0).max() <= 1e-4 and np.abs(l1 - l0).max() <= 1e-3
        assert (m1 != m0).mean() <= 1e-3


def test_f32_tinyvit_engine_equals_pytorch(cache):
    holder = TinyVitHolder().eval()
    x = torch.randn(2, 3, 256, 256)  # a batch runs image by image
    with torch.no_grad():
        ref = holder.image_encoder(x)
        use_openvino(holder, "f32", cache_dir=cache)
        out = encode_image(holder, x)
    assert out.shape == ref.shape and out.dtype == torch.float32
    assert (out - ref).abs().max().item() <= F32_BOUND


def test_f32_sam2_engine_equals_pytorch_with_the_high_res_maps(small_sam2, cache):
    model = use_openvino(copy.deepcopy(small_sam2), "f32", cache_dir=cache)
    x = torch.randn(2, 3, small_sam2.image_size, small_sam2.image_size)
    with torch.no_grad():
        ref = image_features(small_sam2, x, path="plain")
        out = image_features(model, x)
    assert (out["image_embed"] - ref["image_embed"]).abs().max().item() <= F32_BOUND
    for a, b in zip(out["high_res_feats"], ref["high_res_feats"]):
        assert a.shape == b.shape and (a - b).abs().max().item() <= F32_BOUND
    emb = compute_embedding(model, noise_image(96, 128))
    assert emb.high_res_features and len(emb.high_res_features) == 2


# ----------------------------------------------------------------------------- bf16
@needs_bf16
def test_bf16_engine_is_close_tagged_and_reported(tiny_sam, small_sam2, cache):
    image = noise_image()
    ref = compute_embedding(tiny_sam, image)
    model = use_openvino(copy.deepcopy(tiny_sam), "bf16", cache_dir=cache)
    emb = compute_embedding(model, image)
    assert 0 < _rel(emb.features, ref.features) < 0.03  # really bf16, and close
    assert model.model_id == tiny_sam.model_id + "+ov-bf16" == emb.model_id  # not PyTorch's +bf16
    assert encoder_precision(model) == "bf16"
    assert all(p.dtype == torch.float32 for p in model.parameters())  # PyTorch's weights untouched
    sam2 = use_openvino(copy.deepcopy(small_sam2), "bf16", cache_dir=cache)
    e0, e1 = compute_embedding(small_sam2, noise_image(96, 128)), compute_embedding(sam2, noise_image(96, 128))
    assert 0 < _rel(e1.features, e0.features) < 0.03
    assert all(0 < _rel(a, b) < 0.03 for a, b in zip(e1.high_res_features, e0.high_res_features))


def test_bf16_is_refused_without_native_bf16(tiny_sam, cache, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda: (False, "this CPU lacks AVX512-BF16 and AMX"))
    with pytest.raises(EngineUnavailableError, match="AVX512-BF16"):
        use_openvino(copy.deepcopy(tiny_sam), "bf16", cache_dir=cache)


def test_a_model_reduced_in_pytorch_or_elsewhere_is_refused(tiny_sam, ov_tiny_sam, cache, monkeypatch):
    from samlabel.sam.fast.quantize import quantize_encoder

    monkeypatch.setattr(precision, "native_bf16", lambda: (True, "test"))  # this CPU's bf16 is not the point

    with pytest.raises(ValueError, match="already runs in int8"):
        use_openvino(quantize_encoder(copy.deepcopy(tiny_sam), "int8"), "f32", cache_dir=cache)
    with pytest.raises(ValueError, match="already runs in OpenVINO f32"):
        use_openvino(ov_tiny_sam, "bf16", cache_dir=cache)
    assert use_openvino(ov_tiny_sam, "f32", cache_dir=cache) is ov_tiny_sam  # the same: nothing to do
    with pytest.raises(ValueError, match="precision must be one of"):
        use_openvino(copy.deepcopy(tiny_sam), "fp16", cache_dir=cache)


def test_without_openvino_the_error_says_how_to_install_it(tiny_sam, cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(EngineUnavailableError, match=r"samlabel\[openvino\]"):
        use_openvino(copy.deepcopy(tiny_sam), "f32", cache_dir=cache)


# ----------------------------------------------------------------------------- the cache
def test_the_second_use_reads_the_cache(tiny_sam, ov_tiny_sam, cache, monkeypatch):
    assert engine_of(ov_tiny_sam).info.cache_path == cache / cache_key(tiny_sam)
    monkeypatch.setattr(cache_mod, "_export_to", lambda *a: pytest.fail("exported again"))
    messages = []
    again = use_openvino(copy.deepcopy(tiny_sam), "f32", cache_dir=cache, progress=messages.append)
    info = engine_of(again).info
    assert not info.exported and info.export_s == 0.0 and "from the cache" in messages[-1]
    x = torch.randn(1, 3, 1024, 1024)
    assert torch.equal(encode_image(again, x), encode_image(ov_tiny_sam, x))


def test_other_weights_get_their_own_entry(tiny_sam):
    other = copy.deepcopy(tiny_sam)
    with torch.no_grad():
        other.image_encoder.neck[0].weight[0, 0, 0, 0] += 1e-3
    assert cache_key(other) != cache_key(tiny_sam)
    assert cache_key(copy.deepcopy(tiny_sam)) == cache_key(tiny_sam)
    other.mask_decoder.iou_token.weight.data.add_(1.0)  # the decoder is not exported: same entry
    other.image_encoder.neck[0].weight.data.copy_(tiny_sam.image_encoder.neck[0].weight)
    assert cache_key(other) == cache_key(tiny_sam)


def test_a_damaged_entry_is_exported_again(tmp_path):
    holder = TinyVitHolder().eval()
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        ref = holder.image_encoder(x)
    first = use_openvino(copy.deepcopy(holder), "f32", cache_dir=tmp_path)
    entry = engine_of(first).info.cache_path
    weights = entry / "encoder.bin"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])  # truncated, as by a crash
    again = use_openvino(copy.deepcopy(holder), "f32", cache_dir=tmp_path)
    assert engine_of(again).info.exported
    assert (encode_image(again, x) - ref).abs().max().item() <= F32_BOUND
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]  # no partial folder left


def test_a_full_disk_leaves_no_entry_and_the_model_as_it_was(tmp_path, monkeypatch):
    import openvino as ov

    def full(*args, **kwargs):  # OpenVINO reports a failed write as a RuntimeError
        raise RuntimeError(os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ov, "save_model", full)
    holder = TinyVitHolder().eval()
    with pytest.raises(EngineError, match="No space left") as info:
        use_openvino(holder, "f32", cache_dir=tmp_path)
    assert str(tmp_path) in str(info.value)  # names where it tried to write
    assert list(tmp_path.iterdir()) == []  # nothing half-written under any name
    assert engine_of(holder) is None


def test_an_unwritable_cache_folder_is_an_engine_error_naming_it(tmp_path):
    root = tmp_path / "not-a-folder"
    root.write_text("a file where the cache folder should be")
    holder = TinyVitHolder().eval()
    with pytest.raises(EngineError, match="not-a-folder"):
        use_openvino(holder, "f32", cache_dir=root)
    assert engine_of(holder) is None


def test_an_incomplete_entry_left_behind_is_replaced(tmp_path):
    holder = TinyVitHolder().eval()
    entry = tmp_path / cache_key(holder)
    entry.mkdir()
    (entry / "encoder.xml").write_text("<net/>")  # a crash between files: no manifest
    old = tmp_path / f"{entry.name}.partial-1-abc"
    old.mkdir()
    os.utime(old, (1, 1))  # a killed export's folder, long ago
    model = use_openvino(holder, "f32", cache_dir=tmp_path)
    assert engine_of(model).info.exported and (entry / "manifest.json").is_file()
    assert not old.exists()  # swept
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        assert (encode_image(model, x) - model.image_encoder(x)).abs().max().item() <= F32_BOUND


def test_a_new_export_keeps_only_the_most_recently_used_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "KEEP_ENTRIES", 3)
    for i in range(4):  # complete entries of other weights, used i days ago
        old = tmp_path / f"old{i}"
        old.mkdir()
        (old / "encoder.xml").write_text("<net/>")
        (old / "manifest.json").write_text('{"files": {"encoder.xml": 6}}')
        os.utime(old / "manifest.json", (time.time() - 86400 * (i + 1),) * 2)
    model = use_openvino(TinyVitHolder().eval(), "f32", cache_dir=tmp_path)
    entry = engine_of(model).info.cache_path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([entry.name, "old0", "old1"])
    # a use touches its entry: old1 is now the most recent of the others
    os.utime(tmp_path / "old0" / "manifest.json", (time.time() - 86400 * 9,) * 2)
    assert cache_mod.entry_ok(tmp_path / "old1")
    cache_mod.prepare_entry(None, tmp_path, "old1", print)  # found, not exported: touched
    assert (tmp_path / "old1" / "manifest.json").stat().st_mtime > time.time() - 60


def test_a_failed_export_is_remembered_not_repeated(tmp_path, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("unsupported operator aten::frobnicate")

    monkeypatch.setattr(torch.export, "export", broken)
    with pytest.raises(EngineError, match="frobnicate"):
        use_openvino(TinyVitHolder().eval(), "f32", cache_dir=tmp_path)
    with pytest.raises(EngineError, match="failed before.*frobnicate"):
        use_openvino(TinyVitHolder().eval(), "f32", cache_dir=tmp_path)
    assert len(calls) == 1
    assert [p.suffix for p in tmp_path.iterdir()] == [".failed"]  # no partial folder either


# ----------------------------------------------------------------------------- running it
def test_cancel_stops_the_image_and_the_engine_is_reused_at_once(ov_tiny_sam, tiny_sam):
    image = noise_image()
    with pytest.raises(Cancelled):
        compute_embedding(ov_tiny_sam, image, cancel=lambda: True)
    asked = []

    def later():  # false before the image starts, true while it runs (or right after it)
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(Cancelled):
        compute_embedding(ov_tiny_sam, image, cancel=later)
    emb = compute_embedding(ov_tiny_sam, image)  # the same request, straight after a cancel
    ref = compute_embedding(tiny_sam, image)
    assert (emb.features - ref.features).abs().max().item() <= F32_BOUND


def test_threads_take_turns_and_each_gets_its_own_image(ov_tiny_sam, tiny_sam):
    images = [noise_image(seed=s) for s in range(4)]
    refs = [compute_embedding(tiny_sam, im).features for im in images]
    results, errors = {}, []

    def work(i):
        try:
            for _ in range(2):
                results[i] = compute_embedding(ov_tiny_sam, images[i]).features
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, ref in enumerate(refs):
        assert (results[i] - ref).abs().max().item() <= F32_BOUND


def test_a_copy_of_the_model_compiles_its_own_engine(ov_tiny_sam):
    twin = copy.deepcopy(ov_tiny_sam)
    assert engine_of(twin) is not None and engine_of(twin) is not engine_of(ov_tiny_sam)
    assert engine_of(twin).info == engine_of(ov_tiny_sam).info
    x = torch.randn(1, 3, 1024, 1024)
    assert torch.equal(encode_image(twin, x), encode_image(ov_tiny_sam, x))


def test_pytorch_precisions_are_refused_on_an_openvino_encoder(ov_tiny_sam):
    with pytest.raises(ValueError, match="runs on OpenVINO"):
        set_encoder_precision(copy.deepcopy(ov_tiny_sam), "int8")


def test_a_wrong_input_size_is_a_clear_error(ov_tiny_sam):
    with pytest.raises(ValueError, match=r"\(B, 3, 1024, 1024\)"):
        encode_image(ov_tiny_sam, torch.zeros(1, 3, 512, 512))


def test_stop_openvino_goes_back_to_pytorch(tiny_sam, cache):
    model = use_openvino(copy.deepcopy(tiny_sam), "f32", cache_dir=cache)
    x = torch.randn(1, 3, 1024, 1024)
    stop_openvino(model)
    assert engine_of(model) is None
    assert torch.equal(encode_image(model, x), encode_image(tiny_sam, x))


def test_set_encoder_precision_sees_the_openvino_bf16_encoder(tiny_sam, cache):
    if not NATIVE_BF16:
        pytest.skip(f"no native bf16 on this CPU: {NATIVE_REASON}")
    model = use_openvino(copy.deepcopy(tiny_sam), "bf16", cache_dir=cache)
    assert set_encoder_precision(model, "bf16") is model  # already bf16: nothing changes
    with pytest.raises(ValueError):
        stop_openvino(model)
