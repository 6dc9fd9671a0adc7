"""The worker services: cancellation, never the wrong image, newest request wins."""

import threading

import numpy as np
import pytest

from samlabel.gui.decoder_service import DecoderService
from samlabel.sam.embedding_cache import EmbeddingCache
from samlabel.gui.embedding_service import EmbeddingService
from samlabel.gui.prompt_state import PromptState

from .fakes import FakeModel, GatedCompute, GatedSession


def _image(tag: int) -> np.ndarray:
    return np.full((6, 8, 3), tag, np.uint8)


@pytest.fixture
def service_factory(qtbot):
    made = []

    def make(compute, cache=None):
        svc = EmbeddingService(FakeModel(), cache or EmbeddingCache(None), compute=compute)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.shutdown()


def test_switching_images_cancels_the_running_encoder(qtbot, service_factory):
    compute = GatedCompute(cooperative=True)
    svc = service_factory(compute)
    got = []
    svc.ready.connect(lambda key, emb, s, cached: got.append((key, float(emb.features[0, 0, 0, 0]))))
    svc.request("A", lambda: _image(1))
    qtbot.waitUntil(lambda: compute.started.is_set())
    svc.request("B", lambda: _image(2))
    qtbot.waitUntil(lambda: compute.cancelled == [1], timeout=5000)
    compute.release.set()
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert got == [("B", 2.0)]
    assert compute.finished == [2]


def test_a_late_result_is_never_applied_to_another_image(qtbot, service_factory):
    compute = GatedCompute(cooperative=False)  # ignores the cancel flag: A finishes anyway
    svc = service_factory(compute)
    got = []
    svc.ready.connect(lambda key, emb, s, cached: got.append((key, float(emb.features[0, 0, 0, 0]))))
    svc.request("A", lambda: _image(1))
    qtbot.waitUntil(lambda: compute.started.is_set())
    svc.request("B", lambda: _image(2))
    compute.release.set()
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    qtbot.waitUntil(lambda: compute.finished == [1, 2], timeout=5000)
    qtbot.waitUntil(lambda: not svc.is_busy(), timeout=5000)
    assert got == [("B", 2.0)]  # A's embedding was computed but not delivered for B


def test_reopening_an_image_costs_no_encoder_time(qtbot, service_factory, tmp_path):
    compute = GatedCompute()
    compute.release.set()
    svc = service_factory(compute, EmbeddingCache(tmp_path))
    with qtbot.waitSignal(svc.ready, timeout=5000) as blocker:
        svc.request("A", lambda: _image(1))
    assert blocker.args[3] is False
    with qtbot.waitSignal(svc.ready, timeout=5000) as blocker:
        svc.request("A", lambda: _image(1))
    assert blocker.args[3] is True and compute.calls == [1]
    # a fresh service (new memory) reads the disk cache
    svc2 = service_factory(compute, EmbeddingCache(tmp_path))
    with qtbot.waitSignal(svc2.ready, timeout=5000) as blocker:
        svc2.request("A", lambda: _image(1))
    assert blocker.args[3] is True and compute.calls == [1]


def test_prefetch_runs_when_idle_and_is_promoted_when_opened(qtbot, service_factory):
    compute = GatedCompute()
    svc = service_factory(compute)
    svc.prefetch("N", lambda: _image(5))
    qtbot.waitUntil(lambda: compute.started.is_set())
    got = []
    svc.ready.connect(lambda key, emb, s, cached: got.append(key))
    svc.request("N", lambda: _image(5))  # the running prefetch becomes the current job
    compute.release.set()
    qtbot.waitUntil(lambda: got == ["N"], timeout=5000)
    assert compute.calls == [5] and compute.cancelled == []


def _prompt(x: float):
    s = PromptState()
    s.set_hover(x, 1.0)
    return s.snapshot()


def test_burst_of_requests_only_decodes_and_shows_the_newest(qtbot):
    decoded, gate, entered = [], threading.Event(), threading.Event()
    svc = DecoderService(FakeModel(), session_factory=lambda m, e: GatedSession(decoded, gate, entered))
    shown = []
    svc.resultReady.connect(lambda r: shown.append(r.seq))
    try:
        emb = object()
        svc.request("img", emb, _prompt(0.0), (0, 0, 10, 10), (10, 10))
        qtbot.waitUntil(entered.is_set)  # the worker is busy with request 1
        seqs = [svc.request("img", emb, _prompt(float(i)), (0, 0, 10, 10), (10, 10)) for i in range(1, 21)]
        gate.set()
        qtbot.waitUntil(lambda: seqs[-1] in shown, timeout=5000)
        assert decoded == [0.0, 20.0]  # requests 2..20 were replaced before they started
        assert set(shown) <= {1, seqs[-1]} and shown[-1] == seqs[-1]
        assert svc.decoded_seqs == [1, seqs[-1]]
    finally:
        gate.set()
        svc.shutdown()


def test_stale_results_are_dropped_after_invalidate(qtbot):
    decoded, gate, entered = [], threading.Event(), threading.Event()
    svc = DecoderService(FakeModel(), session_factory=lambda m, e: GatedSession(decoded, gate, entered))
    shown = []
    svc.resultReady.connect(lambda r: shown.append(r.seq))
    try:
        svc.request("img", object(), _prompt(1.0), (0, 0, 4, 4), (4, 4))
        qtbot.waitUntil(entered.is_set)
        svc.invalidate()  # e.g. Esc or another image
        gate.set()
        qtbot.waitUntil(lambda: svc.decoded_seqs == [1] and svc.is_idle(), timeout=5000)
        with qtbot.waitSignal(svc.resultReady, timeout=5000):
            svc.request("img", object(), _prompt(2.0), (0, 0, 4, 4), (4, 4))
        assert shown == [3]
    finally:
        gate.set()
        svc.shutdown()


