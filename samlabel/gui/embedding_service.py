"""Image embeddings computed off the UI thread, cached, prefetched and cancellable.

:class:`EmbeddingService` owns one worker thread (a ``QThread`` running a small job loop); each
job runs on a short-lived thread of its own (:mod:`samlabel.gui.transient_thread`), so the
encoder's OpenMP threads end with the job instead of slowing the hover decoder later.
The UI thread calls :meth:`EmbeddingService.request` for the image it shows and
:meth:`EmbeddingService.prefetch` for images the user will probably open next.

- Every request is tagged with the image's cache key (content hash + model id) and a
  generation number. Results arrive through the ``ready`` signal on the UI thread carrying
  that key; the service forwards only the result for the *current* key, so an embedding
  can never be applied to another image.
- Requesting another image sets the running job's cancel flag; the encoder polls it
  between transformer blocks and raises ``Cancelled``. (A prefetch of the image that just
  became current is not cancelled: it is promoted.)
- Prefetch jobs run only when no current job waits, and pause (between encoder blocks)
  while the user is interacting (see :meth:`note_interaction`), so they never slow the
  hover preview down for long.
- Results go into an :class:`EmbeddingCache` (memory LRU + disk).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal

from samlabel.sam.embedding_cache import EmbeddingCache
from samlabel.annotations.image_source import ImageLoadError
from samlabel.gui.transient_thread import run_on_transient_thread
from samlabel.sam.embedding import ImageEmbedding, compute_embedding, model_id_of
from samlabel.sam.errors import Cancelled

log = logging.getLogger(__name__)

_ORPHANS: list = []  # worker threads that did not stop in time at shutdown

ImageLoader = Callable[[], np.ndarray]  # returns (H, W, 3) uint8 RGB
ComputeFn = Callable[..., ImageEmbedding]  # (model, image, cancel=...) -> ImageEmbedding


def default_encoder_threads() -> int:
    """torch's own default (the physical cores), read before any worker changed it."""
    global _DEFAULT_THREADS
    if _DEFAULT_THREADS is None:
        import torch

        _DEFAULT_THREADS = max(1, torch.get_num_threads())
    return _DEFAULT_THREADS


_DEFAULT_THREADS: int | None = None


@dataclass
class _Job:
    key: str
    generation: int
    load: ImageLoader
    prefetch: bool
    cancel_event: threading.Event = field(default_factory=threading.Event)


class _Worker(QThread):
    """The job loop. Signals are emitted from this thread and queued to the UI thread."""

    jobStarted = Signal(str, int, bool)  # key, generation, is_prefetch
    jobDone = Signal(str, int, object, float, bool)  # key, generation, embedding, seconds, from_cache
    jobFailed = Signal(str, int, str)
    jobCancelled = Signal(str, int)

    def __init__(self, service: "EmbeddingService") -> None:
        super().__init__()
        self._service = service
        self.setObjectName("samlabel-embedding")

    def run(self) -> None:  # noqa: D102 - QThread entry point
        svc = self._service
        while True:
            with svc._cond:
                while not svc._stopping and svc._current is None and not svc._prefetch:
                    svc._cond.wait()
                if svc._stopping:
                    return
                if svc._current is not None:
                    job, svc._current = svc._current, None
                else:
                    job = svc._prefetch.pop(0)
                svc._running = job
            try:
                # each job on a thread that ends with it: an idle OpenMP team left by the
                # encoder would slow every later hover decode after a pause (transient_thread)
                run_on_transient_thread(lambda: self._run_job(job), svc.torch_threads, "samlabel-encoder")
            finally:
                with svc._cond:
                    svc._running = None
                    svc._cond.notify_all()

    def _run_job(self, job: _Job) -> None:
        svc = self._service
        if job.cancel_event.is_set():
            self.jobCancelled.emit(job.key, job.generation)
            return
        self.jobStarted.emit(job.key, job.generation, job.prefetch)
        t0 = time.perf_counter()
        try:
            emb = svc.cache.get(job.key, svc.model_id)
            if emb is not None:
                self.jobDone.emit(job.key, job.generation, emb, time.perf_counter() - t0, True)
                return
            image = job.load()
            emb = svc._compute(svc.model, image, cancel=lambda: svc._should_stop(job))
            seconds = time.perf_counter() - t0
            svc.cache.put(job.key, emb)
            self.jobDone.emit(job.key, job.generation, emb, seconds, False)
        except Cancelled:
            self.jobCancelled.emit(job.key, job.generation)
        except ImageLoadError as exc:  # a bad file (named in the message), not a bug: no traceback
            log.warning("embedding skipped for %s: %s", job.key, exc)
            self.jobFailed.emit(job.key, job.generation, str(exc))
        except Exception as exc:  # noqa: BLE001 - report any failure to the UI
            log.exception("embedding failed for %s", job.key)
            self.jobFailed.emit(job.key, job.generation, f"{type(exc).__name__}: {exc}")


