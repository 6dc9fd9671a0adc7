"""ShapesDock: the current image's shapes, with the selection synced to the canvas.

D1 wiring::

    dock = ShapesDock(parent=main_window)                        # objectName "shapes_dock"
    dock.set_document(document, project.labels)                  # after every image switch
    dock.selectionChanged.connect(canvas.select_shapes)          # (list[str] uids), user picks rows
    canvas.selectionChanged.connect(dock.select_uids)            # canvas -> list, emits nothing back
    dock.shapeActivated.connect(canvas.center_on_shape)          # (str uid), double-click / Enter
    dock.deleteRequested.connect(main_window.delete_shapes)      # (list[str] uids), context menu
    dock.changeLabelRequested.connect(main_window.change_label)  # (list[str] uids), context menu
    labels_dock.labelsChanged.connect(dock.refresh)              # colours / names

Constructor: ``ShapesDock(parent=None, title="Shapes")``.

Signals: ``selectionChanged(list uids)`` (only for the user's own changes in the list,
never for :meth:`select_uids`), ``shapeActivated(str uid)``, ``deleteRequested(list uids)``,
``changeLabelRequested(list uids)``.

Methods: ``set_document(document_or_None, labels=None)``, ``set_labels(labels)``,
``select_uids(uids)``, ``selected_uids()``, ``uids()`` (row order = document order),
``refresh()``. Rows follow the document's changes (edits, undo, redo) by themselves.
"""

from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QDockWidget, QListWidget, QListWidgetItem, QMenu, QWidget

from samlabel.gui.dialogs.label_picker import swatch_icon
from samlabel.gui.docks.binding import bind
from samlabel.gui.docks.models import shape_title

UID_ROLE = Qt.ItemDataRole.UserRole


class ShapesDock(QDockWidget):
    selectionChanged = Signal(list)
    shapeActivated = Signal(str)
    deleteRequested = Signal(list)
    changeLabelRequested = Signal(list)

    def __init__(self, parent: QWidget | None = None, title: str = "Shapes"):
        super().__init__(title, parent)
        self.setObjectName("shapes_dock")
        self._document = None
        self._labels = None
        self._unsubscribe: Callable[[], None] | None = None
        self._updating = False
        self.list = QListWidget(self)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.setToolTip("Shapes of this image; select to highlight, double-click to show")
        self.setWidget(self.list)
        self.list.itemSelectionChanged.connect(self._on_selection)
        self.list.itemActivated.connect(lambda item: self.shapeActivated.emit(item.data(UID_ROLE)))
        self.list.customContextMenuRequested.connect(self._context_menu)

    # ---------------------------------------------------------------- binding
    def set_document(self, document, labels=None) -> None:
        """Show this Document's shapes (None: no image). ``labels`` gives the colours."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._document = document
        if labels is not None:
            self._labels = labels
        if document is not None:
            self._unsubscribe = bind(self, document, self._on_change)
        self.refresh()

    def set_labels(self, labels) -> None:
        self._labels = labels
        self.refresh()

    # ---------------------------------------------------------------- view
    def uids(self) -> list[str]:
        return [self.list.item(i).data(UID_ROLE) for i in range(self.list.count())]

    def _on_change(self, change) -> None:
        """Edits of a few shapes (a vertex drag) update only their rows; the rest rebuilds."""
        uids = getattr(change, "uids", ())
        if change.reason == "edit" and uids and self._document is not None:
            shapes = self._document.shapes
            if [s.uid for s in shapes] == self.uids():
                index = {s.uid: i for i, s in enumerate(shapes)}
                for uid in uids:
                    i = index[uid]
                    self._show(self.list.item(i), shapes[i], i)
                return
        self.refresh()

    def _show(self, item: QListWidgetItem, shape, index: int) -> None:
        item.setText(shape_title(shape, index))
        item.setData(UID_ROLE, shape.uid)
        if self._labels is not None:
            item.setIcon(swatch_icon(tuple(self._labels.color_of(shape.label))))

    def refresh(self) -> None:
        """Rebuild the rows from the document, keeping the selection of surviving shapes."""
        shapes = self._document.shapes if self._document is not None else ()
        selected = set(self.selected_uids())
        self._updating = True
        try:
            same = [s.uid for s in shapes] == self.uids()
            if not same:
                self.list.clear()
            for i, shape in enumerate(shapes):
                item = self.list.item(i) if same else QListWidgetItem(self.list)
                self._show(item, shape, i)
                item.setSelected(shape.uid in selected)
        finally:
            self._updating = False
        remaining = set(self.selected_uids())
        if remaining != selected:  # selected shapes went away (deleted, undone)
            self.selectionChanged.emit(self.selected_uids())

    # ---------------------------------------------------------------- selection
    def selected_uids(self) -> list[str]:
        """Selected shapes in document order."""
        return [self.list.item(i).data(UID_ROLE) for i in range(self.list.count()) if self.list.item(i).isSelected()]

    def select_uids(self, uids: Iterable[str]) -> None:
        """Select these shapes (from the canvas) without emitting ``selectionChanged``."""
        wanted = set(uids)
        self._updating = True
        try:
            model = self.list.selectionModel()
            model.clearSelection()
            last = None
            for i in range(self.list.count()):
                item = self.list.item(i)
                if item.data(UID_ROLE) in wanted:
                    item.setSelected(True)
                    last = item
            if last is not None:
                self.list.setCurrentItem(last, QItemSelectionModel.SelectionFlag.NoUpdate)
                self.list.scrollToItem(last)
        finally:
            self._updating = False

    def _on_selection(self) -> None:
        if not self._updating:
            self.selectionChanged.emit(self.selected_uids())

    def _context_menu(self, pos: QPoint) -> None:
        uids = self.selected_uids()
        if not uids:
            return
        menu = QMenu(self)
        menu.addAction("Change label…", lambda: self.changeLabelRequested.emit(uids))
        menu.addAction("Delete", lambda: self.deleteRequested.emit(uids))
        menu.exec(self.list.viewport().mapToGlobal(pos))
