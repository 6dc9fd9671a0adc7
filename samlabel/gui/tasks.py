"""Run one long function (download, export, segment everything) off the UI thread.

A :class:`Task` wraps a plain Python function and runs it on a worker thread of a
dedicated ``QThreadPool``. The function receives two keyword arguments::

    def work(*args, progress, cancel, **kwargs):
        for i, item in enumerate(items):
            if cancel():                       # cooperative cancel: poll the flag
                raise TaskCancelled()          # (or samlabel.sam.errors.Cancelled, or just return)
            ...
            progress(i + 1, len(items), f"{item}")   # total may be None: unknown
        return result

and the task reports, always on the thread that owns the ``Task`` (the UI thread):

- ``progress(int done, int total, str message)`` -- ``total == 0`` means "unknown"
  (a ``QProgressBar`` with maximum 0 shows a busy indicator). Calls are throttled to
  about 25 per second, and the last one before the end is always delivered;
- exactly one of ``finished(object result)``, ``failed(str message)``, ``cancelled()``;
- then ``done()`` (handy for resetting buttons whatever the outcome).

Once ``cancel()`` was requested the outcome is ``cancelled`` whatever the function
does afterwards (returns, raises): a cancelled download that fails half-way is not an
error for the user. ``progress`` raises :class:`TaskCancelled` once cancel is
requested, so functions that only report progress (like ``download_checkpoint``)
stop at their next report without knowing about the flag.

Usage (what the dialogs do)::

    task = Task(download_checkpoint, "vit_b", directory=d, parent=self)
    task.progress.connect(self._on_progress)
    task.finished.connect(self._on_done)
    task.failed.connect(self._on_error)
    task.start()
    ...
    task.cancel()          # from the Cancel button; thread-safe, returns at once

A ``Task`` runs once; make a new one to run again. Keep a reference (or give it a
parent) while it runs; ``wait(ms)`` blocks until the worker has ended (tests, shutdown).

On quit, the main window calls ``shutdown_tasks(timeout_ms)``: it asks every running task
to cancel and waits for the workers, so no thread outlives the application.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import weakref
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Qt, Signal, Slot

from samlabel.sam.errors import Cancelled

log = logging.getLogger(__name__)

ProgressFn = Callable[..., None]
CancelFn = Callable[[], bool]

_PROGRESS_INTERVAL_S = 0.04
_POOL: QThreadPool | None = None
_RUNNING: "weakref.WeakSet[Task]" = weakref.WeakSet()


class TaskCancelled(Cancelled):
    """Raised inside a task function (by ``progress`` or by the function) to stop it."""


def task_pool() -> QThreadPool:
    """The pool that runs tasks: separate from the global pool the model services may use."""
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(2)
        _POOL.setObjectName("samlabel-tasks")
    return _POOL


class _Bridge(QObject):
    """Lives in the owner's thread; the worker emits on it, Qt queues to the owner."""

    progress = Signal("qint64", "qint64", str)  # 64-bit: byte counts of multi-GB downloads
    outcome = Signal(str, object)  # ("finished" | "failed" | "cancelled", payload)


class _Runnable(QRunnable):
    def __init__(self, task: "Task"):
        super().__init__()
        self.setAutoDelete(True)
        self._task = task

    def run(self) -> None:  # worker thread
        self._task._run_in_worker()


