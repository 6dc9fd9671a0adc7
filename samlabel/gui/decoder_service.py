"""The prompt decoder off the UI thread: the newest request always wins.

:class:`DecoderService` owns one worker thread and a single *pending* slot. The UI thread
calls :meth:`DecoderService.request` for every prompt change (each mouse move while
hovering); the request replaces whatever was pending, so the worker never works through a
backlog and a request is never refused because the worker is busy. Every request carries a
sequence number; the UI side drops results older than the newest one it has shown (and,
while newer requests are outstanding, results that are not the newest — unless nothing has
been shown for a while, so that a continuously moving mouse still sees updates).

The worker keeps its own :class:`~samlabel.sam.interactive.DecoderSession` per embedding
(the embedding is immutable; nothing mutable is shared with the UI thread). Building one
does the decoder's per-image work, a few decodes' worth; :meth:`DecoderService.prepare` has
the idle worker do it as soon as the embedding arrives, and warm the session's hover path
(``DecoderSession.warm_hover``: the recorded decoder of :mod:`samlabel.sam.fast.traced_decoder`,
made once per image size, about a dozen decodes' worth), so the first hover waits for neither
(docs/performance.md, "Decoder session prepared when the embedding arrives").

Besides the low-res logits the worker upscales the chosen candidate for the displayed
region only (``render_mask``) and finds its bounding box (``mask_bbox``), so the UI only
colours that box (``MaskOverlayItem.set_mask``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from samlabel.gui.mask_render import mask_bbox, region_mask
from samlabel.gui.prompt_state import PromptSnapshot

log = logging.getLogger(__name__)

_ORPHANS: list = []  # worker threads that did not stop in time at shutdown
DECODED_HISTORY = 1000  # decoded seqs kept for diagnostics (a long session must not grow it)

Region = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels (x1, y1 exclusive)


@dataclass(frozen=True)
class DecodeRequest:
    seq: int
    key: str  # the image (embedding cache key) the prompt belongs to
    embedding: Any = field(repr=False)
    prompt: PromptSnapshot = field(repr=False)
    region: Region
    out_size: tuple[int, int]  # (w, h) of the mask to render for the region
    candidate: int | None = None  # None: the best-scoring one
    t_created: float = 0.0  # time.perf_counter() when the user event happened
    prediction: Any = field(default=None, repr=False)  # re-render this one instead of decoding


@dataclass(frozen=True)
class DecodeResult:
    """A decoded prompt. ``mask`` is ``(h, w)`` bool covering ``region`` at ``out_size``;
    ``bbox``: ``mask_bbox(mask)`` (computed in the worker), ``None`` when empty."""

    request: DecodeRequest
    prediction: Any = field(repr=False)
    index: int
    mask: np.ndarray = field(repr=False)
    seconds: float
    bbox: tuple[int, int, int, int] | None = None

    @property
    def seq(self) -> int:
        return self.request.seq

    @property
    def key(self) -> str:
        return self.request.key


def default_session_factory(model, embedding):
    from samlabel.sam.interactive import DecoderSession

    return DecoderSession(model, embedding)


def make_prompt(snapshot: PromptSnapshot):
    """PromptState snapshot -> the model layer's ``Prompt``."""
    from samlabel.sam.interactive import Prompt

    return Prompt(
        points=snapshot.points,
        labels=snapshot.labels,
        box=snapshot.box,
        mask_input=snapshot.mask_input,
        multimask=snapshot.multimask,
    )


def render_mask(prediction, index: int, region: Region, out_size: tuple[int, int]) -> np.ndarray:
    """The chosen candidate as ``(h, w)`` bool for ``region`` at ``out_size`` (w, h).

    Uses the one-warp display path of :mod:`samlabel.gui.mask_render` when the prediction
    carries its geometry, else ``Prediction.mask``.
    """
    w, h = out_size
    if all(hasattr(prediction, a) for a in ("logits", "original_size", "input_size", "input_side")):
        return region_mask(prediction.logits[index], prediction.original_size, prediction.input_size,
                           prediction.input_side, region, out_size, getattr(prediction, "threshold", 0.0))
    return np.asarray(prediction.mask(index, region=region, out_size=(h, w)), dtype=bool)


