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

With thousands of shapes the dock must not walk its rows on every change: it keeps the row
order as a Python list (``uids()``), a uid -> row map and what each row shows, so a vertex
drag updates one row, a refresh touches only rows whose shape, number or colour changed, and
a selection from the canvas selects its rows through one ``QItemSelection``.
"""

from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QPoint, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QDockWidget, QListWidget, QListWidgetItem, QMenu, QWidget

from samlabel.gui.dialogs.label_picker import swatch_icon
from samlabel.gui.object_colors import object_rgb
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
        self._uids: list[str] = []  # row order
        self._row: dict[str, int] = {}  # uid -> row
        self._shown: dict[str, tuple] = {}  # uid -> (shape, index, colour) the row shows
        self.color_by_object = False  # a grouped shape's swatch in its object's colour, as the canvas draws it
        self.list = QListWidget(self)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        # one row height for all: a changed row does not make the view measure every row again
        self.list.setUniformItemSizes(True)
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

    def set_color_by_object(self, on: bool) -> None:
        """Swatches of grouped shapes in their object's colour (label + group id, what View ▸
        Colour shapes by object draws on the canvas), else every swatch in its label's."""
        if bool(on) != self.color_by_object:
            self.color_by_object = bool(on)
            self.refresh()

    # ---------------------------------------------------------------- view
    def uids(self) -> list[str]:
        return list(self._uids)

    def _on_change(self, change) -> None:
        """Edits of a few shapes (a vertex drag) update only their rows; the rest refreshes."""
        uids = getattr(change, "uids", ())
        if change.reason == "edit" and uids and self._document is not None:
            shapes = self._document.shapes
            if len(shapes) == len(self._uids) and all(
                    self._row.get(u) is not None and shapes[self._row[u]].uid == u for u in uids):
                colours = self._colour_cache()
                for uid in uids:
                    i = self._row[uid]
                    self._show(self.list.item(i), shapes[i], i, colours)
                return
        self.refresh()

    def _colour_cache(self):
        """``(label, group_id) -> (colour, icon)``, each looked up once per pass: the label's
        colour, or with :attr:`color_by_object` a grouped shape's object colour."""
        cache: dict[tuple, tuple] = {}
        by_object = self.color_by_object

        def colour(name: str, group_id=None):
            key = (name, group_id if by_object else None)
            hit = cache.get(key)
            if hit is None:
                if key[1] is not None:
                    c = tuple(object_rgb(name, group_id))
                elif self._labels is not None:
                    c = tuple(self._labels.color_of(name))
                else:
                    return None
                hit = cache[key] = (c, swatch_icon(c))
            return hit

        return colour

    def _show(self, item: QListWidgetItem, shape, index: int, colours, force: bool = False) -> None:
        """Show ``shape`` as row ``index``; nothing is touched when the row shows it already."""
        swatch = colours(shape.label, shape.group_id)
        key = (shape, index, None if swatch is None else swatch[0])
        old = self._shown.get(shape.uid)
        if not force and old is not None and old[0] is shape and old[1:] == key[1:]:
            return
        self._shown[shape.uid] = key
        item.setText(shape_title(shape, index))
        item.setData(UID_ROLE, shape.uid)
        if swatch is not None:
            item.setIcon(swatch[1])

    def _fill(self, shapes, colours) -> None:
        """Rows for every shape of an empty list: the texts added in one call, then each
        row's uid and swatch (what :meth:`_show` would set, without a signal per change)."""
        titles = [shape_title(shape, i) for i, shape in enumerate(shapes)]
        self.list.addItems(titles)
        item, shown = self.list.item, self._shown
        for i, shape in enumerate(shapes):
            row = item(i)
            row.setData(UID_ROLE, shape.uid)
            swatch = colours(shape.label, shape.group_id)
            if swatch is not None:
                row.setIcon(swatch[1])
            shown[shape.uid] = (shape, i, None if swatch is None else swatch[0])

    def refresh(self) -> None:
        """Bring the rows up to the document, keeping the selection of surviving shapes.

        Rows whose shape, number and colour are unchanged are not touched; a different
        order or set of shapes rebuilds the list.
        """
        shapes = self._document.shapes if self._document is not None else ()
        selected = set(self.selected_uids())
        colours = self._colour_cache()
        order = [s.uid for s in shapes]
        self._updating = True
        try:
            if order != self._uids:
                self.list.clear()
                self._shown.clear()
                self._uids, self._row = order, {u: i for i, u in enumerate(order)}
                self._fill(shapes, colours)
                self._select_rows([self._row[u] for u in selected if u in self._row])
            else:
                for i, shape in enumerate(shapes):
                    self._show(self.list.item(i), shape, i, colours)
        finally:
            self._updating = False
        remaining = set(self.selected_uids())
        if remaining != selected:  # selected shapes went away (deleted, undone)
            self.selectionChanged.emit(self.selected_uids())

    # ---------------------------------------------------------------- selection
    def selected_uids(self) -> list[str]:
        """Selected shapes in document order."""
        rows = sorted(ix.row() for ix in self.list.selectionModel().selectedIndexes())
        return [self._uids[r] for r in rows if r < len(self._uids)]

    def _select_rows(self, rows) -> None:
        """Exactly these rows selected, through one selection (no walk over every row)."""
        model = self.list.selectionModel()
        selection = QItemSelection()
        for r in sorted(rows):
            ix = self.list.model().index(r, 0)
            selection.select(ix, ix)
        model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def select_uids(self, uids: Iterable[str]) -> None:
        """Select these shapes (from the canvas) without emitting ``selectionChanged``."""
        rows = [self._row[u] for u in uids if u in self._row]
        self._updating = True
        try:
            self._select_rows(rows)
            if rows:
                last = self.list.item(max(rows))
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
