"""Measure the hover path: mouse event -> decoder -> mask on screen -> painted.

``measure_hover_latency(window, n)`` moves the mouse over the canvas ``n`` times (each
move after the previous overlay was painted) and returns the time from the mouse event to
the end of the canvas paint that showed its mask. ``measure_hover_stream`` moves the mouse
at a fixed rate regardless of the decoder (as a real hand does) and measures, for each mask
that was shown, the time from its own mouse event to its paint. Used by
``tools/screenshot.py``, ``bench_window_hover.py`` and the window tests; not part of the app.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from PySide6.QtCore import QEventLoop, QPointF, QTimer
from PySide6.QtTest import QTest


@dataclass(frozen=True)
class LatencyReport:
    samples_ms: tuple[float, ...]
    dropped: int  # mouse events whose mask never showed (superseded) or that timed out
    worker_ms: tuple[float, ...] = ()  # decode + mask render in the worker, per sample

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else float("nan")

    @property
    def p95_ms(self) -> float:
        if not self.samples_ms:
            return float("nan")
        s = sorted(self.samples_ms)
        return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]

    def summary(self) -> str:
        text = f"median {self.median_ms:.1f} ms, p95 {self.p95_ms:.1f} ms over {len(self.samples_ms)} samples"
        if self.worker_ms:
            text += f" (worker decode+render median {statistics.median(self.worker_ms):.1f} ms)"
        return text + (f" ({self.dropped} superseded)" if self.dropped else "")


def _path(window, n: int) -> list[QPointF]:
    w, h = window.canvas.image_size
    pts = []
    for i in range(n):
        t = i / max(1, n - 1)
        pts.append(QPointF(w * (0.15 + 0.7 * t), h * (0.3 + 0.4 * ((i * 7) % 11) / 10)))
    return pts


class _Probe:
    """Pairs shown predictions with the next completed paint of the canvas."""

    def __init__(self, window) -> None:
        self.window = window
        self.pending: list[tuple[float, float]] = []  # (t_created, worker s) of shown results awaiting a paint
        self.samples: list[tuple[float, float]] = []  # (t_created, t_painted)
        self.worker: list[float] = []
        self.loop: QEventLoop | None = None  # set while measure_hover_latency waits
        window.predictionShown.connect(self._shown)
        window.canvas.painted.connect(self._painted)

    def _shown(self, result) -> None:
        self.pending.append((result.request.t_created, result.seconds))
        self.window.canvas.viewport().update()

    def _painted(self, t: float) -> None:
        for t0, worker_s in self.pending:
            self.samples.append((t0, t))
            self.worker.append(worker_s * 1000.0)
        if self.pending and self.loop is not None:
            self.loop.quit()  # wake the waiting measurement at once
        self.pending.clear()

    def close(self) -> None:
        self.window.predictionShown.disconnect(self._shown)
        self.window.canvas.painted.disconnect(self._painted)


def _spin(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_for_signal(signal, timeout_s: float) -> tuple:
    """Run the event loop until ``signal`` fires; return its arguments.

    Raises ``TimeoutError`` (naming the signal) when it does not fire within ``timeout_s``.
    For scripts that drive the real window (``tools/screenshot.py``, the benchmarks); tests
    use ``qtbot.waitSignal``.
    """
    got: list[tuple] = []
    loop = QEventLoop()

    def done(*args) -> None:
        got.append(args)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    try:
        loop.exec()
    finally:
        signal.disconnect(done)
    if not got:
        raise TimeoutError(f"{signal} did not fire within {timeout_s} s")
    return got[0]


def _wait(cond, timeout_s: float) -> bool:
    deadline = time.perf_counter() + timeout_s
    while not cond():
        if time.perf_counter() > deadline:
            return False
        _spin(1)
    return True


def measure_hover_latency(
    window, n: int = 40, timeout_s: float = 30.0, warmup: int = 3, rest_ms: int = 0
) -> LatencyReport:
    """Isolated hover events: each move waits for the previous overlay to be painted.

    ``rest_ms``: the mouse also rests that long (the event loop runs) before each move, as a
    hand pauses between gestures. With 0 the next move follows the paint at once.
    """
    viewport = window.canvas.viewport()
    probe = _Probe(window)
    dropped = 0
    timer = QTimer()
    timer.setSingleShot(True)
    try:
        for i, p in enumerate(_path(window, n + warmup)):
            if rest_ms > 0:
                _spin(int(rest_ms))
            before = len(probe.samples)
            QTest.mouseMove(viewport, window.canvas.mapFromScene(p))
            # block in the event loop until the paint (no polling: a 1 ms poll on the UI
            # thread takes the GIL a thousand times a second and slows the decoder worker)
            probe.loop = QEventLoop()
            timer.timeout.connect(probe.loop.quit)
            timer.start(int(timeout_s * 1000))
            if len(probe.samples) == before:
                probe.loop.exec()
            timer.stop()
            timer.timeout.disconnect(probe.loop.quit)
            probe.loop = None
            if len(probe.samples) == before:
                dropped += 1
            if i < warmup:
                del probe.samples[before:]
                del probe.worker[before:]
        samples = tuple((tp - t0) * 1000.0 for t0, tp in probe.samples)
    finally:
        probe.close()
    return LatencyReport(samples, dropped, tuple(probe.worker))


def measure_hover_stream(window, seconds: float = 3.0, rate_hz: float = 60.0) -> LatencyReport:
    """Moves at ``rate_hz`` for ``seconds``; latency of every mask that reached the screen."""
    viewport = window.canvas.viewport()
    probe = _Probe(window)
    n = int(seconds * rate_hz)
    pts = _path(window, n)
    try:
        for p in pts:
            QTest.mouseMove(viewport, window.canvas.mapFromScene(p))
            _spin(int(1000 / rate_hz))
        _wait(lambda: window.decoder is None or window.decoder.is_idle(), 10.0)
        _spin(50)
        samples = tuple((tp - t0) * 1000.0 for t0, tp in probe.samples)
    finally:
        probe.close()
    return LatencyReport(samples, n - len(samples), tuple(probe.worker))
