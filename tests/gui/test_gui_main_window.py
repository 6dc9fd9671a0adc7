"""The real main window, offscreen, with the tiny random SAM model: prompting end to end."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt

from samlabel.gui.tools import Tool


def vp(win, x: float, y: float) -> QPoint:
    """Viewport position of image pixel (x, y)."""
    return win.canvas.mapFromScene(QPointF(x, y))


def wait_ready(qtbot, win):
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)


def hover(qtbot, win, x, y):
    qtbot.mouseMove(win.canvas.viewport(), vp(win, x, y))


def test_hover_produces_an_overlay(qtbot, make_window, image_folder, tiny_model):
    win = make_window(image_folder, sam_model=tiny_model)
    wait_ready(qtbot, win)
    assert win.tool is Tool.SAM
    assert not win.canvas.mask_item.has_mask
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as blocker:
        hover(qtbot, win, 120, 80)
    result = blocker.args[0]
    assert result.request.prompt.is_hover
    assert np.allclose(result.request.prompt.points[0], (120, 80), atol=1.0)
    assert win.canvas.mask_item.has_mask
    x0, y0, x1, y1 = result.request.region
    assert (x0, y0) == (0, 0) and (x1, y1) == (240, 160)  # the whole image is visible
    assert win.canvas.mask_item.mask.shape == result.mask.shape


def test_clicks_and_a_drag_produce_prompts_and_a_mask(qtbot, make_window, image_folder, tiny_model):
    win = make_window(image_folder, sam_model=tiny_model)
    wait_ready(qtbot, win)
    view = win.canvas.viewport()
    with qtbot.waitSignal(win.predictionShown, timeout=20000):
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=vp(win, 100, 70))
    assert win.sam.state.labels == [1]
    with qtbot.waitSignal(win.predictionShown, timeout=20000):
        qtbot.mouseClick(view, Qt.MouseButton.RightButton, pos=vp(win, 20, 20))
    with qtbot.waitSignal(win.predictionShown, timeout=20000):
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, pos=vp(win, 30, 140))
    assert win.sam.state.labels == [1, 0, 0]
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as blocker:
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=vp(win, 60, 40))
        qtbot.mouseMove(view, vp(win, 120, 90))
        qtbot.mouseMove(view, vp(win, 180, 120))
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=vp(win, 180, 120))
    prompt = blocker.args[0].request.prompt
    assert np.allclose(prompt.box, (60, 40, 180, 120), atol=1.0)
    assert len(prompt.points) == 3 and not prompt.is_hover
    assert prompt.mask_input is not None  # refining with the previous logits
    assert win.canvas.mask_item.has_mask
    # Backspace removes the last point, Esc clears everything
    with qtbot.waitSignal(win.predictionShown, timeout=20000):
        qtbot.keyClick(win.canvas, Qt.Key.Key_Backspace)
    assert len(win.sam.state.points) == 2
    qtbot.keyClick(win.canvas, Qt.Key.Key_Escape)
    assert not win.sam.state.has_clicks and not win.canvas.mask_item.has_mask


def _prompt_with_mask(qtbot, win, candidates=((120, 80), (60, 40), (200, 130), (30, 120))):
    """Random weights: try a few points until one gives a non-empty mask."""
    for x, y in candidates:
        with qtbot.waitSignal(win.predictionShown, timeout=20000) as blocker:
            win.prompt_points([(x, y)], [1])
        if blocker.args[0].mask.any():
            return blocker.args[0]
    raise AssertionError("the tiny random model gave no mask at any probe point")


def test_accept_creates_a_shape_and_the_sidecar_and_undo_removes_it(qtbot, make_window, image_folder, tiny_model):
    from .fakes import BlobSession

    win = make_window(image_folder / "a.png", before_model=lambda w: setattr(w, "decoder_session_factory", BlobSession),
                      sam_model=tiny_model)
    wait_ready(qtbot, win)
    with qtbot.waitSignal(win.predictionShown, timeout=20000):
        win.prompt_points([(120, 80)], [1])
    win.choose_label_index(1)
    label = win.current_label()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    shapes = win.document.shapes
    assert len(shapes) == 1 and shapes[0].label == label and shapes[0].kind == "polygon"
    x0, y0, x1, y1 = shapes[0].bbox()  # the disc of radius 30 around (120, 80), in image pixels
    assert abs(x0 - 90) <= 3 and abs(x1 - 150) <= 3 and abs(y0 - 50) <= 3 and abs(y1 - 110) <= 3
    assert not win.canvas.mask_item.has_mask  # the prompt is cleared after accepting
    sidecar = image_folder / "a.json"
    qtbot.waitUntil(lambda: sidecar.is_file(), timeout=5000)
    data = json.loads(sidecar.read_text())
    assert [s["label"] for s in data["shapes"]] == [label]
    assert "*" not in win.windowTitle() and "a.png" in win.windowTitle()
    assert win.layer.item(shapes[0].uid) is not None
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.document.shapes == ()
    qtbot.waitUntil(lambda: json.loads(sidecar.read_text())["shapes"] == [], timeout=5000)
    assert win.layer.order == []
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(win.document.shapes) == 1


def test_tab_cycles_candidates(qtbot, make_window, image_folder, tiny_model):
    win = make_window(image_folder, sam_model=tiny_model)
    wait_ready(qtbot, win)
    first = _prompt_with_mask(qtbot, win)
    assert len(first.prediction.scores) == 3
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as blocker:
        qtbot.keyClick(win.canvas, Qt.Key.Key_Tab)
    assert blocker.args[0].index == (first.index + 1) % 3
    assert blocker.args[0].prediction is first.prediction  # re-rendered, not decoded again
    assert "scores" in win.statusBar().currentMessage()


def test_switching_images_while_the_encoder_runs_never_applies_it_to_the_wrong_image(
    qtbot, make_window, image_folder, tiny_model
):
    from samlabel.sam.embedding import compute_embedding

    from .fakes import GatedCompute

    gate = GatedCompute(cooperative=False, wrap=compute_embedding)  # a finished A arrives late
    win = make_window(image_folder, before_model=lambda w: setattr(w, "embedding_compute", gate), sam_model=tiny_model)
    qtbot.waitUntil(gate.started.is_set, timeout=10000)
    assert gate.calls == [10] and win.image_path.name == "a.png"
    ready = []
    win.embeddingReady.connect(ready.append)
    ticks = []
    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=5000)  # the UI thread runs while the encoder is busy
    timer.stop()
    assert not win.sam.ready and gate.finished == []
    qtbot.keyClick(win.canvas, Qt.Key.Key_D)  # next image while A is still being encoded
    assert win.image_path.name == "b.png"
    gate.release.set()
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)
    qtbot.waitUntil(lambda: gate.finished == [10, 20], timeout=60000)
    assert ready == [str(image_folder / "b.png")]
    assert win.sam.embedding.original_size == (150, 200)  # b's size, not a's (160, 240)


def test_cooperative_cancel_stops_the_encoder_of_the_image_left(qtbot, make_window, image_folder, tiny_model):
    from .fakes import GatedCompute

    gate = GatedCompute(cooperative=True)
    win = make_window(image_folder, before_model=lambda w: setattr(w, "embedding_compute", gate), sam_model=tiny_model)
    qtbot.waitUntil(gate.started.is_set, timeout=10000)
    win.next_image()
    qtbot.waitUntil(lambda: gate.cancelled == [10], timeout=10000)
    gate.release.set()
    qtbot.waitUntil(lambda: gate.finished == [20], timeout=10000)


def test_a_burst_of_hover_events_yields_only_the_newest_result(qtbot, make_window, image_folder, tiny_model):
    import threading

    from samlabel.gui.decoder_service import default_session_factory

    gate, entered, decoded = threading.Event(), threading.Event(), []

    class Gated:
        def __init__(self, model, emb):
            self.inner = default_session_factory(model, emb)

        def decode(self, prompt, image_only=False):
            decoded.append(tuple(float(v) for v in prompt.points[0]))
            entered.set()
            gate.wait(30)
            return self.inner.decode(prompt, image_only=image_only)

    win = make_window(image_folder, before_model=lambda w: setattr(w, "decoder_session_factory", Gated),
                      sam_model=tiny_model)
    wait_ready(qtbot, win)
    shown = []
    win.predictionShown.connect(lambda r: shown.append(tuple(float(v) for v in r.request.prompt.points[0])))
    try:
        hover(qtbot, win, 20, 20)
        qtbot.waitUntil(entered.is_set, timeout=5000)
        positions = [(20 + 10 * i, 30 + 5 * i) for i in range(1, 16)]
        for x, y in positions:
            hover(qtbot, win, x, y)
        gate.set()
        last = positions[-1]
        qtbot.waitUntil(lambda: bool(shown) and np.allclose(shown[-1], last, atol=1.0), timeout=20000)
        assert len(decoded) == 2  # the in-flight one and the newest; 14 were never decoded
        assert np.allclose(decoded[-1], last, atol=1.0)
        assert len(shown) <= 2
    finally:
        gate.set()


def test_next_and_previous_save_on_the_way(qtbot, make_window, image_folder, tiny_model):
    from samlabel.annotations import Shape

    win = make_window(image_folder, sam_model=tiny_model)
    win.document.add_shape(Shape.polygon("car", [(1, 1), (30, 1), (30, 30)]))
    win._autosave_timer.stop()  # make sure it is the navigation that saves
    assert win.next_image() and win.image_path.name == "b.png"
    assert json.loads((image_folder / "a.json").read_text())["shapes"][0]["label"] == "car"
    assert win.files_dock.is_marked(image_folder / "a.png")
    assert not win.files_dock.is_marked(image_folder / "b.png")
    assert win.prev_image() and len(win.document.shapes) == 1
    assert not win.prev_image()  # already at the first image


def test_zooming_renders_the_mask_again_for_the_visible_region(qtbot, make_window, image_folder, tiny_model):
    win = make_window(image_folder, sam_model=tiny_model)
    wait_ready(qtbot, win)
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as first:
        hover(qtbot, win, 120, 80)
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as again:
        win.canvas.zoom_by(4.0)
    x0, y0, x1, y1 = again.args[0].request.region
    assert x1 - x0 < 240 and y1 - y0 < 160  # only the visible part
    assert again.args[0].prediction is first.args[0].prediction  # no new decode


def test_the_next_image_is_prefetched_and_opens_without_encoder_time(qtbot, make_window, image_folder, tiny_model):
    from samlabel.annotations.image_source import hash_bytes

    win = make_window(image_folder, sam_model=tiny_model)
    wait_ready(qtbot, win)
    key_b = win.embeddings.key_for(hash_bytes((image_folder / "b.png").read_bytes()))
    qtbot.waitUntil(lambda: win.embeddings.cache.contains(key_b), timeout=60000)
    with qtbot.waitSignal(win.embeddings.ready, timeout=10000) as blocker:
        win.next_image()
    assert blocker.args[0] == key_b and blocker.args[3] is True  # from the cache


def test_model_from_a_checkpoint_loads_in_the_background(qtbot, make_window, image_folder, tiny_model, tmp_path):
    import torch

    ckpt = tmp_path / "tiny.pth"
    torch.save(tiny_model.state_dict(), ckpt)
    win = make_window(image_folder, model_name="test_tiny", checkpoint=str(ckpt))
    assert win.model_choice.available
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)  # model loaded in a thread, then the embedding
    assert win.ai_available and win.sam.embedding.original_size == (160, 240)
    assert win.model.model_id.startswith("test_tiny:") and "random" not in win.model.model_id
    assert win.tool is Tool.SAM


def test_int8_mode_quantises_the_loaded_encoder_and_says_so(qtbot, make_window, image_folder, tiny_model, tmp_path):
    import torch
    from samlabel.sam.fast.quantize import is_quantized

    ckpt = tmp_path / "tiny.pth"
    torch.save(tiny_model.state_dict(), ckpt)
    # PyTorch's dynamic int8 (the OpenVINO int8 engine, which --engine auto takes where installed:
    # tests/gui/test_gui_precision.py)
    win = make_window(image_folder, model_name="test_tiny", checkpoint=str(ckpt), device="cpu", quantize="int8",
                      engine="torch")
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)  # the quantised encoder made the embedding
    assert is_quantized(win.model)
    assert win.model.model_id.endswith("+int8")  # never mixed with fp32 embeddings in the cache
    assert "int8" in win._model_status.text()


def test_a_missing_checkpoint_file_disables_ai_with_a_message(qtbot, make_window, image_folder, tmp_path):
    win = make_window(image_folder, model_name="vit_b", checkpoint=str(tmp_path / "nope.pth"))
    assert not win.ai_available
    assert "nope.pth" in win.model_choice.message


def test_segment_everything_proposals_become_shapes(qtbot, make_window, image_folder, tiny_model):
    win = make_window(image_folder, sam_model=tiny_model)
    wait_ready(qtbot, win)
    win.actions_by_id["segment_everything"].trigger()
    dialog = win._segment_dialog
    assert dialog.isVisible()
    dialog.points_spin.setValue(dialog.points_spin.minimum())  # few points: quick
    for spin in (dialog.iou_spin, dialog.stability_spin, dialog.area_spin):
        spin.setValue(0)  # random weights: with the default filters nothing would pass (and say so)
    with qtbot.waitSignal(dialog.proposalsReady, timeout=120000) as blocker:
        dialog.start()
    proposals = blocker.args[0]
    assert proposals.image_key == str(win.image_path)
    assert win.proposals_dock.proposals() is proposals
    if len(proposals):
        first = proposals.pending()[0]
        win.proposals_dock.select_ids([first.id])
        win.proposals_dock.accept_selected()
        assert proposals[first.id].state.name == "ACCEPTED"
        assert len(win.document.shapes) <= 1  # (a random-weight speck may trace to nothing)


def test_rapid_navigation_ends_with_the_embedding_of_the_image_shown(qtbot, make_window, image_folder, tiny_model):
    win = make_window(image_folder, sam_model=tiny_model)
    for _ in range(3):
        qtbot.keyClick(win.canvas, Qt.Key.Key_D)
        qtbot.keyClick(win.canvas, Qt.Key.Key_A)
    qtbot.keyClick(win.canvas, Qt.Key.Key_D)
    assert win.image_path.name == "b.png"
    qtbot.waitUntil(lambda: win.sam.ready, timeout=60000)
    assert win.sam.embedding.original_size == (150, 200)
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as blocker:
        hover(qtbot, win, 100, 75)
    assert blocker.args[0].request.region == (0, 0, 200, 150)


def test_a_fragmented_mask_is_traced_in_the_background_and_lands_on_its_image(
    qtbot, make_window, image_folder, tiny_model
):
    from .fakes import ManyBlobsSession

    win = make_window(image_folder, before_model=lambda w: setattr(w, "decoder_session_factory", ManyBlobsSession),
                      sam_model=tiny_model)
    win.tools[Tool.SAM].trace_in_background_above = 10
    wait_ready(qtbot, win)
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as blocker:
        win.prompt_points([(20, 16)], [1])
    assert blocker.args[0].mask.any()
    assert win.accept()
    win.next_image()  # the user moves on before the tracing ends
    sidecar = image_folder / "a.json"
    # one object of 30 parts: 30 labelme shapes sharing a group id
    qtbot.waitUntil(lambda: sidecar.is_file() and len(json.loads(sidecar.read_text())["shapes"]) == 30, timeout=30000)
    shapes = json.loads(sidecar.read_text())["shapes"]
    assert len({(s["label"], s["group_id"]) for s in shapes}) == 1
    assert win.image_path.name == "b.png" and win.document.shapes == ()
    assert shapes[0]["label"] == win.current_label()
    win.prev_image()
    assert len(win.document.shapes[0].polygons) == 30  # every disc is a part


def _recording_session(decodes: list, built: list | None = None):
    """A session factory recording each decode's ``image_only`` flag (and each session built)."""
    from samlabel.gui.decoder_service import default_session_factory

    class Recording:
        def __init__(self, model, emb):
            if built is not None:
                built.append(emb)
            self.inner = default_session_factory(model, emb)

        def decode(self, prompt, image_only=False):
            decodes.append(image_only)
            return self.inner.decode(prompt, image_only=image_only)

    return Recording


