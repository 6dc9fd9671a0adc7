"""Read an image's sidecar off the UI thread when it is large.

Parsing a sidecar can take seconds (a file of tens of megabytes, or thousands of
self-intersecting polygons that shapely repairs). A :class:`SidecarLoader` runs
:meth:`~samlabel.annotations.project.Project.load_stamped` as a
:class:`~samlabel.gui.tasks.Task` on the task pool, so the window shows the image at once
and stays responsive; small sidecars (the common case, a few milliseconds) are still read
on the spot, so the annotation is there when ``open_path`` returns.

Like the embedding service, each request has a generation number: starting another load,
or :meth:`SidecarLoader.cancel` (the window switched to an image whose sidecar was read on
the spot), makes every earlier request stale, and a stale result is dropped, never
delivered. ``loaded(generation, LoadedAnnotation)`` and ``failed(generation, image, reason)``
are emitted on the UI thread for the current request only.

:class:`LoadingIndicator` is the status-bar part that says which image's annotations are
being read, with a busy bar.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from samlabel.gui.tasks import Task, TaskCancelled

#: sidecars larger than this are read in the background (a 64 KiB file parses fast enough to
#: read on the spot, even when all of it is self-intersecting polygons)
BACKGROUND_ABOVE_BYTES = 64 * 1024


def _load(project, image: Path, *, progress, cancel):
    """The task: ``project.load_stamped(image)`` unless the request went stale first."""
    if cancel():
        raise TaskCancelled("stale")
    progress(0, 0, image.name)
    return project.load_stamped(image)


class SidecarLoader(QObject):
    """Loads one sidecar at a time in the background; only the newest request is delivered."""

    loaded = Signal(int, object)  # generation, LoadedAnnotation
    failed = Signal(int, object, str)  # generation, image Path, reason (names the file)

    def __init__(self, parent: QObject | None = None, background_above: int = BACKGROUND_ABOVE_BYTES):
        super().__init__(parent)
        self.background_above = background_above
        self._generation = 0
        self._task: Task | None = None
        self._image: Path | None = None

    def in_background(self, sidecar: str | os.PathLike) -> bool:
        """Whether a sidecar this big is read in the background (no file: no)."""
        try:
            return os.stat(sidecar).st_size > self.background_above
        except OSError:
            return False

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def pending(self) -> Path | None:
        """The image whose sidecar is being read, or None."""
        return self._image if self._task is not None else None

    def start(self, project, image: str | os.PathLike) -> int:
        """Read ``image``'s sidecar in the background; returns the request's generation."""
        self.cancel()
        generation = self._generation
        image = Path(image)
        task = Task(_load, project, image, parent=self)
        task.finished.connect(lambda loaded, g=generation: self._deliver(g, loaded))
        task.failed.connect(lambda reason, g=generation, i=image: self._fail(g, i, reason))
        task.done.connect(task.deleteLater)
        self._task, self._image = task, image
        task.start()
        return generation

    def cancel(self) -> None:
        """Make every request so far stale (its result, when it comes, is dropped)."""
        self._generation += 1
        if self._task is not None:
            self._task.cancel()  # stops it only before it has begun: parsing has no checkpoints
        self._task, self._image = None, None

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the current request's worker has ended (tests, shutdown)."""
        return self._task is None or self._task.wait(timeout_ms)

    def _deliver(self, generation: int, loaded) -> None:
        if generation == self._generation:
            self._task, self._image = None, None
            self.loaded.emit(generation, loaded)

    def _fail(self, generation: int, image: Path, reason: str) -> None:
        if generation == self._generation:
            self._task, self._image = None, None
            self.failed.emit(generation, image, reason)


class LoadingIndicator(QWidget):
    """Status-bar notice "Loading annotations of a.png…" with a busy bar; hidden when idle."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("annotation_loading")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy
        self.bar.setMaximumWidth(90)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.hide()

    def show_loading(self, name: str) -> None:
        self.label.setText(f"Loading annotations of {name}…")
        self.show()

    def done(self) -> None:
        self.hide()
