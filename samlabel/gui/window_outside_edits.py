"""The main window's side of the guard against overwriting edits made to a sidecar by
another program.

Every Document the workspace shows has a :class:`~samlabel.annotations.sidecar_guard.SidecarGuard`
(made from the stamp of the very bytes it was read from). Every save of it — autosave,
Ctrl+S, before switching images or closing, a mask traced after the user moved on — goes
through :meth:`~samlabel.gui.workspace.Workspace.save`, which lets the guard refuse to write
over a version another program wrote. Then the user is asked (this mixin's
:meth:`OutsideEditsMixin._ask_outside_edit`, :func:`samlabel.gui.dialogs.outside_edit.ask_outside_edit`):
reload theirs (one undoable step), keep mine (theirs copied beside first) or save mine
beside theirs. While the question is open nothing is written, and autosaves that come due
meanwhile do nothing; a question closed without an answer leaves the document unsaved
(asked again at the next save; when the window closes, mine is saved beside theirs). A save
with nobody to ask (a mask traced for an image the user has left) saves mine beside theirs.

When the window becomes active again and the open image has no unsaved changes, an
outside edit is simply shown (reloaded, undoably): there is nothing of mine to lose.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent

from samlabel.annotations.sidecar_guard import OutsideChange, OutsideEditChoice

log = logging.getLogger(__name__)


class OutsideEditsMixin:
    """Mixed into :class:`MainWindow` (with :class:`~samlabel.gui.window_files.FilesMixin`)."""

    def _ask_outside_edit(self, change: OutsideChange) -> OutsideEditChoice | None:
        from samlabel.gui.dialogs import outside_edit

        return outside_edit.ask_outside_edit(self, change)

    # ------------------------------------------------------------------ reloading
    def _reload_sidecar(self, document) -> None:
        """Show the open image's sidecar as it is on disk in ``document``, as one undoable
        step ("Reload from disk"); a large one is read in the background (``document`` is
        put aside meanwhile, so nothing can be edited)."""
        from samlabel.annotations import AnnotationError
        from samlabel.gui.workspace import PendingLoad

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
        self.workspace.apply_reloaded(document, loaded)
        if document is not self.document:
            self._install_document(document, self.workspace.guard_of(document, loaded.image), loaded.notes)
        elif loaded.notes:
            self._show_repair_notes(loaded.image, list(loaded.notes))
        self._update_title()

    def check_outside_edits(self) -> None:
        """Show an outside edit of the open image's sidecar now, if it has no unsaved
        changes (with unsaved changes the next save asks what to keep)."""
        change = self.workspace.outside_change()
        if change is not None:
            self.statusBar().showMessage(f"{change.describe()} Showing it (Undo goes back).", 15000)
            self._reload_sidecar(self.document)

    def changeEvent(self, ev) -> None:  # noqa: N802
        super().changeEvent(ev)
        if ev.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.check_outside_edits()