class EmbeddingService(QObject):
    """Computes the current image's embedding in a worker; see the module docstring.

    Signals (UI thread):
        started(key): the encoder started on the current image.
        ready(key, embedding, seconds, from_cache): the current image's embedding.
        failed(key, message)
        prefetched(key): a prefetch finished (embedding now cached).
    """

    started = Signal(str)
    ready = Signal(str, object, float, bool)
    failed = Signal(str, str)
    prefetched = Signal(str)

    def __init__(self, model, cache: EmbeddingCache, compute: ComputeFn = compute_embedding, parent=None,
                 torch_threads: int | None = None) -> None:
        super().__init__(parent)
        self.torch_threads = torch_threads or default_encoder_threads()
        self.model = model
        self.model_id = model_id_of(model)
        self.cache = cache
        self._compute = compute
        self._cond = threading.Condition()
        self._current: _Job | None = None
        self._prefetch: list[_Job] = []
        self._running: _Job | None = None
        self._stopping = False
        self._generation = 0
        self._delivered_generation = -1
        self._memory_hit_generation = -1
        self._current_key: str | None = None
        self._pause_until = 0.0
        self._worker = _Worker(self)
        self._worker.jobStarted.connect(self._on_started)
        self._worker.jobDone.connect(self._on_done)
        self._worker.jobFailed.connect(self._on_failed)
        self._worker.start()

    # ------------------------------------------------------------------ API
    @property
    def current_key(self) -> str | None:
        return self._current_key

    def key_for(self, content_hash: str) -> str:
        from samlabel.sam.embedding_cache import cache_key

        return cache_key(self.model_id, content_hash)

    def request(self, key: str, load: ImageLoader) -> int:
        """Make ``key`` the current image; returns the request's generation.

        The embedding arrives through ``ready`` (at once, via the event loop, when it is in
        memory). Any other running or queued job for the current image is cancelled.
        """
        self._generation += 1
        gen = self._generation
        self._current_key = key
        emb = self.cache.get_memory(key)
        with self._cond:
            self._prefetch = [j for j in self._prefetch if j.key != key]
            if self._current is not None:
                self._current.cancel_event.set()
                self._current = None
            running = self._running
            if running is not None and running.key != key:
                running.cancel_event.set()
            promoted = emb is None and running is not None and running.key == key and not running.cancel_event.is_set()
            if promoted:
                running.prefetch = False
            elif emb is None:
                self._current = _Job(key, gen, load, prefetch=False)
                self._cond.notify_all()
        if emb is not None:
            self._memory_hit_generation = gen
            QTimer.singleShot(0, self, lambda: self._deliver(key, emb, 0.0, True))
        return gen

    def prefetch(self, key: str, load: ImageLoader) -> None:
        """Compute ``key`` when idle (no-op when cached or already queued)."""
        if self.cache.contains(key):
            return
        with self._cond:
            if any(j.key == key for j in self._prefetch) or (self._running and self._running.key == key):
                return
            self._prefetch.append(_Job(key, 0, load, prefetch=True))
            self._cond.notify_all()

    def note_interaction(self, seconds: float = 0.5) -> None:
        """The user is prompting: prefetch jobs pause for ``seconds``."""
        self._pause_until = time.monotonic() + seconds

    def cancel_prefetch(self) -> None:
        with self._cond:
            self._prefetch.clear()
            if self._running is not None and self._running.prefetch:
                self._running.cancel_event.set()

    def is_busy(self) -> bool:
        with self._cond:
            return self._running is not None or self._current is not None

    def shutdown(self, timeout_ms: int = 60000) -> None:
        """Cancel everything and stop the worker thread."""
        with self._cond:
            self._stopping = True
            for job in [self._current, self._running, *self._prefetch]:
                if job is not None:
                    job.cancel_event.set()
            self._prefetch.clear()
            self._cond.notify_all()
        if not self._worker.wait(timeout_ms):
            _ORPHANS.append(self._worker)  # never destroy a running QThread (Qt aborts)

    # -------------------------------------------------------------- worker side
    def _should_stop(self, job: _Job) -> bool:
        """The encoder's cancel callable; prefetch jobs also wait here while the user interacts."""
        while job.prefetch and not job.cancel_event.is_set() and not self._stopping:
            remaining = self._pause_until - time.monotonic()
            if remaining <= 0:
                break
            job.cancel_event.wait(min(remaining, 0.1))
        return job.cancel_event.is_set() or self._stopping

    # ------------------------------------------------------------------ UI side
    def _on_started(self, key: str, generation: int, is_prefetch: bool) -> None:
        if key == self._current_key and not is_prefetch:
            self.started.emit(key)

    def _on_done(self, key: str, generation: int, emb: object, seconds: float, from_cache: bool) -> None:
        if key == self._current_key:
            self._deliver(key, emb, seconds, from_cache)
        else:
            self.prefetched.emit(key)

    def _deliver(self, key: str, emb: object, seconds: float, from_cache: bool) -> None:
        # the image may have changed while this was queued; deliver once per request
        if key == self._current_key and self._delivered_generation != self._generation:
            self._delivered_generation = self._generation
            if self._memory_hit_generation == self._generation:
                seconds, from_cache = 0.0, True  # it was in memory when requested
            self.ready.emit(key, emb, seconds, from_cache)

    def _on_failed(self, key: str, generation: int, message: str) -> None:
        if key == self._current_key:
            self.failed.emit(key, message)
