"""The SAM tool: hover, clicks and boxes -> decoder requests -> the live mask on the canvas.

:class:`SamController` lives on the UI thread. It owns the :class:`PromptState`, the
current image's embedding (received from the :class:`EmbeddingService`) and talks to the
:class:`DecoderService`. It never runs the model itself.

Flow: a canvas event updates the prompt state -> :meth:`_request` snapshots the prompt and
asks the decoder for the visible region at screen resolution -> ``_on_result`` (only
results for the current image and not stale) paints the mask and emits
``predictionShown``. Accepting traces the chosen candidate at full resolution, but only
inside the mask's bounding box, and returns polygons in image pixels.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QColor

from samlabel.annotations.mask_tracing import remove_specks
from samlabel.gui.decoder_service import DecodeResult, DecoderService
from samlabel.gui.prompt_state import PromptState
from samlabel.gui.transient_thread import run_on_transient_thread

LATENCY_HISTORY = 1000  # the latest latencies kept for diagnostics (a long session must not grow it)


class SamController(QObject):
    """Signals: ``predictionShown(DecodeResult)``, ``promptChanged()``, ``message(str)``."""

    predictionShown = Signal(object)
    promptChanged = Signal()
    message = Signal(str)

    def __init__(self, canvas, parent=None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.state = PromptState()
        self.decoder: DecoderService | None = None
        self.key: str | None = None  # the current image's embedding key
        self.embedding = None  # its ImageEmbedding once ready
        self.result: DecodeResult | None = None  # what is on screen
        self.enabled = True  # the SAM tool is the active tool
        self.color = QColor(30, 144, 255)
        self.latencies: deque[float] = deque(maxlen=LATENCY_HISTORY)  # event -> overlay applied, s (diagnostics)
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(40)
        self._view_timer.timeout.connect(self._rerender)
        canvas.viewChanged.connect(self._view_timer.start)

    # ----------------------------------------------------------------- setup
    def set_decoder(self, decoder: DecoderService | None) -> None:
        if self.decoder is not None:
            self.decoder.resultReady.disconnect(self._on_result)
        self.decoder = decoder
        if decoder is not None:
            decoder.resultReady.connect(self._on_result)

    def set_image(self, key: str | None) -> None:
        """A new image is shown: forget its predecessor's prompt, embedding and mask."""
        self.key = key
        self.embedding = None
        self.reset_prompt()

    def set_embedding(self, key: str, embedding) -> bool:
        """Install the embedding for ``key``; ignored (False) unless it is the current image."""
        if key != self.key:
            return False
        if embedding.original_size != self._image_hw():
            return False  # never apply an embedding to an image of another size
        self.embedding = embedding
        if not self.state.snapshot().empty:
            self._request(time.perf_counter())
        elif self.decoder is not None:
            self.decoder.prepare(embedding)  # the per-image decoder work, before the first hover
        return True

    @property
    def ready(self) -> bool:
        return self.embedding is not None and self.decoder is not None

    def _image_hw(self) -> tuple[int, int]:
        w, h = self.canvas.image_size
        return (h, w)

    def set_color(self, color: QColor) -> None:
        self.color = QColor(color)
        self.canvas.mask_item.set_color(self.color)

    # ---------------------------------------------------------------- prompts
    def hover(self, x: float, y: float, t: float | None = None) -> None:
        if not self._inside(x, y):
            if self.state.clear_hover():
                self._clear_mask()
            return
        if self.state.set_hover(x, y):
            self._request(t)

    def leave(self) -> None:
        if self.state.clear_hover():
            self._clear_mask()

    def click(self, x: float, y: float, positive: bool, t: float | None = None) -> None:
        if not self._inside(x, y):
            return
        self.state.add_point(x, y, positive)
        self._prompt_changed(t)

    def box(self, x0: float, y0: float, x1: float, y1: float, t: float | None = None) -> None:
        w, h = self.canvas.image_size
        x0, x1 = (min(max(v, 0.0), w) for v in (x0, x1))
        y0, y1 = (min(max(v, 0.0), h) for v in (y0, y1))
        if abs(x1 - x0) < 1 or abs(y1 - y0) < 1:
            return
        self.state.set_box(x0, y0, x1, y1)
        self._prompt_changed(t)

    def set_prompt(self, points, labels, box=None) -> None:
        """Replace the prompt (the public ``prompt_points`` path)."""
        self.state.clear()
        for (x, y), lab in zip(points, labels):
            self.state.add_point(x, y, bool(lab))
        if box is not None:
            self.state.set_box(*box)
        self._prompt_changed(None)

    def remove_last_point(self) -> bool:
        if not self.state.remove_last_point():
            return False
        self._prompt_changed(None)
        return True

    def reset_prompt(self) -> None:
        """Esc: forget points, box and mask (the hover preview comes back on the next move)."""
        self.state.clear()
        if self.decoder is not None:
            self.decoder.invalidate()
        self._clear_mask()
        self.canvas.prompt_item.set_prompt([], [], None)
        self.promptChanged.emit()

    def toggle_refine(self) -> bool:
        on = self.state.toggle_refine()
        self.message.emit("Refinement with the previous mask: " + ("on" if on else "off"))
        return on

    def cycle_candidate(self) -> None:
        if self.result is None or self.state.num_candidates < 2:
            return
        index = self.state.cycle_candidate()
        self._rerender(candidate=index)

    def _prompt_changed(self, t: float | None) -> None:
        s = self.state
        self.canvas.prompt_item.set_prompt(s.points, s.labels, s.box)
        self.promptChanged.emit()
        snapshot = s.snapshot()
        if snapshot.empty:
            if self.decoder is not None:
                self.decoder.invalidate()
            self._clear_mask()
            return
        self._request(t, snapshot=snapshot)

    def _inside(self, x: float, y: float) -> bool:
        w, h = self.canvas.image_size
        return 0 <= x < w and 0 <= y < h

    # ---------------------------------------------------------------- decoding
    def _request(self, t: float | None, candidate: int | None = None, prediction=None, snapshot=None) -> int | None:
        if not self.enabled or not self.ready:
            return None
        snapshot = snapshot if snapshot is not None else self.state.snapshot()
        if snapshot.empty:
            return None
        view = self.canvas.visible_region()
        if view is None:
            return None
        region, out_size = view
        return self.decoder.request(self.key, self.embedding, snapshot, region, out_size, candidate=candidate,
                                    t_created=t, prediction=prediction)

    def _rerender(self, candidate: int | None = None) -> None:
        """Render the shown prediction again (another candidate, or the view moved)."""
        if self.result is None or not self.ready:
            return
        idx = self.result.index if candidate is None else candidate
        self._request(time.perf_counter(), candidate=idx, prediction=self.result.prediction)

    def _on_result(self, result: DecodeResult) -> None:
        if result.key != self.key or self.embedding is None or result.request.embedding is not self.embedding:
            return  # made for another image (or an outdated embedding)
        snap = result.request.prompt
        if snap.is_hover and self.state.has_clicks:
            return  # the user clicked since; a hover mask would be misleading
        self.result = result
        if result.request.prediction is None:
            self.state.set_prediction(result.prediction.logits, result.index, from_clicks=not snap.is_hover)
        else:
            self.state.candidate_index = result.index
        self.canvas.mask_item.set_mask(result.mask, result.request.region, self.color, bbox=result.bbox)
        self.latencies.append(time.perf_counter() - result.request.t_created)
        scores = ", ".join(
            ("[%.2f]" if i == result.index else "%.2f") % float(s) for i, s in enumerate(result.prediction.scores)
        )
        self.message.emit(f"Candidate {result.index + 1}/{len(result.prediction.scores)} — scores {scores}"
                          f" — decoded in {result.seconds * 1000:.0f} ms")
        self.predictionShown.emit(result)

    def _clear_mask(self) -> None:
        self.result = None
        self.canvas.mask_item.clear()

    # ---------------------------------------------------------------- accepting
    def accepted_mask(self) -> tuple[np.ndarray, tuple[int, int]] | None:
        """The shown candidate at full resolution, cropped to its bounding box.

        Returns ``(mask (h, w) bool, (x0, y0))`` or None when nothing is shown. Only the
        box around the low-res mask is upscaled, so large images stay cheap.
        """
        if self.result is None:
            return None
        pred, idx = self.result.prediction, self.result.index
        H, W = pred.original_size
        low = np.asarray(pred.logits[idx]) > pred.threshold
        if not low.any():
            return None
        rows, cols = np.nonzero(low)
        side = low.shape[0]
        # low-res pixel -> original pixel: the 256 grid covers the padded input square
        scale = max(H, W) / side
        margin = 2
        x0 = max(0, int(np.floor((cols.min() - margin) * scale)))
        y0 = max(0, int(np.floor((rows.min() - margin) * scale)))
        x1 = min(W, int(np.ceil((cols.max() + 1 + margin) * scale)))
        y1 = min(H, int(np.ceil((rows.max() + 1 + margin) * scale)))
        if x1 <= x0 or y1 <= y0:
            return None
        # the exact upscale runs torch ops: not on the UI thread, whose OpenMP team would
        # stay alive and slow every later hover decode after a pause (see transient_thread)
        mask = run_on_transient_thread(lambda: pred.mask(idx, region=(x0, y0, x1, y1)), name="samlabel-accept")
        mask = remove_specks(np.asarray(mask, dtype=bool))
        return mask, (x0, y0)
