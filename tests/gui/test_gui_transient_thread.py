"""Model work runs on threads that end with it, so no idle OpenMP team outlives a job.

Why it matters (samlabel.gui.transient_thread): with more libgomp threads alive than CPUs,
libgomp stops its workers spinning between parallel regions, and on the 2-core machine a
hover decode after a pause took 39 ms instead of 22 ms.
"""

from __future__ import annotations

import glob
import sys
import threading

import numpy as np
import pytest
import torch

from samlabel.sam.embedding_cache import EmbeddingCache
from samlabel.gui.embedding_service import EmbeddingService
from samlabel.gui.transient_thread import run_on_transient_thread
from samlabel.sam.embedding import ImageEmbedding, model_id_of

from .fakes import FakeModel


def test_returns_the_result_from_another_thread_that_has_ended():
    seen = []

    def work():
        seen.append(threading.current_thread())
        return 42

    assert run_on_transient_thread(work) == 42
    assert seen[0] is not threading.current_thread()
    assert not seen[0].is_alive()


def test_reraises_the_exception_of_the_work():
    class Boom(RuntimeError):
        pass

    def work():
        raise Boom("the encoder failed")

    with pytest.raises(Boom, match="the encoder failed"):
        run_on_transient_thread(work)


def test_sets_torch_threads_on_the_worker_thread():
    got = run_on_transient_thread(torch.get_num_threads, torch_threads=1)
    assert got == 1


def _threads_named(prefix: str) -> set[str]:
    """Thread ids of this process whose OS name starts with ``prefix``."""
    tids = set()
    for path in glob.glob("/proc/self/task/*/comm"):
        try:
            with open(path) as f:
                if f.read().strip().startswith(prefix):
                    tids.add(path.split("/")[-2])
        except OSError:
            pass  # the thread ended while we listed
    return tids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread names are read from /proc")
def test_encoder_openmp_threads_end_with_the_job(qtbot):
    """The embedding worker (OS name 'samlabel-embedd…') keeps no OpenMP team after a job.

    The fake encoder runs a parallel op with 2 torch threads, which makes libgomp start a
    worker thread for the calling thread; that worker inherits the caller's OS name.
    """

    def compute(model, image, cancel=None):
        torch.ones(1 << 22).add_(1.0)  # 4 M elements: split over the 2 threads
        h, w = image.shape[:2]
        return ImageEmbedding(torch.zeros(1, 2, 4, 4), (h, w), (h, w), model_id_of(model))

    before = _threads_named("samlabel-embedd")  # a service of an earlier test may still be ending
    svc = EmbeddingService(FakeModel(), EmbeddingCache(None), compute=compute, torch_threads=2)
    try:
        with qtbot.waitSignal(svc.ready, timeout=10000):
            svc.request("a", lambda: np.zeros((6, 8, 3), np.uint8))
        # only the service's own QThread is left under that name once the job has ended
        qtbot.waitUntil(lambda: len(_threads_named("samlabel-embedd") - before) == 1, timeout=5000)
    finally:
        svc.shutdown()
