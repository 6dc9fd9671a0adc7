"""The window's video side: opening a video, the timeline of a sequence, propagation, and
marking frames reviewed. The engine is :mod:`samlabel.video` (Qt-free); this is its glue.

- **Open Video…** (File menu; also a video path given to :meth:`MainWindow.open_path`, as
  on the command line): the video is expanded into ``<stem>_frames/`` beside it
  (:func:`samlabel.video.expand.expand_video`) by a background
  :class:`~samlabel.gui.tasks.Task` with a progress dialog that can cancel; then that folder
  opens as the project. A folder expanded earlier is opened as it is.
- **Timeline** (:class:`~samlabel.gui.docks.timeline_dock.TimelineDock` under the canvas)
  for a project that is a sequence (:func:`~samlabel.gui.timeline_model.is_sequence`): the
  marks come from the Qt-free :class:`~samlabel.gui.timeline_model.TimelineModel`, read
  again (only what changed on disk) after every save and every frame a propagation writes.
  Clicking the bar opens that frame; Home / End open the first / last frame; D / A step.
- **Propagate…** (:class:`~samlabel.gui.dialogs.propagate_dialog.PropagateDialog`): the
  frame on screen is saved, then its objects are carried through the sequence by
  :func:`samlabel.video.propagate.propagate` in a Task; each frame is written as it is
  computed, the timeline's "computing" handle moves and its marks follow. When a frame
  written is the one on screen, and at the end, the window shows the new sidecar through the
  outside-edit mechanism (:meth:`OutsideEditsMixin.check_outside_edits`: reloaded
  undoably when the open document has no unsaved changes, else the next save asks).
  A frame on screen with unsaved edits is *held*: the run leaves it to the person (the
  report counts it; saving makes it theirs, a rerun fills it if they saved nothing).
  The model is a video predictor: :attr:`VideoController.predictor_factory` (replaceable:
  tests inject a small one) returns ``(predictor, model_label)`` and is called on the worker;
  the default (:func:`video_model_for`) is EdgeTAM on a CPU (about four times faster than
  SAM 2.1 tiny there), SAM 2.1 tiny with CUDA, when downloaded; else the window's SAM 2.1
  model; else any video model found; it is kept for the next run. Video ▸ Download video
  model… fetches EdgeTAM or SAM 2.1 tiny.
- **Mark reviewed** (checkable): the labelme image flag ``reviewed`` of the open frame,
  set through the document (undoable, autosaved); propagation never overwrites such a frame.
- **Re-propagate corrections** (checkable, on by default, remembered): a person's change to a
  propagated frame is carried on through the frames propagation wrote after it
  (:mod:`samlabel.gui.video_corrections`, ``self.corrections``). A user's Start during such
  an automatic run stops it and goes first; the correction follows.
  **Stop propagation** stops the run going and the corrections waiting (frames done stay written).
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QFileDialog

from samlabel.gui.docks.binding import bind
from samlabel.gui.docks.timeline_dock import TimelineDock
from samlabel.gui.tasks import Task
from samlabel.gui.timeline_model import TimelineModel, is_sequence
from samlabel.gui.video_corrections import CorrectionCarrier, is_reload
from samlabel.gui.workspace import WorkspaceChangeKind
from samlabel.video.expand import VIDEO_EXTENSIONS
from samlabel.video.objects import REVIEWED_FLAG, REVIEWED_KEY, is_reviewed

log = logging.getLogger(__name__)

VIDEO_FILTER = "Videos (" + " ".join("*" + e for e in VIDEO_EXTENSIONS) + ");;All files (*)"
REFRESH_CHUNK = 50  # sidecars read per event-loop turn when a sequence opens
LIVE_REFRESH_MS = 500  # the timeline re-reads what changed on disk this often during a propagation
PredictorFactory = Callable[[], tuple[Any, str]]


def is_video_file(path) -> bool:
    path = Path(path)
    return path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file()


def frames_folder_for(video) -> Path:
    """Where a video's frames go: ``clip_frames/`` beside ``clip.mp4``."""
    video = Path(video)
    return video.with_name(f"{video.stem}_frames")


