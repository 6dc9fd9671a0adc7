"""The shared editing context of the manual tools: hit testing, selection, shape commands.

The polygon, rectangle and select tools (:mod:`samlabel.gui.edit_tools`) each own their
gesture; what they share lives here, with no notion of which tool is active:

- hit testing in image pixels with a screen-pixel tolerance (:meth:`vertex_at`,
  :meth:`edge_at`, :meth:`shape_at`), decided by the Qt-free :mod:`samlabel.gui.hit_testing`;
- the selection (:meth:`set_selection`, signal ``selectionChanged``);
- the document commands: add a polygon or rectangle with the current label, insert or delete
  a vertex, delete the selected shapes (or the vertex under the pointer, :attr:`hover_vertex`).
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

from samlabel.gui import hit_testing
from samlabel.gui.tools import Box

HANDLE_PX = 7.0  # screen pixels


class EditController(QObject):
    """Signals: ``selectionChanged(list[str])``, ``message(str)``.

    ``document_fn()`` gives the open Document (or None), ``label_fn()`` the current label.
    """

    selectionChanged = Signal(list)
    message = Signal(str)

    def __init__(self, canvas, layer, document_fn: Callable, label_fn: Callable[[], str], parent=None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.layer = layer
        self._document = document_fn  # -> the current Document or None
        self._label = label_fn  # -> the current label name
        #: ``(uid, (part, ring, index))`` of the selected shape's vertex under the pointer, kept
        #: by the select tool while it is active (None otherwise); Delete removes that vertex.
        self.hover_vertex = None

    # ------------------------------------------------------------- hit testing
    @property
    def document(self):
        return self._document()

    def _tol(self) -> float:
        return HANDLE_PX / max(1e-6, self.canvas.zoom)

    def _selected_geometry(self):
        uids = self.layer.visible_selected()
        geoms = [self.layer.geometry(u) for u in uids]
        return uids, geoms

    def vertex_at(self, x: float, y: float):
        """``(uid, (part, ring, index))`` of a selected shape's vertex near ``(x, y)``."""
        uids, geoms = self._selected_geometry()
        hit = hit_testing.nearest_vertex([g.rings for g in geoms], x, y, self._tol())
        if hit is None or not geoms[hit.shape].editable:
            return None
        part, ring = geoms[hit.shape].ring_refs[hit.ring]
        return uids[hit.shape], (part, ring, hit.vertex)

    def edge_at(self, x: float, y: float):
        """``(uid, (part, ring, index), (x, y))``: where a vertex would go on a selected polygon's edge."""
        uids, geoms = self._selected_geometry()
        polys = [g.rings if self.document.shape(u).kind == "polygon" else [] for u, g in zip(uids, geoms)]
        hit = hit_testing.nearest_edge(polys, x, y, self._tol())
        if hit is None:
            return None
        part, ring = geoms[hit.shape].ring_refs[hit.ring]
        return uids[hit.shape], (part, ring, hit.edge + 1), hit.point

    def shape_at(self, x: float, y: float) -> str | None:
        """The topmost visible shape under ``(x, y)``, through the layer's spatial index."""
        return self.layer.shape_at(x, y, tol=self._tol())

    # ------------------------------------------------------------- selection
    def set_selection(self, uids) -> None:
        uids = [u for u in uids if self.layer.item(u) is not None]
        if set(uids) == self.layer.selected:
            return
        self.layer.selected = set(uids)
        self.selectionChanged.emit(list(uids))

    # ------------------------------------------------------------- commands
    def add_polygon(self, vertices) -> None:
        from samlabel.annotations import AnnotationError, Shape

        try:
            shape = Shape.polygon(self._label(), vertices)
        except AnnotationError as exc:
            self.message.emit(f"Polygon not added: {exc}")
            return
        self.document.add_shape(shape, text="Add polygon")

    def add_rectangle(self, box: Box) -> None:
        from samlabel.annotations import Shape

        b = box.normalized
        self.document.add_shape(Shape.rectangle(self._label(), (b.x0, b.y0), (b.x1, b.y1)), text="Add rectangle")

    def insert_vertex(self, uid: str, ref, xy) -> None:
        doc = self.document
        doc.replace_shape(uid, doc.shape(uid).with_vertex_inserted(ref, xy), text="Insert vertex")

    def delete_vertex(self, uid: str, ref) -> bool:
        from samlabel.annotations import AnnotationError

        doc = self.document
        try:
            doc.replace_shape(uid, doc.shape(uid).with_vertex_deleted(ref), text="Delete vertex")
        except AnnotationError as exc:
            self.message.emit(f"Cannot delete that vertex: {exc}")
            return False
        return True

    def delete_selected(self) -> bool:
        """Delete the hovered vertex (:attr:`hover_vertex`), else the selected shapes."""
        doc = self.document
        if doc is None:
            return False
        if self.hover_vertex is not None:
            uid, ref = self.hover_vertex
            self.hover_vertex = None
            if uid in self.layer.selected:
                return self.delete_vertex(uid, ref)
        uids = [u for u in self.layer.order if u in self.layer.selected]
        if not uids:
            return False
        doc.remove_shapes(uids)
        self.set_selection([])
        return True
