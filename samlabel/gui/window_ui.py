"""The main window's menus, toolbar, status bar, docks and dialogs.

Docks and dialogs come from ``samlabel.gui.docks`` / ``samlabel.gui.dialogs``; this mixin
creates them, feeds them the current project/document and routes their signals back to
the window (label choice, selection, file choice, hide/show by label).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QToolBar,
)

log = logging.getLogger(__name__)


class UiMixin:
    """Mixed into :class:`MainWindow` (after :class:`FilesMixin`)."""

    # ------------------------------------------------------------------ building
    def _build_ui(self) -> None:
        a = self.actions_by_id
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for k in ("open_image", "open_folder", "save", None, "next_image", "prev_image", None, "export", None, "quit"):
            m.addSeparator() if k is None else m.addAction(a[k])
        m = mb.addMenu("&Edit")
        for k in ("undo", "redo", None, "delete_shape", "change_label", "choose_label"):
            m.addSeparator() if k is None else m.addAction(a[k])
        m = mb.addMenu("&Tools")
        for k in ("tool_ai", "tool_polygon", "tool_rectangle", "tool_select", None, "accept", "clear_prompt",
                  "remove_last_point", "cycle_candidates", "toggle_refine", None, "segment_everything"):
            m.addSeparator() if k is None else m.addAction(a[k])
        m = mb.addMenu("&View")
        for k in ("fit_window", "zoom_in", "zoom_out", None, "opacity_up", "opacity_down"):
            m.addSeparator() if k is None else m.addAction(a[k])
        self._view_menu = m
        m = mb.addMenu("&Model")
        self.download_action = m.addAction("&Download model…")
        self.download_action.setObjectName("action_download_model")
        self.download_action.triggered.connect(self.show_download_dialog)
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
        self.addToolBar(tb)

        self._ai_status = QLabel()
        self._pos_status = QLabel()
        self.statusBar().addPermanentWidget(self._pos_status)
        self.statusBar().addPermanentWidget(self._ai_status)
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
        self.labels_list = QListWidget()
        self.labels_list.setObjectName("labels_list")
        self.labels_list.itemClicked.connect(lambda it: self.set_current_label(it.data(Qt.ItemDataRole.UserRole)))
        self.labels_list.itemChanged.connect(self._on_label_check)
        self.shapes_list = QListWidget()
        self.shapes_list.setObjectName("shapes_list")
        self.shapes_list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.shapes_list.itemSelectionChanged.connect(self._on_shapes_list_selection)
        self.files_list = QListWidget()
        self.files_list.setObjectName("files_list")
        self.files_list.itemActivated.connect(lambda it: self.load_index(self.files_list.row(it)))
        self.files_list.itemClicked.connect(lambda it: self.load_index(self.files_list.row(it)))
        self._docks = {}
        for name, title, widget in (("labels", "Labels", self.labels_list), ("shapes", "Shapes", self.shapes_list),
                                    ("files", "Files", self.files_list)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{name}")
            dock.setWidget(widget)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            self._view_menu.addAction(dock.toggleViewAction())
            self._docks[name] = dock
        self._syncing = False

    # ------------------------------------------------------------------ hooks from FilesMixin
    def _labels_changed(self) -> None:
        from samlabel.gui.dialogs.label_picker import swatch_icon

        self._syncing = True
        counts = {}
        if self.document is not None:
            for s in self.document.shapes:
                counts[s.label] = counts.get(s.label, 0) + 1
        self.labels_list.clear()
        self.label_combo.clear()
        for i, label in enumerate(self.labels):
            n = counts.get(label.name, 0)
            key = f"{i + 1}: " if i < 9 else ""
            item = QListWidgetItem(swatch_icon(tuple(label.color)), f"{key}{label.name}" + (f" ({n})" if n else ""))
            item.setData(Qt.ItemDataRole.UserRole, label.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if label.name in self.layer.hidden_labels else Qt.CheckState.Checked)
            self.labels_list.addItem(item)
            self.label_combo.addItem(swatch_icon(tuple(label.color)), label.name)
        self._syncing = False
        self._show_current_label()

    def _show_current_label(self) -> None:
        name = self.current_label()
        i = self.label_combo.findText(name)
        if i >= 0:
            self.label_combo.setCurrentIndex(i)

    def _on_label_check(self, item) -> None:
        if self._syncing:
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            self.layer.hidden_labels.discard(name)
        else:
            self.layer.hidden_labels.add(name)
        self.layer.restyle(self.labels)

    def set_label_visible(self, name: str, visible: bool) -> None:
        """Hide or show every shape with label ``name``."""
        (self.layer.hidden_labels.discard if visible else self.layer.hidden_labels.add)(name)
        self.layer.restyle(self.labels)
        self._labels_changed()

    def _files_changed(self) -> None:
        self.files_list.clear()
        if self.project is None:
            return
        for path in self.project.images:
            item = QListWidgetItem(("✓ " if self.project.has_annotations(path) else "   ") + path.name)
            self.files_list.addItem(item)

    def _mark_file_annotated(self, path) -> None:
        if self.project is None or path is None:
            return
        try:
            row = self.project.index_of(path)
        except KeyError:
            return
        item = self.files_list.item(row)
        if item is not None:
            item.setText("✓ " + path.name)

    def _document_loaded(self) -> None:
        self.files_list.setCurrentRow(self.index)
        self._document_changed(None)

    def _document_changed(self, change) -> None:
        self._syncing = True
        self.shapes_list.clear()
        for i, shape in enumerate(self.document.shapes if self.document is not None else ()):
            item = QListWidgetItem(f"{i + 1}. {shape.label} — {shape.kind}")
            item.setData(Qt.ItemDataRole.UserRole, shape.uid)
            self.shapes_list.addItem(item)
            item.setSelected(shape.uid in self.layer.selected)
        self._syncing = False
        self._labels_changed()

    def _sync_shapes_dock_selection(self, uids) -> None:
        self._syncing = True
        sel = set(uids)
        for i in range(self.shapes_list.count()):
            item = self.shapes_list.item(i)
            item.setSelected(item.data(Qt.ItemDataRole.UserRole) in sel)
        self._syncing = False

    def _on_shapes_list_selection(self) -> None:
        if self._syncing:
            return
        uids = [it.data(Qt.ItemDataRole.UserRole) for it in self.shapes_list.selectedItems()]
        self.editor.set_selection(uids)

    # ------------------------------------------------------------------ dialogs
    def show_help(self) -> None:
        from samlabel.gui.dialogs.help_dialog import HelpDialog

        HelpDialog(parent=self).exec()

    def show_download_dialog(self):
        from samlabel.gui.dialogs.download_dialog import DownloadModelDialog

        name = self.model_choice.name if self.model_choice is not None else None
        dialog = DownloadModelDialog(parent=self, current=name)
        dialog.downloaded.connect(self.on_checkpoint_downloaded)
        dialog.open()
        self._download_dialog = dialog
        return dialog

    def on_checkpoint_downloaded(self, path: str) -> None:
        from samlabel.gui.model_manager import ModelLoader, choose_model

        name = self.model_choice.name if self.model_choice is not None else None
        choice = choose_model(model_name=name, checkpoint=path,
                              device=self.model_choice.device if self.model_choice is not None else None)
        self.model_choice = choice
        self.statusBar().showMessage(f"Loading {choice.name}…")
        self._loader = ModelLoader(choice, self)
        self._loader.loaded.connect(self.set_model)
        self._loader.failed.connect(lambda m: self.statusBar().showMessage(m, 15000))
        self._loader.start()

    def choose_label_dialog(self) -> None:
        from samlabel.gui.dialogs.label_picker import LabelPickerDialog

        result = LabelPickerDialog.get_label(self, self.labels, current=self.current_label())
        if result is not None:
            self.set_current_label(result[0])

    def change_label_dialog(self) -> None:
        from samlabel.gui.dialogs.label_picker import LabelPickerDialog

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
            self.labels.add(name)
            self._save_labels()
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
        dialog = ExportDialog(self.project.root, parent=self)
        dialog.open()
        self._export_dialog = dialog

    def segment_everything(self) -> None:
        self.statusBar().showMessage("Segment everything is not available yet.", 5000)