def propagation_problem(annotation, sidecar: Path, index: int, name: str) -> str:
    """Why the frame cannot be a propagation source ("" when it can): no shapes with an area."""
    from samlabel.annotations.errors import AnnotationError
    from samlabel.video.objects import frame_objects

    try:
        objects = frame_objects(annotation)
    except AnnotationError as exc:
        return f"{sidecar}: {exc}"
    if not objects:
        return (f"{sidecar}: frame {index + 1} ({name}) has no shapes to propagate — label the objects "
                "with polygons, rectangles or masks first.")
    return ""


def video_model_for(choice, find=None) -> tuple[str, Optional[str], Optional[str]]:
    """``(name, checkpoint, device)`` of the video model to propagate with, for the window's
    model ``choice`` (a ``ModelChoice`` or None): the device's default video model
    (:func:`samlabel.video.propagate.default_model`: EdgeTAM on a CPU) when it is downloaded;
    else the window's SAM 2.1 model (its own checkpoint); else the first video model downloaded.
    VideoError naming what to download when there is none. ``find(name)`` -> path or None
    (default: the download location's ``find_checkpoint``)."""
    from samlabel.video.errors import VideoError
    from samlabel.video.propagate import CPU_DEFAULT_MODEL, DEFAULT_MODEL, default_model

    if find is None:
        from samlabel.gui.model_manager import find_checkpoint as find
    device = getattr(choice, "device", None) or None
    preferred = default_model(device)
    if find(preferred) is not None:
        return preferred, None, device
    if choice is not None and str(choice.name).startswith("sam2") and choice.checkpoint is not None:
        return choice.name, str(choice.checkpoint), device
    for name in (DEFAULT_MODEL, CPU_DEFAULT_MODEL):
        if find(name) is not None:
            return name, None, device
    raise VideoError("Propagation needs a video model and none is downloaded: use Video ▸ Download video model… "
                     f"(EdgeTAM, the fast one on a CPU, or SAM 2.1 Hiera tiny) or run 'samlabel download {preferred}'.")


class SharedPredictor:
    """The default predictor factory: the video predictor :func:`video_model_for` chooses,
    loaded once (on the worker thread) and kept for the next runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._predictor: Any = None

    def factory(self, choice) -> PredictorFactory:
        """A factory for the window's model ``choice`` (a ``ModelChoice`` or None)."""

        def make():
            name, checkpoint, device = video_model_for(choice)
            return self.get(name, checkpoint, device), name

        return make

    def get(self, name: str, checkpoint: Optional[str], device: Optional[str]) -> Any:
        from samlabel.video.propagate import load_predictor

        key = (name, checkpoint, device)
        with self._lock:
            if self._key == key and self._predictor is not None:
                return self._predictor
            self._predictor = None  # the old one goes before the new one loads
            self._predictor = load_predictor(name, checkpoint, device)
            self._key = key
            return self._predictor


def run_propagation(root: Path, source: str, options, factory: PredictorFactory, tolerance: float, *, progress,
                    cancel, hold=None):
    """The Task's function (worker thread): load the predictor, propagate, return the report.
    ``hold(name)``: frames not to write now (the frame on screen with unsaved edits)."""
    from samlabel.video.propagate import propagate

    if cancel():
        return None
    predictor, label = factory()
    return propagate(root, source, reverse=options.reverse, max_frames=options.max_frames, overwrite=options.overwrite,
                     predictor=predictor, model_label=label, tolerance=tolerance, progress=progress, cancel=cancel,
                     hold=hold)