class _Worker(QThread):
    resultReady = Signal(object)  # DecodeResult
    failed = Signal(int, str)

    def __init__(self, service: "DecoderService") -> None:
        super().__init__()
        self._svc = service
        self.setObjectName("samlabel-decoder")
        self._sessions: dict[int, tuple[Any, Any]] = {}  # id(embedding) -> (embedding, session)

    def _session(self, embedding):
        entry = self._sessions.get(id(embedding))
        if entry is None or entry[0] is not embedding:
            self._sessions.clear()  # one image at a time; keeps memory flat
            entry = (embedding, self._svc._session_factory(self._svc.model, embedding))
            self._sessions[id(embedding)] = entry
        return entry[1]

    def _prepare_session(self, embedding) -> None:
        try:
            session = self._session(embedding)
            warm = getattr(session, "warm_hover", None)
            if warm is not None:
                warm()  # records the hover decoder for this image size (once per size)
        except Exception:  # noqa: BLE001 - the first decode will report it
            log.exception("preparing the decoder session failed")

    def run(self) -> None:  # noqa: D102
        svc = self._svc
        if svc.torch_threads:
            import torch

            torch.set_num_threads(svc.torch_threads)  # process-wide in torch 2.x; see DecoderService
        while True:
            with svc._cond:
                while svc._pending is None and svc._prepare is None and not svc._stopping:
                    svc._cond.wait()
                if svc._stopping:
                    return
                prepare = None
                if svc._pending is None:  # nothing to decode: build the new image's session
                    prepare, svc._prepare = svc._prepare, None
                req, svc._pending = svc._pending, None
                svc._busy = True
            if req is None:
                self._prepare_session(prepare)
                with svc._cond:
                    svc._busy = False
                    svc._cond.notify_all()
                continue
            try:
                t0 = time.perf_counter()
                prediction = req.prediction
                if prediction is None:
                    # a hover preview is only shown, never fed back as mask_input: the
                    # decoder may skip the padding around the image (see DecoderSession.decode)
                    hover = bool(getattr(req.prompt, "is_hover", False))
                    prediction = self._session(req.embedding).decode(make_prompt(req.prompt), image_only=hover)
                index = req.candidate if req.candidate is not None else int(prediction.best_index())
                index = max(0, min(index, len(prediction.scores) - 1))
                mask = render_mask(prediction, index, req.region, req.out_size)
                bbox = mask_bbox(mask)
                svc._decoded_seqs.append(req.seq)
                self.resultReady.emit(DecodeResult(req, prediction, index, mask, time.perf_counter() - t0, bbox))
            except Exception as exc:  # noqa: BLE001 - reported to the UI
                log.exception("decoding failed")
                self.failed.emit(req.seq, f"{type(exc).__name__}: {exc}")
            finally:
                with svc._cond:
                    svc._busy = False
                    svc._cond.notify_all()


class DecoderService(QObject):
    """Runs prompts through the mask decoder in a worker; see the module docstring.

    Signals (UI thread):
        resultReady(DecodeResult): a result that is not stale.
        failed(seq, message)
    """

    resultReady = Signal(object)
    failed = Signal(int, str)

    #: show an outdated (but newer than shown) result if nothing was shown for this long
    max_staleness_s = 0.08

    def __init__(self, model, session_factory: Callable = default_session_factory, parent=None,
                 torch_threads: int | None = None) -> None:
        super().__init__(parent)
        from samlabel.gui.embedding_service import default_encoder_threads

        # At most 2 threads: a second thread speeds the decoder up, and more gain little
        # while taking cores from the encoder and the UI thread (docs/performance.md,
        # "Threads: physical cores, one inter-op thread, two for the decoder").
        # (On an oversubscribed machine OpenMP threads spin: pass torch_threads=1 there.)
        # This worker keeps the process's only long-lived OpenMP team: other model work runs
        # on threads that end with it (samlabel.gui.transient_thread).
        self.torch_threads = torch_threads or max(1, min(2, default_encoder_threads()))
        self.model = model
        self._session_factory = session_factory
        self._cond = threading.Condition()
        self._pending: DecodeRequest | None = None
        self._prepare: Any = None  # an embedding whose session the idle worker should build
        self._busy = False
        self._stopping = False
        self._seq = 0
        self._shown_seq = 0
        self._last_shown_time = 0.0
        self._decoded_seqs: deque[int] = deque(maxlen=DECODED_HISTORY)  # diagnostics: see decoded_seqs
        self._worker = _Worker(self)
        self._worker.resultReady.connect(self._on_result)
        self._worker.failed.connect(self.failed)
        self._worker.start()

    @property
    def decoded_seqs(self) -> list[int]:
        """Diagnostics for tests: the seqs the worker decoded, oldest first (the latest
        ``DECODED_HISTORY`` of them)."""
        return list(self._decoded_seqs)

    @property
    def latest_seq(self) -> int:
        return self._seq

    def request(self, key: str, embedding, prompt: PromptSnapshot, region: Region, out_size, candidate=None,
                t_created: float | None = None, prediction=None) -> int:
        """Queue a prompt (replacing any pending one); returns its sequence number.

        With ``prediction`` the decoder is skipped and only the mask is rendered again
        (another candidate, or the view moved).
        """
        self._seq += 1
        req = DecodeRequest(self._seq, key, embedding, prompt, tuple(int(v) for v in region),
                            (max(1, int(out_size[0])), max(1, int(out_size[1]))), candidate,
                            time.perf_counter() if t_created is None else t_created, prediction)
        with self._cond:
            self._pending = req
            self._cond.notify_all()
        return req.seq

    def prepare(self, embedding) -> None:
        """Have the worker build its session for ``embedding`` when no prompt is waiting.

        The per-image decoder work then happens before the first hover rather than in it;
        a prompt requested meanwhile still goes first (and builds the session itself).
        """
        with self._cond:
            self._prepare = embedding
            self._cond.notify_all()

    def invalidate(self) -> None:
        """Drop the pending request and make every outstanding result stale (image change, clear)."""
        self._seq += 1
        with self._cond:
            self._pending = None
            self._prepare = None
        self._shown_seq = self._seq

    def is_idle(self) -> bool:
        with self._cond:
            return self._pending is None and self._prepare is None and not self._busy

    def shutdown(self, timeout_ms: int = 60000) -> None:
        with self._cond:
            self._stopping = True
            self._pending = None
            self._cond.notify_all()
        if not self._worker.wait(timeout_ms):
            _ORPHANS.append(self._worker)  # never destroy a running QThread (Qt aborts)

    def _on_result(self, result: DecodeResult) -> None:
        seq = result.seq
        if seq <= self._shown_seq:
            return  # older than what is on screen (or invalidated)
        now = time.perf_counter()
        if seq != self._seq and now - self._last_shown_time < self.max_staleness_s:
            return  # a newer request is on its way and the screen is fresh enough
        self._shown_seq = seq
        self._last_shown_time = now
        self.resultReady.emit(result)