def test_hover_decodes_only_the_image_and_clicks_decode_everything(qtbot, make_window, image_folder, tiny_model):
    """Hover previews skip the padding of the square model input (they are never fed back);
    click predictions, whose logits refine the next click, are decoded whole."""
    calls = []
    factory = _recording_session(calls)
    win = make_window(image_folder, before_model=lambda w: setattr(w, "decoder_session_factory", factory),
                      sam_model=tiny_model)
    wait_ready(qtbot, win)
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as hovered:
        hover(qtbot, win, 120, 80)
    assert calls and calls[-1] is True
    pred = hovered.args[0].prediction
    with qtbot.waitSignal(win.predictionShown, timeout=20000) as clicked:
        qtbot.mouseClick(win.canvas.viewport(), Qt.MouseButton.LeftButton, pos=vp(win, 100, 70))
    assert calls[-1] is False
    assert not clicked.args[0].request.prompt.is_hover
    assert pred.logits.shape == clicked.args[0].prediction.logits.shape


def test_the_decoder_session_is_built_when_the_embedding_arrives(qtbot, make_window, image_folder, tiny_model):
    """The per-image decoder work runs on the decoder worker before the first hover."""
    built, decodes = [], []
    factory = _recording_session(decodes, built)
    win = make_window(image_folder, before_model=lambda w: setattr(w, "decoder_session_factory", factory),
                      sam_model=tiny_model)
    wait_ready(qtbot, win)
    qtbot.waitUntil(lambda: len(built) == 1, timeout=20000)
    assert built[0] is win.sam.embedding and decodes == []
    with qtbot.waitSignal(win.predictionShown, timeout=20000):
        hover(qtbot, win, 60, 40)
    assert len(built) == 1 and decodes == [True]