class Task(QObject):
    """One background run of ``fn(*args, progress=..., cancel=..., **kwargs)``; see the module doc."""

    progress = Signal("qint64", "qint64", str)  # Python ints; 64-bit so vit_h's 2.6 GB fit
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, fn: Callable[..., Any], *args: Any, parent: QObject | None = None, **kwargs: Any):
        super().__init__(parent)
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._cancel_flag = threading.Event()
        self._ended = threading.Event()
        self._started = False
        self._last_emit = 0.0
        self._pending_progress: tuple[int, int, str] | None = None
        self._lock = threading.Lock()
        self.state = "idle"  # idle | running | finished | failed | cancelled
        self.result: Any = None
        self.error: str | None = None
        self._bridge = _Bridge()
        self._bridge.progress.connect(self._relay_progress, Qt.ConnectionType.QueuedConnection)
        self._bridge.outcome.connect(self._relay_outcome, Qt.ConnectionType.QueuedConnection)

    # ----------------------------------------------------------------- UI thread
    def start(self, pool: QThreadPool | None = None) -> "Task":
        """Queue the function on ``pool`` (default: :func:`task_pool`). Returns self."""
        if self._started:
            raise RuntimeError("a Task runs once; create a new Task to run again")
        self._started = True
        self.state = "running"
        _RUNNING.add(self)
        (pool or task_pool()).start(_Runnable(self))
        return self

    def cancel(self) -> None:
        """Ask the function to stop (thread-safe, returns at once)."""
        self._cancel_flag.set()

    def is_cancel_requested(self) -> bool:
        return self._cancel_flag.is_set()

    def is_running(self) -> bool:
        return self.state == "running"

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the worker function has returned (signals may still be queued)."""
        return self._ended.wait(None if timeout_ms < 0 else timeout_ms / 1000.0)

    @Slot("qint64", "qint64", str)
    def _relay_progress(self, done: int, total: int, message: str) -> None:
        if self.state == "running":
            self.progress.emit(done, total, message)

    @Slot(str, object)
    def _relay_outcome(self, kind: str, payload: object) -> None:
        self.state = kind
        if kind == "finished":
            self.result = payload
            self.finished.emit(payload)
        elif kind == "failed":
            self.error = str(payload)
            self.failed.emit(str(payload))
        else:
            self.cancelled.emit()
        self.done.emit()

    # ------------------------------------------------------------- worker thread
    def _report(self, done: int, total: int | None = None, message: str = "") -> None:
        if self._cancel_flag.is_set():
            raise TaskCancelled("cancelled")
        item = (int(done), int(total or 0), str(message))
        now = time.monotonic()
        with self._lock:
            final = item[1] > 0 and item[0] >= item[1]
            if not final and now - self._last_emit < _PROGRESS_INTERVAL_S:
                self._pending_progress = item
                return
            self._last_emit = now
            self._pending_progress = None
        self._bridge.progress.emit(*item)

    def _run_in_worker(self) -> None:
        try:
            try:
                result = self._fn(*self._args, progress=self._report, cancel=self._cancel_flag.is_set, **self._kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure is reported to the user
                if self._cancel_flag.is_set() or isinstance(exc, Cancelled):
                    outcome = ("cancelled", None)
                else:
                    log.debug("task %r failed:\n%s", getattr(self._fn, "__name__", self._fn), traceback.format_exc())
                    outcome = ("failed", _describe(exc))
            else:
                outcome = ("cancelled", None) if self._cancel_flag.is_set() else ("finished", result)
            with self._lock:
                pending, self._pending_progress = self._pending_progress, None
            if pending is not None and outcome[0] == "finished":
                self._bridge.progress.emit(*pending)
            self._bridge.outcome.emit(*outcome)
        finally:
            self._ended.set()


def running_tasks() -> list["Task"]:
    """Tasks whose worker function has not returned yet."""
    return [task for task in list(_RUNNING) if not task._ended.is_set()]


def shutdown_tasks(timeout_ms: int = 3000) -> bool:
    """Cancel every running task and wait for the workers; False if some did not stop in time."""
    tasks = running_tasks()
    for task in tasks:
        task.cancel()
    deadline = time.monotonic() + timeout_ms / 1000.0
    for task in tasks:
        if not task.wait(max(0, int((deadline - time.monotonic()) * 1000))):
            return False
    return True


def _describe(exc: BaseException) -> str:
    """A message for the user: the exception's own text, or its type when it has none."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    if isinstance(exc, (OSError, ValueError, RuntimeError)) or type(exc).__module__.startswith("samlabel"):
        return text
    return f"{type(exc).__name__}: {text}"