class VideoController(QObject):
    """See the module docstring. ``window``: the :class:`~samlabel.gui.main_window.MainWindow`."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.shared_predictor = SharedPredictor()
        self.predictor_factory: PredictorFactory | None = None  # None: the window's model (SharedPredictor)
        self.timeline: TimelineModel | None = None
        self.expand_task: Task | None = None
        self.expand_dialog = None
        self.propagate_task: Task | None = None
        self.propagate_dialog = None
        self._run_reverse = False
        self._held: Optional[Path] = None  # the frame on screen while it has unsaved edits (_note_held)
        self._to_refresh: list[str] = []
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self._refresh_some)
        # while a propagation runs: the marks follow the frames written even when the task's
        # progress reports are held back (throttled) or far apart (a slow model)
        self._live_timer = QTimer(self)
        self._live_timer.setInterval(LIVE_REFRESH_MS)
        self._live_timer.timeout.connect(self._live_refresh)
        self.corrections = CorrectionCarrier(self)
        self.automatic_run: Optional[str] = None  # the corrected frame the run going carries on
        self._deferred = None  # (options, source) of the user's Start waiting for an automatic run to stop
        self._task_root: Optional[Path] = None  # the sequence the run going writes
        a = window.actions_by_id
        self.dock = TimelineDock(parent=window)
        self.dock.add_buttons((("|◀", a["first_frame"]), ("◀", a["prev_image"])),
                              (("▶", a["next_image"]), ("▶|", a["last_frame"])))
        self.dock.frameChosen.connect(self.go_to_frame)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        window._view_menu.addAction(self.dock.toggleViewAction())
        window._video_menu.addSeparator()
        self.download_action = window._video_menu.addAction("&Download video model…")
        self.download_action.setObjectName("action_download_video_model")
        self.download_action.setStatusTip("Download EdgeTAM (the fast tracker on a CPU) or SAM 2.1 tiny for propagation")
        self.download_action.triggered.connect(self.show_download_dialog)
        self.repropagate_action = window._video_menu.addAction("Re-propagate &corrections")
        self.repropagate_action.setObjectName("action_repropagate")
        self.repropagate_action.setCheckable(True)
        self.repropagate_action.setChecked(window.settings.repropagate if window.settings is not None else True)
        self.corrections.enabled = self.repropagate_action.isChecked()
        self.repropagate_action.setStatusTip("A correction on a propagated frame is carried on through the frames "
                                             "propagated after it (never over frames a person owns)")
        self.repropagate_action.toggled.connect(self.set_repropagate)
        self.stop_action = window._video_menu.addAction("&Stop propagation")
        self.stop_action.setObjectName("action_stop_propagation")
        self.stop_action.setEnabled(False)
        self.stop_action.triggered.connect(self.stop_propagation)
        self.dock.hide()
        bind(window, window.workspace, self._on_workspace_change)

    # ------------------------------------------------------------------ opening a video
    def open_video_dialog(self) -> None:
        settings = self.window.settings
        start = settings.last_folder if settings is not None else ""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open video", start or "", VIDEO_FILTER)
        if path:
            self.open_video(path)

    def open_video(self, video, out_dir=None) -> bool:
        """Expand ``video`` into ``out_dir`` (default :func:`frames_folder_for`) in the
        background, then open it; a folder of frames already there is opened at once."""
        from samlabel.annotations.project import list_images
        from samlabel.video.expand import expand_video

        video = Path(video)
        out = Path(out_dir) if out_dir is not None else frames_folder_for(video)
        if self.expand_task is not None and self.expand_task.is_running():
            self.window.statusBar().showMessage("A video is being opened already.", 5000)
            return False
        if out.is_dir() and list_images(out):
            opened = self.window.open_path(out)
            if opened:
                self.window.statusBar().showMessage(f"Opened the frames of {video.name} expanded earlier: {out}", 10000)
            return opened
        if not self.window.save_now():
            return False
        from samlabel.gui.dialogs.expand_video_dialog import ExpandVideoDialog

        dialog = ExpandVideoDialog(video, out, parent=self.window)
        task = Task(expand_video, video, out, parent=self)
        task.finished.connect(lambda frames, o=out, v=video: self._on_expanded(v, o, frames))
        task.failed.connect(lambda message: self.window.statusBar().showMessage(f"Cannot open the video: {message}", 30000))
        task.cancelled.connect(lambda v=video: self.window.statusBar().showMessage(
            f"Opening {v.name} cancelled: no frames were written.", 10000))
        dialog.watch(task)
        self.expand_task, self.expand_dialog = task, dialog
        dialog.open()
        task.start()
        return True

    def _on_expanded(self, video: Path, out: Path, frames) -> None:
        if self.window.open_path(out):
            self.window.statusBar().showMessage(f"{video.name}: {len(frames)} frame(s) in {out}", 15000)

    # ------------------------------------------------------------------ the timeline
    def _on_workspace_change(self, change) -> None:
        kind = change.kind
        if kind is WorkspaceChangeKind.PROJECT:
            self._set_project(self.window.workspace.project)
        elif kind is WorkspaceChangeKind.IMAGE:
            if self.timeline is not None:
                self.dock.set_current(self.window.workspace.index)
        elif kind is WorkspaceChangeKind.DOCUMENT:
            self.corrections.remember_shapes()  # as read from disk
        elif kind is WorkspaceChangeKind.EDITED and change.saved:
            self.refresh_frames([self.window.image_path])
            self.corrections.note(self.window.image_path)
        elif kind is WorkspaceChangeKind.EDITED and is_reload(change.document_change):
            self.corrections.remember_shapes()  # what another program (or a propagation) wrote
        self._update_reviewed_action()
        self._note_held()

    # ------------------------------------------------------------------ the frame being edited
    def _note_held(self) -> None:
        """Remember (on the UI thread) which frame a run must not write now: the one on screen
        while it has unsaved edits. One reference store: atomic for the worker that reads it."""
        document, image = self.window.document, self.window.image_path
        editing = document is not None and image is not None and document.is_dirty
        self._held = Path(image) if editing else None

    def _holds(self, root: Path, name: str) -> bool:
        """A run's ``hold`` (worker thread; ``root``: the sequence it writes): the frame is open
        with unsaved edits, so the run leaves it to the person (it becomes theirs when saved; a
        rerun fills it if not). By path: another sequence's frame of the same name is not held."""
        return root / name == self._held

    def _set_project(self, project) -> None:
        self.corrections.reset()
        self._deferred = None
        task = self.propagate_task
        if task is not None and task.is_running() and self.automatic_run is not None:
            task.cancel()  # a correction of the sequence left; its frames done stay written
        self._refresh_timer.stop()
        self._to_refresh = []
        if project is None or len(project.images) < 2 or not is_sequence(project.root, [p.name for p in project.images]):
            self.timeline = None
            self.dock.set_model(None)
            self.dock.hide()
            return
        self.timeline = TimelineModel.of_project(project)
        self.dock.set_model(self.timeline)
        self.dock.show()
        self._to_refresh = [p.name for p in project.images]  # read in chunks: a long sequence opens at once
        self._refresh_timer.start()

    def _refresh_some(self) -> None:
        if self.timeline is None or not self._to_refresh:
            self._refresh_timer.stop()
            return
        chunk, self._to_refresh = self._to_refresh[:REFRESH_CHUNK], self._to_refresh[REFRESH_CHUNK:]
        self.timeline.refresh(chunk)
        if not self._to_refresh:
            self._refresh_timer.stop()
        self.dock.marks_changed()

    @property
    def timeline_ready(self) -> bool:
        """Every frame's mark has been read (after a sequence opened)."""
        return self.timeline is not None and not self._to_refresh

    def refresh_frames(self, frames=None) -> None:
        """Read the marks of ``frames`` (paths or names; None: all) again from disk."""
        if self.timeline is None:
            return
        names = None if frames is None else [Path(str(f)).name for f in frames if f is not None]
        self.timeline.refresh(names)
        self.dock.marks_changed()

    def go_to_frame(self, index: int) -> bool:
        if self.window.project is None or index == self.window.index:
            return False
        return self.window.load_index(index)

    def first_frame(self) -> bool:
        if self.window.project is None or self.window.index == 0:
            return False
        return self.window.load_index(0, 1)

    def last_frame(self) -> bool:
        project = self.window.project
        if project is None or self.window.index == len(project.images) - 1:
            return False
        return self.window.load_index(len(project.images) - 1, -1)

    # ------------------------------------------------------------------ propagation
    def show_download_dialog(self):
        """Video ▸ Download video model…: EdgeTAM (the CPU default) or SAM 2.1 tiny, verified."""
        from samlabel.gui.dialogs.download_dialog import VIDEO_MODELS, DownloadModelDialog
        from samlabel.video.propagate import default_model

        choice = self.window.model_choice
        dialog = DownloadModelDialog(
            parent=self.window, models=VIDEO_MODELS, current=default_model(getattr(choice, "device", None) or None),
            intro="Propagation carries objects through a sequence with a video model. EdgeTAM is the fast one "
                  "on a CPU; SAM 2.1 tiny is the default with a GPU. Each download is checked against its "
                  "official SHA-256.")
        dialog.setWindowTitle("Download a video model")
        dialog.load_button.hide()  # a video checkpoint of your own: 'samlabel propagate --checkpoint FILE'
        dialog.open()
        self.download_dialog = dialog
        return dialog

    def show_propagate_dialog(self):
        """Propagate… : save the frame on screen, then ask how to propagate it."""
        from samlabel.gui.dialogs.propagate_dialog import PropagateDialog

        window = self.window
        if self.propagate_dialog is not None and self.propagate_dialog.is_running():
            self.propagate_dialog.raise_()
            return self.propagate_dialog
        project = window.project
        if project is None or len(project.images) < 2:
            window.statusBar().showMessage("Propagate needs a sequence of frames: open a folder of frames "
                                           "(File ▸ Open folder…) or a video (File ▸ Open video…).", 10000)
            return None
        if window.image_path is None:
            window.statusBar().showMessage("Propagate: open the frame whose objects should be carried on first.", 10000)
            return None
        if window.document is None:
            window.statusBar().showMessage(f"Propagate: the annotations of {window.image_path.name} are still loading.",
                                           10000)
            return None
        if not window.save_now():
            return None
        index, image = window.index, window.image_path
        problem = propagation_problem(window.document.annotation, project.sidecar_path(image), index, image.name)
        dialog = PropagateDialog(image, index, len(project.images), load=project.load, problem=problem, parent=window)
        dialog.startRequested.connect(self.start_propagation)
        self.propagate_dialog = dialog
        dialog.open()
        return dialog

    def start_propagation(self, options, source: int | None = None, automatic: bool | str = False) -> Task | None:
        """Run the propagation of frame ``source`` (default: the one on screen) in the
        background; the dialog (when open) shows it. ``automatic``: a correction carried on
        (the corrected frame's name, or True for ``source`` itself): correcting that frame
        again, or a Start of the user's, stops it. Returns the Task, or None when it did not
        start (no project, or a run is going: a user's Start then waits for an automatic run
        to stop and starts after it)."""
        window = self.window
        project = window.project
        if project is None:
            return None
        running = self.propagate_task
        if running is not None and running.is_running():
            if not automatic and self.automatic_run is not None:
                # the user's Start goes first: the correction's run stops and comes back after it
                self._deferred = (options, source)
                self.corrections.put_back(self.automatic_run)
                running.cancel()
                window.statusBar().showMessage("Stopping the correction's propagation to start yours…", 5000)
            return None
        index = window.index if source is None else source
        name = project.images[index].name
        factory = self.predictor_factory or self.shared_predictor.factory(window.model_choice)
        task = Task(run_propagation, Path(project.root), name, options, factory, window.simplify_tolerance,
                    hold=functools.partial(self._holds, Path(project.root)), parent=self)
        self._run_reverse = options.reverse
        task.progress.connect(self._on_propagation_progress)
        task.done.connect(self._on_propagation_done)
        task.failed.connect(lambda message: window.statusBar().showMessage(f"Propagation failed: {message}", 30000))
        task.finished.connect(self._on_propagation_finished)
        self.propagate_task = task
        self.automatic_run = (automatic if isinstance(automatic, str) else name) if automatic else None
        self._task_root = Path(project.root)
        self.stop_action.setEnabled(True)
        if self.timeline is not None:
            self.timeline.computing = self._next_index(index)
            self.dock.marks_changed()
        if self.propagate_dialog is not None and source is None:
            self.propagate_dialog.watch(task)
        self._live_timer.start()
        task.start()
        return task

    def _next_index(self, index: int) -> int | None:
        n = len(self.window.project.images) if self.window.project is not None else 0
        following = index + (-1 if self._run_reverse else 1)
        return following if 0 <= following < n else None

    def _task_is_here(self) -> bool:
        """The run going writes the sequence that is open (not one left since)."""
        project = self.window.project
        return project is not None and self._task_root == Path(project.root)

    def _on_propagation_progress(self, done: int, total: int, message: str) -> None:
        project = self.window.project
        if project is None or done <= 0 or not message or message == "done" or not self._task_is_here():
            return
        self.refresh_frames([message])
        if self.timeline is not None:
            index = self.timeline.index_of(message)
            if done >= total:
                self.timeline.computing = None
            elif index >= 0:
                self._advance_computing(index)
            self.dock.marks_changed()
        self.window.files_dock.refresh(project.root / message)
        if self.window.image_path is not None and self.window.image_path.name == message:
            self.window.check_outside_edits()  # the frame on screen was written: show it (or ask at the next save)

    def _live_refresh(self) -> None:
        """During a propagation: the frames written since the last look, and the computing
        handle after the last of them."""
        if self.timeline is None or not self._task_is_here():
            return
        changed = self.timeline.refresh(None)
        if changed:
            self._advance_computing(min(changed) if self._run_reverse else max(changed))
        self.dock.marks_changed()

    def _advance_computing(self, written: int) -> None:
        """Frame ``written`` was written: the handle goes to the frame after it (never back)."""
        following = self._next_index(written)
        current = self.timeline.computing
        if following is None or current is None:
            return
        self.timeline.computing = (min if self._run_reverse else max)(current, following)

    def _on_propagation_finished(self, report) -> None:
        if report is not None and self._task_is_here():
            what = "Correction carried on" if self.automatic_run is not None else "Propagation"
            self.window.statusBar().showMessage(f"{what}: {report.summary()}", 30000)

    def _on_propagation_done(self) -> None:
        self._live_timer.stop()
        self.stop_action.setEnabled(False)
        self.automatic_run = None
        here = self._task_is_here()
        self._task_root = None
        if here:
            if self.timeline is not None:
                self.timeline.computing = None
            self.refresh_frames(None)
            self.window.files_dock.refresh()
            self.window.check_outside_edits()
        if self._deferred is not None:
            options, source = self._deferred
            self._deferred = None
            self.start_propagation(options, source)
        else:
            self.corrections.resume()  # corrections waited for this run

    def stop_propagation(self) -> None:
        """Video ▸ Stop propagation: cancel the run going and the corrections waiting (the
        frames written stay)."""
        self.corrections.drop()
        self._deferred = None
        task = self.propagate_task
        if task is not None and task.is_running():
            task.cancel()
            self.window.statusBar().showMessage("Stopping the propagation: the frames written so far are kept.", 5000)

    # ------------------------------------------------------------------ corrections carried on
    def set_repropagate(self, on: bool) -> None:
        """Video ▸ Re-propagate corrections (remembered)."""
        self.repropagate_action.setChecked(bool(on))
        self.corrections.enabled = bool(on)
        if self.window.settings is not None:
            self.window.settings.repropagate = bool(on)
        if not on:
            self.corrections.drop()

    # ------------------------------------------------------------------ reviewed
    def toggle_reviewed(self) -> None:
        """Mark the open frame reviewed (or not): the labelme image flag, one undoable step."""
        document = self.window.document
        if document is None:
            self.window.statusBar().showMessage("Mark reviewed: open a frame first.", 5000)
            self._update_reviewed_action()
            return
        annotation = document.annotation
        flags = dict(annotation.flags)
        if is_reviewed(annotation):
            flags.pop(REVIEWED_FLAG, None)
            extra = {k: v for k, v in annotation.extra.items() if k != REVIEWED_KEY}
            document.apply(annotation.replace(flags=flags, extra=extra), text="Unmark reviewed")
            self.window.statusBar().showMessage(f"{self.window.image_path.name}: no longer reviewed", 5000)
        else:
            flags[REVIEWED_FLAG] = True
            document.set_image_flags(flags, text="Mark reviewed")
            self.window.statusBar().showMessage(
                f"{self.window.image_path.name}: reviewed — propagation will not overwrite it", 5000)
        self._update_reviewed_action()

    def _update_reviewed_action(self) -> None:
        action = self.window.actions_by_id.get("toggle_reviewed")
        if action is not None:
            document = self.window.document
            action.setChecked(document is not None and is_reviewed(document.annotation))
