"""Selecting and editing shapes, and the manual polygon / rectangle tools.

The decisions come from the Qt-free helpers (:mod:`samlabel.gui.hit_testing`,
:mod:`samlabel.gui.tools`); this controller maps canvas events to them and turns the
outcome into document commands. A vertex drag is ONE undo step (``Document.group``).

Select tool:
- click a shape to select it (Shift/Ctrl+click toggles), click empty space to deselect;
- drag a vertex of a selected shape to move it;
- double-click (or Ctrl+click) on an edge of a selected shape inserts a vertex there;
- Shift+click on a vertex, or Delete while hovering one, deletes that vertex.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal

from samlabel.gui import hit_testing
from samlabel.gui.tools import Box, Click, ClickOrDrag, PolygonDraft, Tool

HANDLE_PX = 7.0  # screen pixels


class EditController(QObject):
    """Signals: ``selectionChanged(list[str])``, ``message(str)``."""

    selectionChanged = Signal(list)
    message = Signal(str)

    def __init__(self, canvas, layer, document_fn: Callable, label_fn: Callable[[], str], parent=None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.layer = layer
        self._document = document_fn  # -> the current Document or None
        self._label = label_fn  # -> the current label name
        self.tool = Tool.SELECT
        self.draft = PolygonDraft()
        self.rect_drag = ClickOrDrag()
        self._drag = None  # (uid, (part, ring, index)) while dragging a vertex
        self._hover_vertex = None

    # ------------------------------------------------------------- helpers
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

    def set_selection(self, uids) -> None:
        uids = [u for u in uids if self.layer.item(u) is not None]
        if set(uids) == self.layer.selected:
            return
        self.layer.selected = set(uids)
        self.selectionChanged.emit(list(uids))

    def set_tool(self, tool: Tool) -> None:
        self.cancel()
        self.tool = tool

    def cancel(self) -> bool:
        """Esc: drop a polygon in progress / a rectangle drag. True when something was dropped."""
        had = self.draft.active or self.rect_drag.active
        self.draft.cancel()
        self.rect_drag.cancel()
        self.canvas.draft_item.set_draft()
        return had

    # ------------------------------------------------------------- events
    def press(self, ev) -> None:
        if self.document is None:
            return
        if self.tool is Tool.SELECT and ev.button == Qt.MouseButton.LeftButton:
            self._press_select(ev)
        elif self.tool is Tool.RECTANGLE and ev.button == Qt.MouseButton.LeftButton:
            self.rect_drag.press(ev.x, ev.y, ev.sx, ev.sy)
        elif self.tool is Tool.POLYGON and ev.button == Qt.MouseButton.LeftButton:
            done = self.draft.click(ev.x, ev.y, self.canvas.zoom)
            if done is not None:
                self._add_polygon(done)
            self.canvas.draft_item.set_draft(self.draft.vertices, (ev.x, ev.y))
        elif self.tool is Tool.POLYGON and ev.button == Qt.MouseButton.RightButton:
            self.remove_last_vertex()

    def _press_select(self, ev) -> None:
        vertex = self.vertex_at(ev.x, ev.y)
        if vertex is not None and ev.shift:
            self.delete_vertex(*vertex)
            return
        if vertex is not None:
            self._drag = vertex
            self.document.begin_group("Move vertex")
            return
        if ev.ctrl:
            edge = self.edge_at(ev.x, ev.y)
            if edge is not None:
                self.insert_vertex(*edge)
                return
        uid = self.shape_at(ev.x, ev.y)
        if ev.shift or ev.ctrl:
            sel = set(self.layer.selected)
            if uid is not None:
                sel ^= {uid}
            self.set_selection([u for u in self.layer.order if u in sel])
        else:
            self.set_selection([uid] if uid else [])

    def move(self, ev) -> None:
        if self._drag is not None:
            uid, ref = self._drag
            doc = self.document
            doc.replace_shape(uid, doc.shape(uid).with_vertex_moved(ref, (ev.x, ev.y)), text="Move vertex")
            return
        if self.tool is Tool.RECTANGLE and self.rect_drag.active:
            box = self.rect_drag.move(ev.x, ev.y, ev.sx, ev.sy)
            self.canvas.draft_item.set_draft(box=None if box is None else (box.x0, box.y0, box.x1, box.y1))
        elif self.tool is Tool.POLYGON and self.draft.active:
            self.canvas.draft_item.set_draft(self.draft.vertices, (ev.x, ev.y))
        elif self.tool is Tool.SELECT:
            self._hover_vertex = self.vertex_at(ev.x, ev.y)
            cursor = Qt.CursorShape.SizeAllCursor if self._hover_vertex else Qt.CursorShape.ArrowCursor
            self.canvas.viewport().setCursor(cursor)

    def release(self, ev) -> None:
        if self._drag is not None:
            self._drag = None
            self.document.end_group()
            return
        if self.tool is Tool.RECTANGLE and self.rect_drag.active:
            out = self.rect_drag.release(ev.x, ev.y, ev.sx, ev.sy)
            self.canvas.draft_item.set_draft()
            if isinstance(out, Box) and not out.is_empty:
                self._add_rectangle(out)
            elif isinstance(out, Click):
                self.message.emit("Drag to draw a rectangle.")

    def double_click(self, ev) -> None:
        if self.tool is Tool.POLYGON:
            done = self.draft.finish()
            if done is not None:
                self._add_polygon(done)
            self.canvas.draft_item.set_draft(self.draft.vertices)
        elif self.tool is Tool.SELECT:
            edge = self.edge_at(ev.x, ev.y)
            if edge is not None:
                self.insert_vertex(*edge)

    def finish_polygon(self) -> bool:
        """Enter with the polygon tool: close the polygon being drawn."""
        done = self.draft.finish()
        self.canvas.draft_item.set_draft(self.draft.vertices)
        if done is None:
            return False
        self._add_polygon(done)
        return True

    def remove_last_vertex(self) -> bool:
        ok = self.draft.remove_last()
        self.canvas.draft_item.set_draft(self.draft.vertices)
        return ok

    # ------------------------------------------------------------- commands
    def _add_polygon(self, vertices) -> None:
        from samlabel.annotations import AnnotationError, Shape

        try:
            shape = Shape.polygon(self._label(), vertices)
        except AnnotationError as exc:
            self.message.emit(f"Polygon not added: {exc}")
            return
        self.document.add_shape(shape, text="Add polygon")

    def _add_rectangle(self, box: Box) -> None:
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
        """Delete the hovered vertex, else the selected shapes."""
        doc = self.document
        if doc is None:
            return False
        if self.tool is Tool.SELECT and self._hover_vertex is not None:
            uid, ref = self._hover_vertex
            self._hover_vertex = None
            if uid in self.layer.selected:
                return self.delete_vertex(uid, ref)
        uids = [u for u in self.layer.order if u in self.layer.selected]
        if not uids:
            return False
        doc.remove_shapes(uids)
        self.set_selection([])
        return True