def test_cached_embedding_is_delivered_once_even_if_a_job_for_it_still_runs(qtbot, service_factory):
    import torch

    from samlabel.sam.embedding import ImageEmbedding

    compute = GatedCompute()
    svc = service_factory(compute)
    svc.prefetch("N", lambda: _image(5))
    qtbot.waitUntil(compute.started.is_set)
    cached = ImageEmbedding(torch.zeros(1, 2, 4, 4), (6, 8), (6, 8), "fake:1")
    svc.cache.put("N", cached, to_disk=False)  # as if the job had stored it and not yet ended
    got = []
    svc.ready.connect(lambda key, emb, s, from_cache: got.append((key, emb, from_cache)))
    svc.request("N", lambda: _image(5))
    qtbot.waitUntil(lambda: len(got) == 1)
    with qtbot.waitSignal(svc._worker.jobDone, timeout=5000):  # the job's own result reaches the UI thread
        compute.release.set()
    assert compute.finished == [5]
    assert got == [("N", cached, True)]  # delivered once, from the cache


def test_a_prefetched_result_queued_before_the_request_counts_as_cached(qtbot, service_factory):
    compute = GatedCompute()
    svc = service_factory(compute)
    svc.prefetch("N", lambda: _image(5))
    compute.release.set()
    with svc._cond:  # the job ended; its jobDone is queued but not yet delivered (no event loop ran)
        assert svc._cond.wait_for(lambda: compute.finished == [5] and svc._running is None, timeout=10)
    got = []
    svc.ready.connect(lambda key, emb, s, from_cache: got.append((key, from_cache)))
    svc.request("N", lambda: _image(5))
    qtbot.waitUntil(lambda: bool(got))
    from PySide6.QtCore import QCoreApplication

    QCoreApplication.processEvents()  # whatever else was queued (the other delivery path)
    assert got == [("N", True)]


def test_prepare_warms_the_sessions_hover_path_on_the_worker(qtbot):
    """A session with ``warm_hover`` (DecoderSession: records the hover decoder) gets it
    called once, on the worker, while preparing; the first request then finds it done."""
    decoded, gate, entered = [], threading.Event(), threading.Event()
    warmed = []

    class WarmSession(GatedSession):
        def warm_hover(self):
            warmed.append(threading.current_thread())

    svc = DecoderService(FakeModel(), session_factory=lambda model, emb: WarmSession(decoded, gate, entered))
    try:
        emb = object()
        svc.prepare(emb)
        qtbot.waitUntil(lambda: len(warmed) == 1 and svc.is_idle(), timeout=5000)
        assert warmed[0] is not threading.current_thread()
        gate.set()
        with qtbot.waitSignal(svc.resultReady, timeout=5000):
            svc.request("img", emb, _prompt(1.0), (0, 0, 4, 4), (4, 4))
        assert len(warmed) == 1 and decoded == [1.0]  # the request did not warm it again
    finally:
        gate.set()
        svc.shutdown()


def test_prepare_builds_the_session_on_the_worker_before_the_first_request(qtbot):
    decoded, gate, entered = [], threading.Event(), threading.Event()
    built = []

    def factory(model, embedding):
        built.append((embedding, threading.current_thread()))
        return GatedSession(decoded, gate, entered)

    svc = DecoderService(FakeModel(), session_factory=factory)
    try:
        emb = object()
        svc.prepare(emb)
        qtbot.waitUntil(lambda: len(built) == 1 and svc.is_idle(), timeout=5000)
        assert built[0][0] is emb and built[0][1] is not threading.current_thread()
        assert decoded == []  # nothing was decoded: only the session was built
        gate.set()
        with qtbot.waitSignal(svc.resultReady, timeout=5000):
            svc.request("img", emb, _prompt(1.0), (0, 0, 4, 4), (4, 4))
        assert len(built) == 1 and decoded == [1.0]  # the request used the prepared session
        svc.prepare(object())
        svc.invalidate()  # another image: a prepare not started yet is dropped
        qtbot.waitUntil(svc.is_idle, timeout=5000)
        assert len(built) <= 2
    finally:
        gate.set()
        svc.shutdown()


def test_decoded_seqs_keep_only_the_latest(qtbot, monkeypatch):
    """The diagnostics list is bounded: a long session does not grow it."""
    import samlabel.gui.decoder_service as decoder_service

    monkeypatch.setattr(decoder_service, "DECODED_HISTORY", 2)
    decoded, gate, entered = [], threading.Event(), threading.Event()
    gate.set()
    svc = DecoderService(FakeModel(), session_factory=lambda m, e: GatedSession(decoded, gate, entered))
    try:
        emb = object()
        for i in range(4):
            with qtbot.waitSignal(svc.resultReady, timeout=5000):
                seq = svc.request("img", emb, _prompt(float(i)), (0, 0, 4, 4), (4, 4))
        assert decoded == [0.0, 1.0, 2.0, 3.0]
        assert svc.decoded_seqs == [seq - 1, seq]
    finally:
        svc.shutdown()
