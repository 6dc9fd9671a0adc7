"""What the user is working on, without Qt: the project, the open image, its document, the
labels and the background jobs that carry the user's work.

The main window binds to a :class:`Workspace` (as napari's Qt viewer binds to its
``ViewerModel``): its ``project``, ``image``, ``image_path``, ``index`` and ``document``
attributes are this object's, and it listens for :class:`WorkspaceChange` s. Anything that is
not drawing (tests, the smoke test, scripts) can read and drive the same state::

    ws = Workspace()
    ws.subscribe(lambda change: ...)          # PROJECT, IMAGE, DOCUMENT
    ws.open_project(project)                  # its labels become ws.labels' set
    ws.show_image(0, path, image)             # no document until its sidecar is read
    ws.set_document(document)
    ws.add_job(task); ws.pending_jobs()       # e.g. a mask being traced, a project-wide rename
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from samlabel.annotations import LabelSet
from samlabel.gui.label_state import LabelState


class WorkspaceChangeKind(Enum):
    PROJECT = "project"  # another project (or none) was opened
    IMAGE = "image"  # another image is shown (its document may still be loading)
    DOCUMENT = "document"  # the open image's document was installed or removed


@dataclass(frozen=True)
class WorkspaceChange:
    kind: WorkspaceChangeKind


class Workspace:
    """The project, the open image and its document, the labels and the pending jobs."""

    def __init__(self, labels: LabelState | None = None) -> None:
        self.labels = labels if labels is not None else LabelState(LabelSet.default())
        self.project: Any = None
        self.index = -1
        self.image: Any = None  # an annotations.image_source.ImageSource
        self.image_path: Path | None = None
        self.document: Any = None  # an annotations.Document
        self._jobs: list[Any] = []
        self._listeners: list[Callable[[WorkspaceChange], None]] = []

    # ---------------------------------------------------------------- listening
    def subscribe(self, listener: Callable[[WorkspaceChange], None]) -> Callable[[], None]:
        """Call ``listener(change)`` after every change; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, kind: WorkspaceChangeKind) -> None:
        for listener in list(self._listeners):
            listener(WorkspaceChange(kind))

    # ---------------------------------------------------------------- state
    def open_project(self, project) -> None:
        """Work in ``project``: its label set becomes the labels' set; no image is open yet."""
        self.project = project
        if project is not None:
            self.labels.set_labels(project.labels)
        self._notify(WorkspaceChangeKind.PROJECT)

    def show_image(self, index: int, path: Path | None, image) -> None:
        """Show ``image`` (``index`` in the project, or -1); its document comes later."""
        self.index, self.image_path, self.image = index, path, image
        self.document = None
        self._notify(WorkspaceChangeKind.IMAGE)

    def set_document(self, document) -> None:
        """The open image's document (None while its sidecar is being read)."""
        self.document = document
        self._notify(WorkspaceChangeKind.DOCUMENT)

    @property
    def editable(self) -> bool:
        """An image is open and its annotations have been read."""
        return self.image is not None and self.document is not None

    # ---------------------------------------------------------------- jobs
    def add_job(self, job) -> None:
        """Track a background job that carries the user's work (it has ``is_running()``)."""
        self._jobs = [j for j in self._jobs if j.is_running()] + [job]

    def pending_jobs(self) -> list:
        """Jobs still running: the window lets them end before it closes or saves."""
        self._jobs = [j for j in self._jobs if j.is_running()]
        return list(self._jobs)
