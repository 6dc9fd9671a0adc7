"""The main window's guard against overwriting edits made to a sidecar by another program.

Every Document the window shows has a :class:`~samlabel.annotations.sidecar_guard.SidecarGuard`
(made from the stamp of the very bytes it was read from). Every save of it — autosave,
Ctrl+S, before switching images or closing, a mask traced after the user moved on — goes
through :meth:`OutsideEditsMixin._save_document`, which lets the guard refuse to write over
a version another program wrote. Then the user is asked
(:func:`samlabel.gui.dialogs.outside_edit.ask_outside_edit`): reload theirs (one undoable
step), keep mine (theirs copied beside first) or save mine beside theirs. While the
question is open nothing is written, and autosaves that come due meanwhile do nothing; a
question closed without an answer leaves the document unsaved (asked again at the next
save; when the window closes, mine is saved beside theirs). A save with nobody to ask (a
mask traced for an image the user has left) saves mine beside theirs.

When the window becomes active again and the open image has no unsaved changes, an
outside edit is simply shown (reloaded, undoably): there is nothing of mine to lose.
"""

from __future__ import annotations

import logging
import weakref

from PySide6.QtCore import QEvent

from samlabel.annotations.sidecar_guard import OutsideChange, OutsideEditChoice, OutsideEditError, SidecarGuard

log = logging.getLogger(__name__)


class OutsideEditsMixin:
    """Mixed into :class:`MainWindow` (with :class:`~samlabel.gui.window_files.FilesMixin`)."""

    def _init_outside_edits(self) -> None:
        self._guards: "weakref.WeakKeyDictionary[object, SidecarGuard]" = weakref.WeakKeyDictionary()
        self._asking_outside_edit = False

    def _guard_of(self, document, image) -> SidecarGuard:
        """The guard of ``document`` (every document the window made has one; a stray one
        is guarded from the file as it is now)."""
        guard = self._guards.get(document)
        if guard is None:
            guard = SidecarGuard.now(self.project.sidecar_path(image))
            self._guards[document] = guard
        return guard

    # ------------------------------------------------------------------ saving
    def _save_document(self, document, image, *, ask: bool = True, unanswered: OutsideEditChoice | None = None) -> bool:
        """Save ``document`` (of ``image``) if it changed, never over an outside edit.

        Returns False when it stays unsaved because its sidecar was changed by another
        program and no choice was made (the question is open, or was closed unanswered
        and ``unanswered`` is None). ``ask=False``: nobody is asked, ``unanswered`` applies.

        Raises:
            SaveError: a file could not be written (the previous one is intact).
        """
        if not document.is_dirty:
            return True
        if self._asking_outside_edit:
            return False  # an autosave that came due while the user is deciding
        guard = self._guard_of(document, image)
        try:
            wrote = self.project.autosave(document, image, guard=guard)
        except OutsideEditError as exc:
            return self._resolve_outside_edit(document, image, guard, exc.change, ask, unanswered)
        if wrote:
            self._mark_file_annotated(image)
        return True

    def _resolve_outside_edit(self, document, image, guard: SidecarGuard, change: OutsideChange, ask: bool,
                              unanswered: OutsideEditChoice | None) -> bool:
        choice = self._ask_outside_edit(change) if ask else None
        choice = choice or unanswered
        if choice is None:
            self.statusBar().showMessage(f"Not saved: {change.describe()} Save again to choose what to keep.", 30000)
            return False
        _, mine = self.project.encode(document.annotation, image)  # as it is now: it may have changed meanwhile
        resolution = guard.resolve(choice, mine)
        log.info("%s: %s", change.sidecar, resolution.message())
        if resolution.saved_mine:
            document.mark_saved()
            self._mark_file_annotated(image)
        self.statusBar().showMessage(resolution.message(), 20000)
        if resolution.reload_theirs and document is self.document:
            self._reload_sidecar(document)
        return True

    def _ask_outside_edit(self, change: OutsideChange) -> OutsideEditChoice | None:
        from samlabel.gui.dialogs import outside_edit

        self._asking_outside_edit = True
        try:
            return outside_edit.ask_outside_edit(self, change)
        finally:
            self._asking_outside_edit = False

    # ------------------------------------------------------------------ reloading
    def _reload_sidecar(self, document) -> None:
        """Show the open image's sidecar as it is on disk in ``document``, as one undoable
        step ("Reload from disk"); a large one is read in the background (``document`` is
        put aside meanwhile, so nothing can be edited)."""
        from samlabel.annotations import AnnotationError
        from samlabel.gui.window_files import PendingLoad

        image = self.image_path
        if self.sidecar_loader.in_background(self.project.sidecar_path(image)):
            self._detach_document()
            self._start_background_load(PendingLoad(image, reload_into=document))
            return
        try:
            loaded = self.project.load_stamped(image)
        except AnnotationError as exc:
            self._say_reload_failed(str(exc))
            return
        self._apply_reloaded(document, loaded)

    def _say_reload_failed(self, reason: str) -> None:
        """Their version is unreadable (half written, a merge conflict): mine stays, unsaved,
        and the next save asks again."""
        self.statusBar().showMessage(f"Could not reload the annotations: {reason} — your version is kept (not saved)", 30000)

    def _apply_reloaded(self, document, loaded) -> None:
        """``loaded`` (the sidecar read again) replaces ``document``'s annotation undoably."""
        document.apply(loaded.annotation, text="Reload from disk")
        document.mark_saved()
        self._guard_of(document, loaded.image).adopt(loaded.stamp)
        if document is not self.document:
            self._install_document(document, self._guard_of(document, loaded.image), loaded.notes)
        elif loaded.notes:
            self._show_repair_notes(loaded.image, list(loaded.notes))
        self._update_title()

    def check_outside_edits(self) -> None:
        """Show an outside edit of the open image's sidecar now, if it has no unsaved
        changes (with unsaved changes the next save asks what to keep)."""
        from samlabel.annotations import AnnotationError

        document = self.document
        if document is None or self.project is None or self._asking_outside_edit:
            return
        if document.is_dirty or document.in_group:
            return
        guard = self._guards.get(document)
        if guard is None:
            return
        try:
            change = guard.outside_change()
        except AnnotationError:
            return  # unreadable now: the next save reports it
        if change is not None:
            self.statusBar().showMessage(f"{change.describe()} Showing it (Undo goes back).", 15000)
            self._reload_sidecar(document)

    def changeEvent(self, ev) -> None:  # noqa: N802
        super().changeEvent(ev)
        if ev.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.check_outside_edits()
