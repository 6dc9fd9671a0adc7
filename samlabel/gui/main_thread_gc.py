"""Python's cyclic garbage collector, run on the UI thread only.

CPython starts a collection in whichever thread happens to allocate past the threshold.
In samlabel that is often a worker (the encoder, the model loader's ``torch.load``), and a
collection there finalises whatever Qt objects sit in unreachable reference cycles (a
closed dialog, a previous window with its services): their C++ side is then destroyed
from a thread that does not own it, while the UI thread may be delivering events to them.
That crashes Qt (seen as a segfault in ``QObject::event`` or in "Garbage-collecting" while
a checkpoint was loading in the background).

:class:`MainThreadGC` turns automatic collection off and collects from a ``QTimer`` on the
UI thread instead: the young generation every ``interval_ms`` (little work: it holds only
recent objects), the middle one every 10th tick and a full collection every 60th. ``run_app``
installs it for the application's lifetime; ``uninstall`` restores the previous state.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class MainThreadGC(QObject):
    """Collect cyclic garbage from a UI-thread timer instead of from arbitrary threads."""

    def __init__(self, interval_ms: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(int(interval_ms))
        self._timer.timeout.connect(self.tick)
        self._ticks = 0
        self._was_enabled: bool | None = None
        self.collections = [0, 0, 0]  # how many of each generation ran (tests, diagnostics)

    @property
    def installed(self) -> bool:
        return self._was_enabled is not None

    def install(self) -> "MainThreadGC":
        """Disable automatic collection and start the timer (call on the UI thread)."""
        if self._was_enabled is None:
            self._was_enabled = gc.isenabled()
            gc.disable()
            self._timer.start()
        return self

    def uninstall(self) -> None:
        """Stop the timer, collect once here, and restore automatic collection if it was on."""
        if self._was_enabled is None:
            return
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
        self._was_enabled = None

    def tick(self) -> None:
        self._ticks += 1
        generation = 2 if self._ticks % 60 == 0 else 1 if self._ticks % 10 == 0 else 0
        gc.collect(generation)
        self.collections[generation] += 1
