"""Saving the workspace's documents, and edits made to their sidecars by other programs.

:class:`WorkspaceSaving` is the part of :class:`~samlabel.gui.workspace.Workspace` that
writes: :meth:`~WorkspaceSaving.save` writes a document through the project, guarded
against outside edits (a :class:`~samlabel.annotations.sidecar_guard.SidecarGuard` per
document), and *returns* a :class:`SaveResult` for the window to show; an outside edit is
resolved as the user chooses (``ask``). :meth:`~WorkspaceSaving.outside_change` says when the
open sidecar was changed by another program and :meth:`~WorkspaceSaving.apply_reloaded`
takes it in as one undoable step. Qt-free.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from samlabel.annotations.sidecar_guard import OutsideChange, OutsideEditChoice, OutsideEditError, SidecarGuard

log = logging.getLogger("samlabel.gui.workspace")


RELOAD_TEXT = "Reload from disk"  # the undo text (and DocumentChange.text) of a reload from the sidecar


class SaveOutcome(Enum):
    UNCHANGED = "unchanged"  # nothing to save: no document, or no unsaved changes
    SAVED = "saved"  # written over the sidecar
    RESOLVED = "resolved"  # the sidecar had an outside edit: done as the user chose (``message``)
    NOT_SAVED = "not_saved"  # an outside edit and no choice: it stays unsaved (``message``)
    BUSY = "busy"  # the question about an outside edit is open: nothing written
    FAILED = "failed"  # the file could not be written (``error``): it stays unsaved


@dataclass(frozen=True)
class SaveResult:
    """What a save did, for the window to show."""

    outcome: SaveOutcome
    document: Any = None
    image: Path | None = None
    wrote: bool = False  # the sidecar of ``image`` now holds this document (mark it annotated)
    message: str = ""
    error: Exception | None = None
    reload_theirs: bool = False  # show the sidecar as it is on disk (one undoable step)

    @property
    def ok(self) -> bool:
        """Nothing of the user's is left unsaved (the caller may move on)."""
        return self.outcome in (SaveOutcome.UNCHANGED, SaveOutcome.SAVED, SaveOutcome.RESOLVED)


#: asks the user what to do about an outside edit (None: closed unanswered)
AskOutsideEdit = Callable[[OutsideChange], "OutsideEditChoice | None"]


class WorkspaceSaving:
    """Saving and outside edits of a workspace (its ``project``, ``document``, ``image_path``,
    ``asking`` flag and ``_guards``: set by :class:`~samlabel.gui.workspace.Workspace`)."""

    project: Any
    document: Any
    image_path: Path | None
    asking: bool
    labels: Any

    def guard_of(self, document, image) -> SidecarGuard:
        """The guard of ``document`` (every document the workspace showed has one; a stray
        one is guarded from the file as it is now)."""
        guard = self._guards.get(document)
        if guard is None:
            guard = SidecarGuard.now(self.project.sidecar_path(image))
            self._guards[document] = guard
        return guard

    def save(self, document=None, image: Path | None = None, *, ask: AskOutsideEdit | None = None,
             unanswered: OutsideEditChoice | None = None, end_group: bool = False) -> SaveResult:
        """Save ``document`` (of ``image``; default: the open one) if it changed, through the
        project, never over an outside edit; returns what happened (never raises for a file
        that cannot be written: ``FAILED`` with the ``error``).

        ``end_group``: a vertex drag in progress is ended first (an explicit save); else a
        document in the middle of one is not saved. When the sidecar was changed by another
        program, ``ask(change)`` chooses what to keep; without ``ask``, or when it returns
        None, ``unanswered`` applies; with neither it stays unsaved (``NOT_SAVED``).
        """
        if document is None:
            document, image = self.document, self.image_path
        if document is None or self.project is None:
            return SaveResult(SaveOutcome.UNCHANGED, document, image)
        if document.in_group:
            if not end_group:
                return SaveResult(SaveOutcome.UNCHANGED, document, image)
            document.end_group()
        if not document.is_dirty:
            return SaveResult(SaveOutcome.UNCHANGED, document, image)
        if self.asking:
            return SaveResult(SaveOutcome.BUSY, document, image)  # an autosave while the user decides
        guard = self.guard_of(document, image)
        try:
            self.project.save(document.annotation, image, guard=guard)
        except OutsideEditError as exc:
            return self._resolve_outside_edit(document, image, guard, exc.change, ask, unanswered)
        except Exception as exc:  # noqa: BLE001 - SaveError names the file and reason
            return SaveResult(SaveOutcome.FAILED, document, image, error=exc)
        document.mark_saved()
        return SaveResult(SaveOutcome.SAVED, document, image, wrote=True)

    def _resolve_outside_edit(self, document, image, guard: SidecarGuard, change: OutsideChange,
                              ask: AskOutsideEdit | None, unanswered: OutsideEditChoice | None) -> SaveResult:
        choice = None
        if ask is not None:
            self.asking = True
            try:
                choice = ask(change)
            finally:
                self.asking = False
        choice = choice or unanswered
        if choice is None:
            return SaveResult(SaveOutcome.NOT_SAVED, document, image,
                              message=f"Not saved: {change.describe()} Save again to choose what to keep.")
        try:
            _, mine = self.project.encode(document.annotation, image)  # as it is now: it may have changed meanwhile
            resolution = guard.resolve(choice, mine)
        except Exception as exc:  # noqa: BLE001 - SaveError: the copy could not be written
            return SaveResult(SaveOutcome.FAILED, document, image, error=exc)
        log.info("%s: %s", change.sidecar, resolution.message())
        if resolution.saved_mine:
            document.mark_saved()
        return SaveResult(SaveOutcome.RESOLVED, document, image, wrote=resolution.saved_mine,
                          message=resolution.message(),
                          reload_theirs=resolution.reload_theirs and document is self.document)

    def save_labels(self) -> Exception | None:
        """Save the label set to the project's label file; the error, if that failed."""
        if self.project is None:
            return None
        try:
            self.project.save_labels(self.labels.labels)
        except Exception as exc:  # noqa: BLE001 - shown, not fatal
            return exc
        return None

    # ---------------------------------------------------------------- outside edits
    def outside_change(self) -> OutsideChange | None:
        """An outside edit of the open image's sidecar to show now: only when the open
        document has no unsaved changes (else the next save asks what to keep)."""
        from samlabel.annotations import AnnotationError

        document = self.document
        if document is None or self.project is None or self.asking:
            return None
        if document.is_dirty or document.in_group:
            return None
        guard = self._guards.get(document)
        if guard is None:
            return None
        try:
            return guard.outside_change()
        except AnnotationError:
            return None  # unreadable now: the next save reports it

    def apply_reloaded(self, document, loaded) -> None:
        """``loaded`` (the sidecar read again) replaces ``document``'s annotation as one
        undoable step; it is saved as it is on disk."""
        document.apply(loaded.annotation, text=RELOAD_TEXT)
        document.mark_saved()
        self.guard_of(document, loaded.image).adopt(loaded.stamp)
