"""The main window's menus, toolbar, status bar, docks and dialogs.

Docks and dialogs come from ``samlabel.gui.docks`` / ``samlabel.gui.dialogs``; this mixin
creates them, feeds them the current project/document and routes their signals back to
the window (label choice, selection, file choice, hide/show by label).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
import numpy as np
from PySide6.QtWidgets import QComboBox, QLabel, QToolBar

log = logging.getLogger(__name__)


class UiMixin:
    """Mixed into :class:`MainWindow` (after :class:`FilesMixin`)."""

    # ------------------------------------------------------------------ building
    def _build_ui(self) -> None:
        a = self.actions_by_id
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for k in ("open_image", "open_folder", "open_video", "save", None, "next_image", "prev_image", "first_frame",
                  "last_frame", None, "export", None, "quit"):
            m.addSeparator() if k is None else m.addAction(a[k])
        m = mb.addMenu("&Edit")
        for k in ("undo", "redo", None, "delete_shape", "change_label", "choose_label"):
            m.addSeparator() if k is None else m.addAction(a[k])
        m = mb.addMenu("&Tools")
        for k in ("tool_ai", "tool_polygon", "tool_rectangle", "tool_select", None, "accept", "clear_prompt",
                  "remove_last_point", "cycle_candidates", "toggle_refine", None, "segment_everything"):
            m.addSeparator() if k is None else m.addAction(a[k])
        self.autolabel_action = m.addAction("&Auto-label folder…")  # samlabel.gui.dialogs.autolabel_dialog
        self.autolabel_action.setObjectName("action_autolabel")
        self.autolabel_action.triggered.connect(self.autolabel_folder)
        m = mb.addMenu("&View")
        for k in ("fit_window", "zoom_in", "zoom_out", None, "opacity_up", "opacity_down", "object_colours"):
            m.addSeparator() if k is None else m.addAction(a[k])
        self._view_menu = m
        m = mb.addMenu("V&ideo")  # samlabel.gui.video_controller
        for k in ("propagate", "toggle_reviewed"):
            m.addAction(a[k])
        self._video_menu = m
        m = mb.addMenu("&Model")
        self.download_action = m.addAction("&Download model…")
        self.download_action.setObjectName("action_download_model")
        self.download_action.triggered.connect(self.show_download_dialog)
        self.download_action.setStatusTip("Download an official Segment Anything checkpoint (verified)")
        self.load_checkpoint_action = m.addAction("&Load checkpoint file…")
        self.load_checkpoint_action.setObjectName("action_load_checkpoint")
        self.load_checkpoint_action.setStatusTip("Load a checkpoint file you already have (your own or a copy)")
        self.load_checkpoint_action.triggered.connect(self.load_checkpoint_dialog)
        m = mb.addMenu("&Help")
        m.addAction(a["help"])

        tb = QToolBar("Tools", self)
        tb.setObjectName("toolbar_tools")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for k in ("open_image", "open_folder", None, "prev_image", "next_image", None,
                  "tool_ai", "tool_polygon", "tool_rectangle", "tool_select", None, "accept", "undo", "redo"):
            tb.addSeparator() if k is None else tb.addAction(a[k])
        tb.addSeparator()
        tb.addWidget(QLabel(" Label: "))
        self.label_combo = QComboBox()
        self.label_combo.setObjectName("label_combo")
        self.label_combo.setMinimumWidth(140)
        self.label_combo.activated.connect(lambda i: self.set_current_label(self.label_combo.itemText(i)))
        self.label_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        tb.addWidget(self.label_combo)
        tb.addSeparator()
        # shown only while no model is loaded (set_model): the way to the AI tools
        self.download_tool_action = tb.addAction("Download model…", self.show_download_dialog)
        self.download_tool_action.setObjectName("action_download_model_toolbar")
        self.download_tool_action.setToolTip("AI tools are off: no SAM checkpoint was found. Download one.")
        self.addToolBar(tb)

        self._pos_status = QLabel()
        self._ai_status = QLabel()  # embedding state of the open image
        self._model_status = QLabel()  # the active model, always visible
        self._model_status.setObjectName("model_status")
        self.statusBar().addPermanentWidget(self._pos_status)
        self.statusBar().addPermanentWidget(self._ai_status)
        self.statusBar().addPermanentWidget(self._model_status)
        self._build_docks()
        self.resize(1280, 820)
        try:
            from samlabel.paths import resource_path

            for name in ("samlabel.svg", "samlabel.png"):
                icon = resource_path("icons", name)
                if icon.is_file():
                    self.setWindowIcon(QIcon(str(icon)))
                    break
        except FileNotFoundError:
            pass

    def _build_docks(self) -> None:
        from samlabel.gui.docks import FileListDock, LabelsDock, ProposalsDock, ShapesDock

        self.labels_dock = LabelsDock(self.label_state, parent=self)
        self.labels_dock.renames.jobStarted.connect(self.workspace.add_job)
        self.label_state.subscribe(self._on_label_state)
        self.shapes_dock = ShapesDock(parent=self)
        self.shapes_dock.selectionChanged.connect(self._on_shapes_dock_selection)
        self.shapes_dock.shapeActivated.connect(self.center_on_shape)
        self.shapes_dock.deleteRequested.connect(self.delete_shapes)
        self.shapes_dock.changeLabelRequested.connect(self.change_label_dialog)
        self.labels_dock.labelsChanged.connect(self.shapes_dock.refresh)
        self.files_dock = FileListDock(parent=self)
        self.labels_dock.projectRenameFinished.connect(self._on_project_rename_finished)
        self.files_dock.imageActivated.connect(self.open_image_path)
        self.proposals_dock = ProposalsDock(parent=self)
        self.proposals_dock.accepted.connect(self.add_proposal_shapes)
        self.proposals_dock.rejected.connect(lambda _p: self._show_proposals())
        self.proposals_dock.cleared.connect(self._show_proposals)
        self._docks = {"labels": self.labels_dock, "shapes": self.shapes_dock, "files": self.files_dock,
                       "proposals": self.proposals_dock}
        for dock in self._docks.values():
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            self._view_menu.addAction(dock.toggleViewAction())
        self.proposals_dock.hide()
        self._proposal_set = None

    # ------------------------------------------------------------------ hooks from FilesMixin
    def _labels_changed(self) -> None:
        """The label set changed (edited, or another project's): refill the toolbar's box."""
        from samlabel.gui.dialogs.label_picker import swatch_icon

        self.label_combo.clear()
        for label in self.labels:
            self.label_combo.addItem(swatch_icon(tuple(label.color)), label.name)
        self._show_current_label()

    def _on_label_state(self, change) -> None:
        """The label state changed (from the dock, the toolbar, a key or a dialog)."""
        from samlabel.gui.label_state import LabelChangeKind

        if change.kind is LabelChangeKind.VISIBILITY:
            self.layer.restyle(self.labels)
            return
        if change.kind in (LabelChangeKind.EDITED, LabelChangeKind.RENAMED):
            if self.project is not None and change.name is not None:
                self._save_labels()  # an edit of the set (not another project's set arriving)
            self.layer.restyle(self.labels)
            self._labels_changed()
        self.sam.set_color(self._label_color(self.current_label()))
        self._show_current_label()

    def _show_current_label(self) -> None:
        i = self.label_combo.findText(self.current_label())
        if i >= 0:
            self.label_combo.setCurrentIndex(i)

    def set_label_visible(self, name: str, visible: bool) -> None:
        """Hide or show every shape with label ``name`` (the labels dock's checkbox)."""
        self.label_state.set_visible(name, visible)

    def _files_changed(self) -> None:
        self.files_dock.set_project(self.project)
        self.labels_dock.set_project(self.project)  # offers "rename in every image"

    def _mark_file_annotated(self, path) -> None:
        if path is not None:
            self.files_dock.refresh(path)

    def _document_loaded(self) -> None:
        self.files_dock.set_current(self.image_path)
        self.labels_dock.set_document(self.document)
        self.shapes_dock.set_document(self.document, self.labels)
        from samlabel.gui.dialogs.autolabel_dialog import stored_proposal_set  # proposals an auto-label run stored

        self.set_proposals(stored_proposal_set(self.document.annotation, str(self.image_path)) if self.document else None)

    def _sync_shapes_dock_selection(self, uids) -> None:
        self.shapes_dock.select_uids(list(uids))

    def _on_shapes_dock_selection(self, uids) -> None:
        self.editor.set_selection(list(uids))
        self.layer.restyle(self.labels)

    def open_image_path(self, path: str) -> None:
        if self.project is None or (self.image_path is not None and str(self.image_path) == str(path)):
            return
        try:
            index = self.project.index_of(path)
        except KeyError:
            return
        self.load_index(index)

    def center_on_shape(self, uid: str) -> None:
        item = self.layer.item(uid)
        if item is not None:
            self.canvas.centerOn(item)
            self.editor.set_selection([uid])

    def delete_shapes(self, uids) -> None:
        if self.document is not None and uids:
            self.document.remove_shapes(list(uids))
            self.editor.set_selection([])

    # ------------------------------------------------------------------ proposals
    def set_proposals(self, proposal_set) -> None:
        self._proposal_set = proposal_set
        self.proposals_dock.set_proposals(proposal_set)
        if proposal_set is not None:
            self.proposals_dock.show()
            proposal_set.subscribe(lambda _changed: self._show_proposals())
        self._show_proposals()

    def _show_proposals(self) -> None:
        """Pending proposals as one colour-indexed overlay."""
        ps = self._proposal_set
        item = self.canvas.proposal_item
        if ps is None or not ps.pending() or self.image is None:
            item.clear()
            return
        h, w = self.image.height, self.image.width
        index = np.zeros((h, w), np.uint8)
        for k, proposal in enumerate(ps.pending()[:255]):
            m = proposal.mask()
            if m.shape == (h, w):
                index[m & (index == 0)] = k + 1
        item.set_index_image(index, (0, 0, w, h))

    def add_proposal_shapes(self, proposals) -> None:
        from samlabel.gui.proposals import shapes_from_proposals

        if self.document is None or self._proposal_set is None:
            return
        if self.image_path is None or self._proposal_set.image_key != str(self.image_path):
            return  # proposals made for another image
        shapes = shapes_from_proposals(proposals, self.current_label(), tolerance=self.simplify_tolerance)
        if shapes:
            self.document.add_shapes(shapes, text="Accept proposals")

    # ------------------------------------------------------------------ dialogs
    def show_help(self) -> None:
        from samlabel.gui.dialogs.help_dialog import HelpDialog

        HelpDialog(parent=self).exec()

    def choose_label_dialog(self) -> None:
        from samlabel.gui.dialogs.label_picker import LabelPickerDialog

        result = LabelPickerDialog.get_label(self, self.labels, current=self.current_label())
        if result is not None:
            self.set_current_label(result[0])

    def change_label_dialog(self, uids=None) -> None:
        from samlabel.gui.dialogs.label_picker import LabelPickerDialog

        if not uids:
            uids = [u for u in self.layer.order if u in self.layer.selected]
        if not uids or self.document is None:
            self.statusBar().showMessage("Select shapes first (V, then click).", 5000)
            return
        current = self.document.shape(uids[0]).label
        result = LabelPickerDialog.get_label(self, self.labels, current=current)
        if result is None:
            return
        name, is_new = result
        if is_new:
            self.labels_dock.add_label(name, make_current=False)
        self.document.set_label(uids, name)

    def export_dialog(self) -> None:
        if self.project is None:
            return
        self.save_now()
        try:
            from samlabel.gui.dialogs import ExportDialog
        except (ImportError, AttributeError) as exc:
            self.statusBar().showMessage(f"Export is not available: {exc}", 8000)
            return
        dialog = ExportDialog(self.project.root, parent=self, settings=self.settings)
        dialog.exported.connect(lambda r: self.statusBar().showMessage(f"Exported {r.exported} image(s) to {r.out_dir}", 10000))
        dialog.open()
        self._export_dialog = dialog

    def autolabel_folder(self) -> None:
        from samlabel.gui.dialogs.autolabel_dialog import open_autolabel_dialog

        self._autolabel_dialog = open_autolabel_dialog(self)

    def segment_everything(self) -> None:
        if not self.require_model("Segment everything (Ctrl+Shift+A)"):
            return
        if self.image is None:
            self.statusBar().showMessage("Segment everything needs an open image: File ▸ Open image…", 8000)
            return
        from samlabel.gui.dialogs import SegmentEverythingDialog

        dialog = SegmentEverythingDialog(self.image.rgb, model=self.model, image_key=str(self.image_path), parent=self)
        dialog.proposalsReady.connect(self.set_proposals)
        dialog.nothingFound.connect(lambda message: self.statusBar().showMessage(message, 20000))
        dialog.open()
        self._segment_dialog = dialog
