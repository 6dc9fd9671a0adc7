"""The main window's file side, as widget glue over the Qt-free :class:`~samlabel.gui.workspace.Workspace`.

What is open, what opens next, reading sidecars, saving and what is dirty are the
workspace's (:mod:`samlabel.gui.workspace`); this mixin runs its file dialogs, the
autosave timer, the background sidecar reader and shows what happened (status bar,
file list, title, a message box when a save fails).

Opening a folder makes it a :class:`~samlabel.annotations.project.Project` (file list with
annotated marks). Opening one image from the command line or File ▸ Open image… opens it
inside its folder (``in_folder=True``: D / A move through the folder's images, the chosen
image first); otherwise it is a project of that image alone. Its sidecar is beside it
either way, and the file list dock says where. Moving to another image (D / A, file list)
saves first. Every document change is autosaved (atomically, by the project) on the next
event-loop turn, except in the middle of a vertex drag (saved on release); a save never
overwrites a sidecar another program changed meanwhile
(:mod:`samlabel.gui.window_outside_edits` asks what to keep).

Saving goes one way: a trigger (autosave timer, Ctrl+S, switching image, closing, a mask
traced after the user left its image) calls :meth:`FilesMixin.save_now` or
:meth:`FilesMixin._autosave`, which ask :meth:`Workspace.save`; it writes through the
project and returns a :class:`~samlabel.gui.workspace.SaveResult` that
:meth:`FilesMixin._show_save_result` displays.

A large sidecar is read in the background (:mod:`samlabel.gui.sidecar_loader`): the image
shows at once, ``document`` is None until ``annotationsLoaded`` (so nothing can be edited
or saved), the status bar says what is being read, and a result for an image the user has
left is dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox  # QMessageBox: only when saving fails

from samlabel.annotations.project import IMAGE_EXTENSIONS
from samlabel.annotations.sidecar_guard import OutsideEditChoice
from samlabel.annotations.image_source import ImageSource, hash_bytes, load_image
from samlabel.gui.sidecar_loader import LoadingIndicator, SidecarLoader
from samlabel.gui.video_controller import VIDEO_FILTER, is_video_file
from samlabel.gui.workspace import (  # noqa: F401 - ShownImage, PendingLoad, window_title: imported from here too
    APP_TITLE,
    OpenError,
    PendingLoad,
    SaveOutcome,
    SaveResult,
    ShownImage,
    WorkspaceChangeKind,
    describe_open_failures,
    window_title,
)

log = logging.getLogger(__name__)

IMAGE_FILTER = ("Images (" + " ".join("*" + e for e in IMAGE_EXTENSIONS) + ");;"
                + VIDEO_FILTER)  # a video chosen here opens as its frames (samlabel.gui.video_controller)
BESIDE = OutsideEditChoice.SAVE_MINE_BESIDE  # what happens to mine when the window closes unanswered


class FilesMixin:
    """Mixed into :class:`MainWindow`; expects ``canvas``, ``sam``, ``layer``, ``embeddings``."""

    def _init_files(self) -> None:
        from samlabel.gui.docks.binding import bind
        from samlabel.gui.workspace import Workspace

        # what the user works on lives in the Qt-free workspace; the window binds to it
        self.workspace = Workspace()
        self.label_state = self.workspace.labels  # the one owner of labels, current and hidden
        self.layer.label_state = self.label_state
        bind(self, self.workspace, self._on_workspace_change)
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(0)
        self._autosave_timer.timeout.connect(self._autosave)
        self.last_open_failures: list[tuple[Path, str]] = []  # (image, reason) of the last failed open
        self.sidecar_loader = SidecarLoader(self)
        self.sidecar_loader.loaded.connect(self._on_sidecar_loaded)
        self.sidecar_loader.failed.connect(self._on_sidecar_failed)
        self._loading_indicator = LoadingIndicator()
        self.statusBar().addPermanentWidget(self._loading_indicator)

    # ------------------------------------------------------------------ the workspace's state
    project = property(lambda self: self.workspace.project, doc="The open Project (or None).")
    index = property(lambda self: self.workspace.index, doc="The open image's index in the project, or -1.")
    image = property(lambda self: self.workspace.image, doc="The open image's ImageSource (or None).")
    image_path = property(lambda self: self.workspace.image_path, doc="The open image's path (or None).")
    document = property(lambda self: self.workspace.document, doc="The open image's Document (None while loading).")
    annotations_loading = property(lambda self: self.workspace.loading,
                                   doc="True while the open image's sidecar is read in the background.")

    # ------------------------------------------------------------------ labels
    @property
    def labels(self):
        return self.label_state.labels

    def current_label(self) -> str:
        """The label new shapes get (``label_state.current``)."""
        return self.label_state.current

    def set_current_label(self, name: str) -> None:
        """Make ``name`` current (a new name is added to the project's labels)."""
        if name not in self.labels:
            self.label_state.add(name, make_current=True)
        else:
            self.label_state.set_current(name)
        self.statusBar().showMessage(f"Label: {name}", 3000)

    def choose_label_index(self, n: int) -> None:
        """Keys 1-9 (``n`` 0-based)."""
        names = self.labels.names
        if 0 <= n < len(names):
            self.set_current_label(names[n])

    def _save_labels(self) -> None:
        error = self.workspace.save_labels()
        if error is not None:
            self.statusBar().showMessage(f"Could not save the label list: {error}", 10000)

    # ------------------------------------------------------------------ opening
    def open_path(self, path, in_folder: bool = False) -> bool:
        """Open an image or a folder (as a project). Returns False (with a message) on failure.

        ``in_folder``: an image opens inside its folder (a project of the folder's images,
        showing this one first), so D / A move through its neighbours.
        """
        path = Path(path)
        if is_video_file(path):  # expanded into a folder of frames, opened when written
            return self.video.open_video(path)
        if not self.save_now():
            return False
        try:
            project = self.workspace.project_at(path, in_folder)
        except OpenError as exc:
            self._report_open_failures(exc.failures, opened=None, plain=exc.plain)
            return False
        self.workspace.open_project(project)
        self._index_after_rename = None
        if self.settings is not None:
            self.settings.last_folder = str(project.root)
        self._labels_changed()
        self._files_changed()
        return self.load_index(*self.workspace.first_image(path))

    def load_index(self, index: int, step: int = 0, *, _pending: "PendingLoad | None" = None) -> bool:
        """Show the project's ``index``-th image (saving the current one first).

        An image that cannot be opened (undecodable, empty, not an image, a broken
        sidecar) is never a modal dialog: it is marked in the file list and named in the
        status bar. With ``step`` (+1 for D, -1 for A) such images are skipped, going on in
        that direction; with ``step=0`` (a click in the file list) the current image stays.
        A broken sidecar is left untouched on disk: its image does not open, so nothing
        can autosave over it (:meth:`Workspace.read_image`).

        A large sidecar is read in the background (:mod:`samlabel.gui.sidecar_loader`):
        the image shows at once, ``self.document`` is None (nothing can be edited) until
        ``annotationsLoaded`` is emitted, and a sidecar that turns out broken is handled
        as above when its failure arrives. ``_pending`` carries a background load's
        failures on to the next image when it skips one.
        """
        if not self.workspace.valid_index(index):
            return False
        if self.labels_dock.pending_renames():
            # a project-wide rename is rewriting sidecars: an image opened now could show
            # (and autosave back) the old label; open it when the rename has finished
            self._index_after_rename = index
            self.statusBar().showMessage("Renaming the label in every image… the image opens when that is done.")
            return False
        if not self.save_now():
            return False
        restore = _pending.restore if _pending is not None else self.workspace.shown()
        read = self.workspace.read_image(index, step, _pending.failures if _pending is not None else (),
                                         in_background=self.sidecar_loader.in_background)
        for path, reason in read.new_failures:
            self.files_dock.mark_problem(path, reason)
        if not read.opened:
            if _pending is not None:  # the skipped image is shown: back to what was open before
                self._restore_shown(restore)
            self._report_open_failures(list(read.failures), opened=None)
            self.files_dock.set_current(self.image_path)  # the list goes back to the open image
            return False
        self.files_dock.mark_problem(read.path, None)
        self._show_image(read.index, read.path, read.source)
        if read.loaded is not None:
            self._install_document(self.workspace.document_of(read.loaded), read.loaded.guard(), read.loaded.notes,
                                   read.failures)
        else:
            self._start_background_load(PendingLoad(read.path, step, read.failures, restore=restore))
        self.imageOpened.emit(str(read.path))
        return True

    def open_image_dialog(self) -> None:
        start = self.settings.last_folder if self.settings is not None else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start or "", IMAGE_FILTER)
        if path:
            self.open_path(path, in_folder=True)

    def open_folder_dialog(self) -> None:
        start = self.settings.last_folder if self.settings is not None else ""
        path = QFileDialog.getExistingDirectory(self, "Open folder", start or "")
        if path:
            self.open_path(path)

    def next_image(self) -> bool:
        return self.load_index(*self.workspace.neighbour(+1))

    def prev_image(self) -> bool:
        return self.load_index(*self.workspace.neighbour(-1))

    def _prefetch_next(self) -> None:
        """Queue the next image's embedding (computed when the worker is idle)."""
        path = self.workspace.next_image_path()
        if self.embeddings is None or path is None or self.files_dock.problem(path):
            return
        try:
            key = self.embeddings.key_for(hash_bytes(path.read_bytes()))
        except OSError:
            return
        self.embeddings.prefetch(key, lambda p=path: load_image(p).rgb)

    # ------------------------------------------------------------------ showing
    def _show_image(self, index: int, path: Path | None, source: ImageSource | None) -> None:
        """Show an image without annotations (none editable yet); a background load of
        another image's sidecar becomes stale."""
        self.sidecar_loader.cancel()
        self._loading_indicator.done()
        self._detach_document()
        self.workspace.show_image(index, path, source)
        self.sam.set_image(None)
        self.canvas.set_image(source.rgb if source is not None else None)
        self.sam.set_color(self._label_color(self.current_label()))
        self._request_embedding()
        self._update_title()
        if path is not None:
            self._show_save_location(path)

    def _detach_document(self) -> None:
        """No document is shown (loading): nothing can be edited or saved."""
        self.workspace.set_document(None)
        self.layer.clear()
        self._document_loaded()

    def _install_document(self, document, guard=None, notes=(), failures=()) -> None:
        """Show ``document`` for the open image; ``guard`` watches its sidecar (None: the
        one it has already)."""
        self.workspace.set_document(document, guard)
        self.layer.sync(document.shapes, self.labels)
        self._update_title()
        self._document_loaded()
        if failures:
            self._report_open_failures(list(failures), opened=self.image_path)
        elif getattr(self, "_open_problem_label", None) is not None:
            self._open_problem_label.hide()
        if not failures and notes:
            self._show_repair_notes(self.image_path, list(notes))
        self.annotationsLoaded.emit(str(self.image_path))

    def _restore_shown(self, shown: "ShownImage | None") -> None:
        """Go back to ``shown`` (None: no image) after the next image failed to open."""
        if shown is None:
            self._show_image(-1, None, None)
            return
        self._show_image(shown.index, shown.path, shown.image)
        self._install_document(shown.document, self.workspace.guard_of(shown.document, shown.path))

    def _on_workspace_change(self, change) -> None:
        """The open document changed: redraw its shapes, autosave on the next turn."""
        if change.kind is not WorkspaceChangeKind.EDITED:
            return
        if change.redraw:
            self.layer.sync(self.document.shapes, self.labels)
            self.editor.set_selection([u for u in self.layer.order if u in self.layer.selected])
            self.documentChanged.emit()
            if self.workspace.autosave_due:
                self._schedule_autosave()
        if not change.saved:  # a save's result updates the title (_show_save_result)
            self._update_title()

    # ------------------------------------------------------------------ background loading
    def _start_background_load(self, pending: "PendingLoad") -> None:
        self.workspace.pending_load = pending
        self.sidecar_loader.start(self.project, pending.image)
        self._loading_indicator.show_loading(pending.image.name)
        self.statusBar().showMessage(f"Loading annotations of {pending.image.name}…")

    def _on_sidecar_loaded(self, _generation: int, loaded) -> None:
        pending = self.workspace.take_pending_load(loaded.image)
        if pending is None:
            return  # not for the image shown (the loader drops stale results already)
        self._loading_indicator.done()
        if pending.reload_into is not None:
            self._apply_reloaded(pending.reload_into, loaded)
            return
        self._install_document(self.workspace.document_of(loaded), loaded.guard(), loaded.notes, pending.failures)
        if not pending.failures and not loaded.notes:
            self.statusBar().showMessage(f"Annotations of {loaded.image.name} loaded", 3000)

    def _on_sidecar_failed(self, _generation: int, image: Path, reason: str) -> None:
        pending = self.workspace.take_pending_load(image, shown=False)
        if pending is None:
            return
        self._loading_indicator.done()
        log.warning("cannot open %s: %s", image, reason)
        if pending.reload_into is not None:  # their version is unreadable: mine stays, unsaved
            self._install_document(pending.reload_into, self.workspace.guard_of(pending.reload_into, image))
            self._say_reload_failed(reason)
            return
        self.files_dock.mark_problem(image, reason)
        pending, following = self.workspace.after_failed_load(pending, reason)
        if following is not None:
            self.load_index(following, pending.step, _pending=pending)
            return
        self._restore_shown(pending.restore)
        self._report_open_failures(list(pending.failures), opened=None)
        self.files_dock.set_current(self.image_path)

    def _annotations_unavailable(self) -> bool:
        """True (with a status message) when an image is shown but its annotations are not
        there to edit yet: the mouse tools ignore the canvas then."""
        if self.document is not None or self.image is None:
            return False
        name = self.image_path.name if self.image_path is not None else "the image"
        self.statusBar().showMessage(f"Loading annotations of {name}… editing starts when they are read.", 5000)
        return True

    def _report_open_failures(self, failures: list[tuple[Path, str]], opened: Path | None, plain: str | None = None) -> None:
        """Name the images (or the folder) that could not be opened in the status bar and a
        permanent notice beside it: never a modal dialog, which would stop D / A (and hang
        an offscreen session)."""
        text = describe_open_failures(failures, opened is not None, self.image_path is not None, plain)
        self.last_open_failures = list(failures)
        self.statusBar().showMessage(text, 30000)
        # the transient message can be replaced at once (embedding progress): a permanent
        # notice keeps the last failure visible, its tooltip says it all
        if getattr(self, "_open_problem_label", None) is None:
            from PySide6.QtWidgets import QLabel

            self._open_problem_label = QLabel(self)
            self._open_problem_label.setObjectName("open_problem_label")
            self._open_problem_label.setStyleSheet("color: #c82828;")
            self.statusBar().addPermanentWidget(self._open_problem_label)
        names = ", ".join(p.name for p, _ in failures)
        self._open_problem_label.setText(f"⚠ cannot open {names if len(names) < 60 else names[:57] + '…'}")
        self._open_problem_label.setToolTip(text)
        self._open_problem_label.show()

    def _show_repair_notes(self, path: Path, notes: list[str]) -> None:
        """The sidecar needed repairs on load: say so (they are saved with the next change)."""
        first = notes[0] if len(notes) == 1 else f"{notes[0]} (and {len(notes) - 1} more)"
        self.statusBar().showMessage(f"{path.name}: annotations repaired on load — {first}", 20000)
        log.info("%s: %s", path, "; ".join(notes))

    def _on_project_rename_finished(self, _report) -> None:
        """A project-wide label rename ended: refresh the file marks, open a deferred image."""
        self.files_dock.refresh()
        index = getattr(self, "_index_after_rename", None)
        if index is not None and not self.labels_dock.pending_renames():
            self._index_after_rename = None
            self.load_index(index)

    # ------------------------------------------------------------------ saving
    def save_now(self, closing: bool = False) -> bool:
        """Save the current document if it changed. False (with a message) when it stays
        unsaved: saving failed, or its sidecar was changed by another program and the
        user has not chosen what to keep (``closing``: then mine is saved beside it)."""
        self._autosave_timer.stop()
        result = self.workspace.save(ask=self._ask_outside_edit, unanswered=BESIDE if closing else None, end_group=True)
        self._show_save_result(result, failure="dialog")
        return result.ok

    def _schedule_autosave(self) -> None:
        self._autosave_timer.start()

    def _autosave(self) -> None:
        if self.workspace.autosave_due:
            self._show_save_result(self.workspace.save(ask=self._ask_outside_edit))

    def save_left_document(self, doc, path) -> None:
        """Save the document of an image the user has left (a mask traced after the switch),
        beside the sidecar if that was changed outside."""
        self._show_save_result(self.workspace.save(doc, path, unanswered=BESIDE))

    def _show_save_result(self, result: SaveResult, failure: str = "status") -> None:
        """Show what a save did: the file list's mark, the status bar, the title; a file
        that could not be written in a message box (``failure="dialog"``, an explicit save)
        or the status bar (an autosave: it stays dirty and is retried on the next change)."""
        if result.outcome is SaveOutcome.FAILED:
            if failure == "dialog":
                QMessageBox.critical(self, "samlabel", f"Could not save the annotations:\n{result.error}")
            else:
                self.statusBar().showMessage(f"Autosave failed: {result.error}", 15000)
        if result.wrote:
            self._mark_file_annotated(result.image)
        if result.message:
            self.statusBar().showMessage(result.message, 30000 if result.outcome is SaveOutcome.NOT_SAVED else 20000)
        if result.reload_theirs:
            self._reload_sidecar(result.document)
        self._update_title()

    def _update_title(self) -> None:
        self.setWindowTitle(self.workspace.title)

    def _show_save_location(self, image: Path) -> None:
        """Where ``image``'s annotations go: under the file list, and in the status bar for the
        sample (a copy in the user cache, where nobody would look)."""
        where = self.workspace.save_location(image)
        self.files_dock.set_save_location(where.caption(), where.sidecar)
        if where.sample:
            self.statusBar().showMessage(where.status_message(), 30000)