def test_hover_latency_probe_pairs_each_move_with_its_paint(qtbot, make_window, image_folder, tiny_model):
    measure_hover_latency = _window_latency().measure_hover_latency

    win = make_window(image_folder, sam_model=tiny_model)
    wait_ready(qtbot, win)
    report = measure_hover_latency(win, n=4, timeout_s=20.0, warmup=1)
    assert report.dropped == 0
    assert len(report.samples_ms) == len(report.worker_ms) == 4
    # each sample spans the worker's decode and the paint after it
    assert all(s > 0 and s >= w for s, w in zip(report.samples_ms, report.worker_ms))
    assert "median" in report.summary()


def test_hover_latency_probe_can_rest_before_each_move(qtbot, make_window, image_folder, tiny_model, monkeypatch):
    """rest_ms: the event loop runs that long before every move (a hand pausing)."""
    latency = _window_latency()

    rests = []
    real_spin = latency._spin
    monkeypatch.setattr(latency, "_spin", lambda ms: (rests.append(ms), real_spin(ms)))
    win = make_window(image_folder, sam_model=tiny_model)
    wait_ready(qtbot, win)
    report = latency.measure_hover_latency(win, n=3, timeout_s=20.0, warmup=1, rest_ms=25)
    assert len(report.samples_ms) == 3 and report.dropped == 0
    assert rests == [25] * 4  # before each of the 1 + 3 moves


def test_wait_for_signal_returns_the_arguments_or_names_the_signal_on_timeout(qtbot):
    import pytest
    from PySide6.QtCore import QObject, QTimer, Signal

    wait_for_signal = _window_latency().wait_for_signal

    class Emitter(QObject):
        fired = Signal(int, str)

    emitter = Emitter()
    QTimer.singleShot(10, lambda: emitter.fired.emit(7, "ready"))
    assert wait_for_signal(emitter.fired, 10.0) == (7, "ready")
    with pytest.raises(TimeoutError, match="fired"):
        wait_for_signal(emitter.fired, 0.05)
    emitter.fired.emit(1, "late")  # the helper's slot is gone: nothing is collected after a return


def _window_latency():
    """benchmarks/window_latency.py, the hover-latency harness (a benchmark tool, not part of the app)."""
    import importlib.util
    import sys
    from pathlib import Path

    name = "samlabel_bench_window_latency"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "benchmarks" / "window_latency.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
