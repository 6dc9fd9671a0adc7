"""The main window: assembles canvas, controllers, services, docks and menus.

The window owns no model logic and no document logic. It wires:

- the :class:`~samlabel.gui.canvas.Canvas` (drawing, zoom, pan) and its mouse signals to the
  active tool (``self.tools``, one :class:`~samlabel.gui.canvas_tools.CanvasTool` each:
  :class:`~samlabel.gui.sam_tool.SamTool` over the :class:`SamController`, and
  :mod:`~samlabel.gui.edit_tools`' ``PolygonTool``, ``RectangleTool`` and ``SelectTool``
  over the shared :class:`EditController`); Enter, Escape and Backspace go to the same tool;
- the :class:`EmbeddingService` and :class:`DecoderService` worker threads (created when a
  model is set: :meth:`set_model`);
- the Qt-free :class:`~samlabel.gui.workspace.Workspace` (``self.workspace``: the project,
  the open image and its :class:`~samlabel.annotations.Document`, opening, saving, what is
  dirty), shown by :class:`~samlabel.gui.window_files.FilesMixin` (dialogs, status bar,
  file list, autosave timer).

Public API used by tests and the smoke test: signals ``embeddingReady(str image_path)`` and
``predictionShown(object)``, and :meth:`prompt_points`.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMainWindow, QMessageBox

from samlabel.gui.actions import build_actions, label_key_actions
from samlabel.gui.canvas import Canvas
from samlabel.gui.edit_controller import EditController
from samlabel.gui.sam_controller import SamController
from samlabel.gui.shape_layer import ShapeLayer, label_qcolor
from samlabel.gui.edit_tools import PolygonTool, RectangleTool, SelectTool
from samlabel.gui.sam_tool import SamTool
from samlabel.gui.tools import Tool
from samlabel.gui.video_controller import VideoController
from samlabel.gui.model_status import ModelStatus
from samlabel.gui.window_files import FilesMixin
from samlabel.gui.window_model import ModelMixin
from samlabel.gui.window_outside_edits import OutsideEditsMixin
from samlabel.gui.window_ui import UiMixin

log = logging.getLogger(__name__)



class MainWindow(FilesMixin, OutsideEditsMixin, ModelMixin, UiMixin, QMainWindow):
    """The samlabel window. Signals: ``embeddingReady(str)``, ``predictionShown(object)``,
    ``imageOpened(str)`` (the image is shown) and ``annotationsLoaded(str)`` (its document is
    there to edit: at once for a small sidecar, later for one read in the background)."""

    embeddingReady = Signal(str)
    predictionShown = Signal(object)
    documentChanged = Signal()
    imageOpened = Signal(str)
    annotationsLoaded = Signal(str)

    #: replaceable before :meth:`set_model` (tests: slow or blocking fakes)
    embedding_compute = None  # (model, image, cancel=...) -> ImageEmbedding
    decoder_session_factory = None  # (model, embedding) -> object with decode(Prompt)

    def __init__(self, settings=None, model_choice=None, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.settings = settings
        self.model_choice = model_choice
        self.model = None
        self.embeddings = None  # an EmbeddingService once a model is set (imported then: torch)
        self.decoder = None  # a DecoderService, likewise
        self.canvas = Canvas(self)
        self.setCentralWidget(self.canvas)
        self.layer = ShapeLayer(self.canvas.scene())
        self.sam = SamController(self.canvas, self)
        self.editor = EditController(self.canvas, self.layer, lambda: self.document, self.current_label, self)
        self.tool = Tool.POLYGON
        self.tools = {  # the canvas tools behind one protocol (canvas_tools.CanvasTool)
            Tool.SAM: SamTool(self, self.sam, self.canvas),
            Tool.POLYGON: PolygonTool(self.editor, self._schedule_autosave),
            Tool.RECTANGLE: RectangleTool(self.editor, self._schedule_autosave),
            Tool.SELECT: SelectTool(self.editor, self._schedule_autosave),
        }
        self._embedding_started = 0.0
        self._init_files()
        self._init_model_status()
        self.opacity = settings.overlay_opacity if settings is not None else 0.45
        self.simplify_tolerance = settings.simplify_tolerance if settings is not None else 1.0
        self.layer.opacity = self.opacity
        self.layer.color_by_object = settings.object_colours if settings is not None else True
        self.canvas.mask_item.set_opacity(min(1.0, self.opacity + 0.1))
        self.actions_by_id = build_actions(self, self._handlers())
        self.actions_by_id["object_colours"].setChecked(self.layer.color_by_object)
        self._label_keys = label_key_actions(self, self.choose_label_index)
        self._build_ui()
        self.shapes_dock.set_color_by_object(self.layer.color_by_object)  # its swatches as the canvas draws
        self._connect()
        self.video = VideoController(self)  # Open video, timeline, propagation, reviewed frames
        if settings is not None:
            self.sam.state.refine = settings.refine
        self.actions_by_id["toggle_refine"].setChecked(self.sam.state.refine)
        self.set_model(None)

    # ------------------------------------------------------------------ wiring
    def _handlers(self) -> dict:
        return {
            "open_image": self.open_image_dialog,
            "open_folder": self.open_folder_dialog,
            "save": self.save_now,
            "next_image": self.next_image,
            "prev_image": self.prev_image,
            "export": self.export_dialog,
            "quit": self.close,
            "tool_ai": lambda: self.set_tool(Tool.SAM),
            "accept": self.accept,
            "clear_prompt": self.escape,
            "remove_last_point": self.remove_last,
            "cycle_candidates": lambda: self.require_model("Next candidate (Tab)") and self.sam.cycle_candidate(),
            "toggle_refine": self.toggle_refine,
            "segment_everything": self.segment_everything,
            "tool_polygon": lambda: self.set_tool(Tool.POLYGON),
            "tool_rectangle": lambda: self.set_tool(Tool.RECTANGLE),
            "tool_select": lambda: self.set_tool(Tool.SELECT),
            "delete_shape": self.delete_selected,
            "change_label": self.change_label_dialog,
            "choose_label": self.choose_label_dialog,
            "undo": self.undo,
            "redo": self.redo,
            "fit_window": self.canvas.fit_to_window,
            "zoom_in": lambda: self.canvas.zoom_by(1.25),
            "zoom_out": lambda: self.canvas.zoom_by(0.8),
            "opacity_up": lambda: self.set_opacity(self.opacity + 0.1),
            "opacity_down": lambda: self.set_opacity(self.opacity - 0.1),
            "object_colours": lambda: self.set_object_colours(self.actions_by_id["object_colours"].isChecked()),
            "help": self.show_help,
            # samlabel.gui.video_controller
            "open_video": lambda: self.video.open_video_dialog(),
            "first_frame": lambda: self.video.first_frame(),
            "last_frame": lambda: self.video.last_frame(),
            "propagate": lambda: self.video.show_propagate_dialog(),
            "toggle_reviewed": lambda: self.video.toggle_reviewed(),
        }

    def _connect(self) -> None:
        c = self.canvas
        c.mousePressed.connect(self._on_press)
        c.mouseMoved.connect(self._on_move)
        c.mouseReleased.connect(self._on_release)
        c.mouseDoubleClicked.connect(self._on_double_click)
        c.mouseLeft.connect(self._on_leave)
        self.sam.predictionShown.connect(self.predictionShown)
        self.sam.message.connect(lambda m: self.statusBar().showMessage(m, 5000))
        self.editor.message.connect(lambda m: self.statusBar().showMessage(m, 5000))
        self.editor.selectionChanged.connect(self._on_selection_changed)

    # ------------------------------------------------------------------ model
    def set_model(self, model) -> None:
        """Use ``model`` for the AI tools (None: AI tools off, manual tools only).

        The AI actions stay enabled without a model: pressing one says why nothing happens
        (:meth:`require_model`) instead of doing nothing.
        """
        self._stop_services()
        self.model = model
        if model is not None:
            from samlabel.paths import embedding_cache_dir

            from samlabel.gui.decoder_service import DecoderService, default_session_factory
            from samlabel.gui.embedding_service import EmbeddingService
            from samlabel.sam.embedding_cache import EmbeddingCache
            from samlabel.sam.embedding import compute_embedding

            cache = EmbeddingCache(embedding_cache_dir())
            self.embeddings = EmbeddingService(model, cache, compute=self.embedding_compute or compute_embedding, parent=self)
            self.embeddings.started.connect(self._on_embedding_started)
            self.embeddings.ready.connect(self._on_embedding_ready)
            self.embeddings.failed.connect(self._on_embedding_failed)
            self.decoder = DecoderService(model, self.decoder_session_factory or default_session_factory, parent=self)
            self.sam.set_decoder(self.decoder)
            self.model_status = self._status_for_model(model)
            self._show_model_status(model)
            self._ai_status.setText("")
            self.set_tool(Tool.SAM)
            if self.image is not None:
                self._request_embedding()
        else:
            self.sam.set_decoder(None)
            msg = self.model_choice.message if self.model_choice is not None else "No SAM model loaded."
            if self.model_status.available:
                self.model_status = ModelStatus.off(self.model_choice)
            self._ai_status.setText("")
            self._show_model_status(None)
            self.statusBar().showMessage(msg, 15000)
            if self.tool is Tool.SAM:
                self.set_tool(Tool.POLYGON)
            else:
                self.set_tool(self.tool)

    def _stop_services(self) -> None:
        if self.embeddings is not None:
            self.embeddings.shutdown()
            self.embeddings.deleteLater()
            self.embeddings = None
        if self.decoder is not None:
            self.sam.set_decoder(None)
            self.decoder.shutdown()
            self.decoder.deleteLater()
            self.decoder = None

    @property
    def ai_available(self) -> bool:
        return self.model is not None

    def _request_embedding(self) -> None:
        if self.embeddings is None or self.image is None:
            return
        src = self.image
        key = self.embeddings.key_for(src.content_hash)
        self.sam.set_image(key)
        self._embedding_started = time.perf_counter()
        self.embeddings.request(key, lambda rgb=src.rgb: rgb)

    def _on_embedding_started(self, key: str) -> None:
        self.statusBar().showMessage("Computing embedding…")
        self._ai_status.setText("Computing embedding…")

    def _on_embedding_ready(self, key: str, embedding, seconds: float, from_cache: bool) -> None:
        if self.image is None or not self.sam.set_embedding(key, embedding):
            return
        how = "from cache" if from_cache else f"computed in {seconds:.1f} s"
        self.statusBar().showMessage(f"Embedding ready ({how}) — hover to preview, click to segment", 8000)
        self._ai_status.setText(f"Embedding {how}")
        self.embeddingReady.emit(str(self.image_path))
        self._prefetch_next()

    def _on_embedding_failed(self, key: str, message: str) -> None:
        self.statusBar().showMessage(f"Embedding failed: {message}", 15000)
        self._ai_status.setText("Embedding failed")

    # ------------------------------------------------------------------ tools
    def set_tool(self, tool: Tool) -> None:
        if tool is Tool.SAM and not self.require_model("The SAM tool (S)"):
            tool = Tool.POLYGON if self.tool is Tool.SAM else self.tool
        for other, handler in self.tools.items():
            if other is not tool:
                handler.deactivate()
        self.tool = tool
        for t, key in ((Tool.SAM, "tool_ai"), (Tool.POLYGON, "tool_polygon"),
                       (Tool.RECTANGLE, "tool_rectangle"), (Tool.SELECT, "tool_select")):
            self.actions_by_id[key].setChecked(t is tool)
        self.canvas.viewport().setCursor(Qt.CursorShape.CrossCursor)  # the tool may set its own
        self.tools[tool].activate()

    @property
    def active_tool(self):
        """The :class:`~samlabel.gui.canvas_tools.CanvasTool` of the current tool."""
        return self.tools[self.tool]

    def _on_press(self, ev) -> None:
        if self._annotations_unavailable():  # still being read: nothing to edit yet
            return
        self.active_tool.press(ev)

    def _on_move(self, ev) -> None:
        self._pos_status.setText(f"{ev.x:.0f}, {ev.y:.0f}")
        self.active_tool.move(ev)

    def _on_release(self, ev) -> None:
        self.active_tool.release(ev)

    def _on_double_click(self, ev) -> None:
        self.active_tool.double_click(ev)

    def _on_leave(self) -> None:
        self.active_tool.leave()

    # ------------------------------------------------------------------ prompting API
    def prompt_points(self, points, labels, box=None) -> None:
        """Prompt SAM with ``points`` ``[(x, y), ...]`` and ``labels`` (1/0), plus an optional box.

        Same path as mouse clicks: the prediction arrives via ``predictionShown``.
        """
        if self.tool is not Tool.SAM:
            self.set_tool(Tool.SAM)
        self.sam.set_prompt(points, labels, box)

    def accept(self) -> bool:
        """Enter: the active tool's accept step (the shown mask, the polygon being drawn)."""
        return self.active_tool.accept()

    def escape(self) -> None:
        self.active_tool.cancel()

    def remove_last(self) -> None:
        self.active_tool.remove_last()

    def toggle_refine(self) -> None:
        if not self.require_model("Refine with the previous mask (R)"):
            self.actions_by_id["toggle_refine"].setChecked(self.sam.state.refine)
            return
        on = self.sam.toggle_refine()
        self.actions_by_id["toggle_refine"].setChecked(on)
        if self.settings is not None:
            self.settings.refine = on

    # ------------------------------------------------------------------ editing
    def delete_selected(self) -> None:
        if self.editor.delete_selected():
            self._schedule_autosave()

    def undo(self) -> None:
        if self.document is not None and not self.document.in_group:
            self.document.undo()

    def redo(self) -> None:
        if self.document is not None and not self.document.in_group:
            self.document.redo()

    def set_opacity(self, value: float) -> None:
        self.opacity = max(0.05, min(1.0, value))
        self.layer.opacity = self.opacity
        self.layer.restyle(self.labels)
        self.canvas.mask_item.set_opacity(min(1.0, self.opacity + 0.1))
        if self.settings is not None:
            self.settings.overlay_opacity = self.opacity
        self.statusBar().showMessage(f"Overlay opacity {self.opacity:.0%}", 2000)

    def set_object_colours(self, on: bool) -> None:
        """Grouped shapes in their object's colour (label + group id), or all in their label's."""
        self.layer.color_by_object = bool(on)
        self.actions_by_id["object_colours"].setChecked(bool(on))
        self.layer.restyle(self.labels)
        self.shapes_dock.set_color_by_object(bool(on))
        if self.settings is not None:
            self.settings.object_colours = bool(on)
        self.statusBar().showMessage("Shapes coloured by object (label and group id)" if on
                                     else "Shapes coloured by label", 2000)

    def _on_selection_changed(self, uids) -> None:
        self.layer.restyle(self.labels)
        self._sync_shapes_dock_selection(uids)

    def _label_color(self, name: str) -> QColor:
        return label_qcolor(self.labels, name)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, ev) -> None:  # noqa: N802
        self.finish_pending_work()
        try:
            self.save_now(closing=True)
        except Exception as exc:  # noqa: BLE001 - never lose the window on a failed save
            if QMessageBox.question(self, "samlabel", f"Saving failed: {exc}\nQuit anyway?") != QMessageBox.StandardButton.Yes:
                ev.ignore()
                return
        if self.settings is not None:
            self.settings.save_window(self)
            self.settings.sync()
        self.shutdown()
        super().closeEvent(ev)

    def shutdown(self) -> None:
        """Stop the worker threads (tests call this before the window is destroyed)."""
        self.wait_for_model_loaders()
        self._stop_services()
        from samlabel.gui.tasks import shutdown_tasks

        if not shutdown_tasks(5000):  # export, download, segment everything: cancelled
            log.warning("some background tasks did not stop within 5 s")

    def finish_pending_work(self, timeout_ms: int = 60000) -> None:
        """Before closing: let mask tracing and project-wide renames end (they carry the
        user's work: cancelling would lose an accepted shape or half-rename a project),
        then deliver their results so that the final save includes them."""
        from PySide6.QtCore import QCoreApplication

        tasks = self.workspace.pending_jobs()  # masks being traced, project-wide renames
        if not tasks:
            return
        self.statusBar().showMessage("Finishing background work before closing…")
        for task in tasks:
            task.wait(timeout_ms)
        QCoreApplication.sendPostedEvents()  # their queued outcomes: shapes added, renames reported
