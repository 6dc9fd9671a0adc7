"""What the user is working on, without Qt: the project, the open image, its document, the
labels, the background jobs that carry the user's work, and the file side of it all
(opening, reading sidecars, what is dirty; saving and outside edits are
:mod:`samlabel.gui.workspace_save`).

The main window binds to a :class:`Workspace` (as napari's Qt viewer binds to its
``ViewerModel``): its ``project``, ``image``, ``image_path``, ``index`` and ``document``
attributes are this object's, and it listens for :class:`WorkspaceChange` s. Anything that is
not drawing (tests, the smoke test, scripts) can read and drive the same state::

    ws = Workspace()
    ws.subscribe(lambda change: ...)          # PROJECT, IMAGE, DOCUMENT, EDITED
    ws.open_project(ws.project_at(folder))    # its labels become ws.labels' set
    read = ws.read_image(0, step=1)           # the first image that opens, its sidecar read
    ws.show_image(read.index, read.path, read.source)
    ws.set_document(ws.document_of(read.loaded), read.loaded.guard())
    ws.document.add_shape(...)                # EDITED, with autosave_due
    result = ws.save()                        # a SaveResult: what the window shows
    ws.add_job(task); ws.pending_jobs()       # e.g. a mask being traced, a project-wide rename

Saving goes one way: the window asks, the workspace writes the open document through the
project (guarded against outside edits), marks it saved and *returns* a
:class:`SaveResult`; the window shows that (title, status bar, file list). The document's
own "saved" notification is not a request to do anything.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from samlabel.annotations import LabelSet
from samlabel.annotations.document import ChangeReason
from samlabel.annotations.sidecar_guard import SidecarGuard
from samlabel.gui.label_state import LabelState
from samlabel.gui.workspace_save import AskOutsideEdit, SaveOutcome, SaveResult, WorkspaceSaving  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

APP_TITLE = "samlabel"

#: document changes that redraw the shapes and make an autosave due
EDIT_REASONS = (ChangeReason.EDIT, ChangeReason.UNDO, ChangeReason.REDO, ChangeReason.RESET)


def window_title(image_name: str | None, dirty: bool = False) -> str:
    """``"coffee.jpg — samlabel"``, ``"coffee.jpg* — samlabel"`` with unsaved changes.

    The title ends with the application's display name, so Qt does not append it a second
    time (it appends it to titles that do not end with it: the old "samlabel — coffee.jpg"
    was shown as "samlabel — coffee.jpg — samlabel").
    """
    if image_name is None:
        return APP_TITLE
    return f"{image_name}{'*' if dirty else ''} — {APP_TITLE}"


class WorkspaceChangeKind(Enum):
    PROJECT = "project"  # another project (or none) was opened
    IMAGE = "image"  # another image is shown (its document may still be loading)
    DOCUMENT = "document"  # the open image's document was installed or removed
    EDITED = "edited"  # the open document changed (``document_change`` says how)


@dataclass(frozen=True)
class WorkspaceChange:
    kind: WorkspaceChangeKind
    document_change: Any = None  # EDITED: the annotations.DocumentChange

    @property
    def redraw(self) -> bool:
        """EDITED by an edit, undo, redo or reset: the shapes shown must follow."""
        return self.document_change is not None and self.document_change.reason in EDIT_REASONS

    @property
    def saved(self) -> bool:
        """EDITED by a save (or a reload): the one who saved shows the result; nothing to do."""
        return self.document_change is not None and self.document_change.reason == ChangeReason.SAVED


# ---------------------------------------------------------------------------- opening
class OpenError(Exception):
    """A folder or image cannot be opened as a project: ``failures`` ``[(path, reason)]``
    and ``plain``, the sentence to show."""

    def __init__(self, failures: list[tuple[Path, str]], plain: str):
        super().__init__(plain)
        self.failures = failures
        self.plain = plain


def describe_open_failures(failures, skipped: bool, image_open: bool, plain: str | None = None) -> str:
    """The status line for images (or a folder) that could not be opened: ``failures``
    ``[(path, reason)]``, the first named (``plain`` instead, when given), the others
    counted; ``skipped``: another image opened instead; else whether one is still open."""
    path, reason = failures[0]
    text = plain or f"Cannot open {path.name}: {reason}"
    if len(failures) > 1:
        text = f"{text} (and {len(failures) - 1} more: {', '.join(p.name for p, _ in failures[1:])})"
    if skipped:
        return f"Skipped — {text}"
    return text if image_open else f"{text} — no image is open"


@dataclass(frozen=True)
class ShownImage:
    """An open image with its document (restored when the next image fails to open)."""

    index: int
    path: Path
    image: Any  # an ImageSource
    document: object


@dataclass(frozen=True)
class PendingLoad:
    """A sidecar being read in the background: for the image ``image``, opened with
    ``step`` after ``failures``; ``reload_into``: the Document that gets the file's version
    as one undoable step (an outside edit reloaded), else a new Document; ``restore``: what
    to go back to if it fails."""

    image: Path
    step: int = 0
    failures: tuple[tuple[Path, str], ...] = ()
    reload_into: object = None
    restore: ShownImage | None = None


@dataclass(frozen=True)
class ImageRead:
    """What :meth:`Workspace.read_image` found: the image to show (``index``, ``path``,
    ``source``) with its sidecar read (``loaded``, or None when it is to be read in the
    background), or ``opened=False``; ``failures`` so far, ``new_failures`` found now."""

    index: int
    path: Path | None
    source: Any
    loaded: Any
    failures: tuple[tuple[Path, str], ...]
    new_failures: tuple[tuple[Path, str], ...]
    opened: bool


class Workspace(WorkspaceSaving):
    """The project, the open image and its document, the labels and the pending jobs
    (saving and outside edits: :class:`~samlabel.gui.workspace_save.WorkspaceSaving`)."""

    def __init__(self, labels: LabelState | None = None) -> None:
        self.labels = labels if labels is not None else LabelState(LabelSet.default())
        self.project: Any = None
        self.index = -1
        self.image: Any = None  # an annotations.image_source.ImageSource
        self.image_path: Path | None = None
        self.document: Any = None  # an annotations.Document
        self.pending_load: PendingLoad | None = None  # the open image's sidecar, read in the background
        self.asking = False  # the question about an outside edit is open: saves wait
        self.problems: dict[Path, str] = {}  # images of the project that cannot be opened, and why
        self._guards: "weakref.WeakKeyDictionary[object, SidecarGuard]" = weakref.WeakKeyDictionary()
        self._stop_listening: Callable[[], None] | None = None
        self._jobs: list[Any] = []
        self._listeners: list[Callable[[WorkspaceChange], None]] = []

    # ---------------------------------------------------------------- listening
    def subscribe(self, listener: Callable[[WorkspaceChange], None]) -> Callable[[], None]:
        """Call ``listener(change)`` after every change; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, kind: WorkspaceChangeKind, document_change=None) -> None:
        for listener in list(self._listeners):
            listener(WorkspaceChange(kind, document_change))

    # ---------------------------------------------------------------- state
    def open_project(self, project) -> None:
        """Work in ``project``: its label set becomes the labels' set; no image is open yet."""
        self.project = project
        self.problems = {}
        if project is not None:
            self.labels.set_labels(project.labels)
        self._notify(WorkspaceChangeKind.PROJECT)

    def show_image(self, index: int, path: Path | None, image) -> None:
        """Show ``image`` (``index`` in the project, or -1); its document comes later. A
        background read of another image's sidecar is forgotten."""
        self.index, self.image_path, self.image = index, path, image
        self.pending_load = None
        self.set_document(None, notify=False)
        self._notify(WorkspaceChangeKind.IMAGE)

    def set_document(self, document, guard: SidecarGuard | None = None, *, notify: bool = True) -> None:
        """The open image's document (None while its sidecar is being read); ``guard``
        watches its sidecar for outside edits (see :meth:`guard_of`)."""
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        if guard is not None:
            self._guards[document] = guard
        self.document = document
        subscribe = getattr(document, "subscribe", None)  # a stand-in without listeners is just held
        if subscribe is not None:
            self._stop_listening = subscribe(self._on_document_change)
        if notify:
            self._notify(WorkspaceChangeKind.DOCUMENT)

    def _on_document_change(self, change) -> None:
        self._notify(WorkspaceChangeKind.EDITED, change)

    @property
    def editable(self) -> bool:
        """An image is open and its annotations have been read."""
        return self.image is not None and self.document is not None

    @property
    def loading(self) -> bool:
        """The open image's sidecar is being read in the background."""
        return self.pending_load is not None

    @property
    def dirty(self) -> bool:
        """The open document has changes that are not saved."""
        return self.document is not None and self.document.is_dirty

    @property
    def title(self) -> str:
        """The window title: the open image's name, ``*`` when dirty."""
        return window_title(self.image_path.name if self.image_path is not None else None, self.dirty)

    @property
    def autosave_due(self) -> bool:
        """The open document can be saved now (not in the middle of a vertex drag)."""
        return self.document is not None and self.project is not None and not self.document.in_group

    def shown(self) -> ShownImage | None:
        """What is open now with its document (the image a background load replaced, while
        one runs), to go back to if the next image cannot be opened."""
        if self.document is not None and self.image is not None:
            return ShownImage(self.index, self.image_path, self.image, self.document)
        return self.pending_load.restore if self.pending_load is not None else None

    # ---------------------------------------------------------------- opening
    @staticmethod
    def project_at(path, in_folder: bool = False):
        """The project to open for ``path``: a folder, an image alone, or (``in_folder``)
        an image inside its folder's project. Raises :class:`OpenError`."""
        from samlabel.annotations import AnnotationError
        from samlabel.annotations.project import Project

        path = Path(path)
        try:
            project = _folder_of(path) if in_folder and path.is_file() else None
            project = project or Project(path)
        except AnnotationError as exc:
            raise OpenError([(path, str(exc))], str(exc)) from exc
        if not project.images:
            raise OpenError([(path, "contains no images")], f"{path} contains no images.")
        try:
            _ = project.labels  # a broken label file: refuse (saving labels would overwrite it)
        except AnnotationError as exc:
            raise OpenError([(path, str(exc))], f"Cannot open {path}: {exc} — fix or move the label file") from exc
        return project

    def first_image(self, path) -> tuple[int, int]:
        """``(index, step)`` to open first after opening ``path``: an image itself, a
        folder's first image that opens."""
        path = Path(path)
        return (self.project.index_of(path), 0) if path.is_file() else (0, 1)

    def neighbour(self, step: int) -> tuple[int, int]:
        """``(index, step)`` of the next (``step=1``, D) or previous (-1, A) image."""
        return self.index + step, step

    def valid_index(self, index: int) -> bool:
        return self.project is not None and 0 <= index < len(self.project.images)

    def read_image(self, index: int, step: int = 0, failures=(), in_background: Callable[[Path], bool] | None = None) -> ImageRead:
        """Decode the project's ``index``-th image and read its sidecar (unless
        ``in_background(sidecar)`` says it is read in the background).

        An image that cannot be opened (undecodable, empty, not an image, a broken
        sidecar) is recorded in :attr:`problems`; with ``step`` (+1, -1) the next one in
        that direction is tried, with ``step=0`` it is not opened. ``failures``: those of an
        earlier try (a background read that failed) carried on.
        """
        from samlabel.annotations.image_source import load_image

        failures = list(failures)
        new: list[tuple[Path, str]] = []
        source = loaded = path = None
        while 0 <= index < len(self.project.images):
            path = self.project.images[index]
            try:
                source = load_image(path)
                if in_background is None or not in_background(self.project.sidecar_path(path)):
                    loaded = self.project.load_stamped(path)
                break
            except Exception as exc:  # noqa: BLE001 - ImageLoadError, AnnotationError, decode errors
                source = None
                reason = str(exc) or type(exc).__name__
                failures.append((path, reason))
                new.append((path, reason))
                self.problems[path] = reason
                log.warning("cannot open %s: %s", path, reason)
                if step == 0:
                    break
                index += step
        opened = source is not None and not (failures and step == 0)
        if opened:
            self.problems.pop(path, None)
        return ImageRead(index, path, source, loaded, tuple(failures), tuple(new), opened)

    @staticmethod
    def document_of(loaded):
        """A new Document of ``loaded`` (a ``LoadedAnnotation``)."""
        from samlabel.annotations import Document

        return Document(loaded.annotation)

    def take_pending_load(self, image: Path, *, shown: bool = True) -> PendingLoad | None:
        """The background read of ``image``'s sidecar, now over (None when it is not the one
        wanted: a stale result; ``shown``: it must also be the open image's)."""
        pending = self.pending_load
        if pending is None or pending.image != image or (shown and image != self.image_path):
            return None
        self.pending_load = None
        return pending

    def after_failed_load(self, pending: PendingLoad, reason: str) -> tuple[PendingLoad, int | None]:
        """A background read for ``pending`` failed: ``(pending with the failure added, the
        index to try next)`` (None: go back to ``pending.restore``)."""
        from dataclasses import replace

        self.problems[pending.image] = reason
        pending = replace(pending, failures=(*pending.failures, (pending.image, reason)))
        following = self.index + pending.step
        return pending, (following if pending.step != 0 and self.valid_index(following) else None)

    def next_image_path(self) -> Path | None:
        """The image after the open one, unless it is known not to open (for prefetching)."""
        i = self.index + 1
        if not self.valid_index(i) or self.project.images[i] in self.problems:
            return None
        return self.project.images[i]

    def save_location(self, image: Path):
        """Where ``image``'s annotations are saved (a :class:`~samlabel.gui.save_location.SaveLocation`)."""
        from samlabel.gui.save_location import SaveLocation

        return SaveLocation.of(self.project.sidecar_path(image), image)

    # ---------------------------------------------------------------- jobs
    def add_job(self, job) -> None:
        """Track a background job that carries the user's work (it has ``is_running()``)."""
        self._jobs = [j for j in self._jobs if j.is_running()] + [job]

    def pending_jobs(self) -> list:
        """Jobs still running: the window lets them end before it closes or saves."""
        self._jobs = [j for j in self._jobs if j.is_running()]
        return list(self._jobs)


def _folder_of(image: Path):
    """The project of ``image``'s folder when it lists ``image`` (not a hidden file or an
    unknown extension), else None."""
    from samlabel.annotations import AnnotationError
    from samlabel.annotations.project import Project

    try:
        project = Project(image.parent)
        project.index_of(image)
    except (AnnotationError, KeyError, OSError):
        return None
    return project
