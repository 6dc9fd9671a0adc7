"""The manual canvas tools: polygon, rectangle and select, one class each.

Each follows :class:`~samlabel.gui.canvas_tools.CanvasTool` and owns its gesture, what it
draws on the canvas (``canvas.draft_item``) and its accept step. What they share (hit
testing, the selection, the document commands) is the window's
:class:`~samlabel.gui.edit_controller.EditController`; the decisions of the gestures are the
Qt-free state machines of :mod:`samlabel.gui.tools`.

- :class:`PolygonTool`: click vertices; clicking near the first vertex, a double-click or
  Enter closes the polygon; right-click or Backspace removes the last vertex.
- :class:`RectangleTool`: drag a box.
- :class:`SelectTool`: click a shape to select it (Shift/Ctrl+click toggles), click empty
  space to deselect; drag a vertex of a selected shape to move it (one undo step);
  double-click (or Ctrl+click) on an edge of a selected polygon inserts a vertex there;
  Shift+click on a vertex, or Delete while hovering one, deletes that vertex.

Escape drops the tool's gesture in progress, else clears the selection.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt

from samlabel.gui.tools import Box, Click, ClickOrDrag, PolygonDraft

LEFT = Qt.MouseButton.LeftButton
RIGHT = Qt.MouseButton.RightButton


class ManualTool:
    """What the manual tools share: presses need an open document, a release may have edited
    it (``edited()``, the window's autosave, runs after each), Escape clears the selection."""

    def __init__(self, editor, edited: Callable[[], None]) -> None:
        self.editor = editor  # the shared EditController
        self.canvas = editor.canvas
        self._edited = edited

    def activate(self) -> None:
        pass

    def deactivate(self) -> None:
        pass

    def press(self, ev) -> None:
        if self.editor.document is not None:
            self._press(ev)

    def _press(self, ev) -> None:
        pass

    def move(self, ev) -> None:
        pass

    def release(self, ev) -> None:
        self._release(ev)
        self._edited()

    def _release(self, ev) -> None:
        pass

    def double_click(self, ev) -> None:
        pass

    def leave(self) -> None:
        pass

    def accept(self) -> bool:
        return False

    def cancel(self) -> bool:
        self.editor.set_selection([])
        return False

    def remove_last(self) -> None:
        pass


class DraftingTool(ManualTool):
    """A tool that draws a shape in progress on ``canvas.draft_item`` from a gesture state
    (``_gesture()``: anything with ``active`` and ``cancel()``), dropped when the tool is
    chosen, left or cancelled."""

    def _gesture(self):
        raise NotImplementedError

    def _drop(self) -> bool:
        gesture = self._gesture()
        had = gesture.active
        gesture.cancel()
        self.canvas.draft_item.set_draft()
        return had

    def activate(self) -> None:
        self._drop()

    def deactivate(self) -> None:
        self._drop()


class PolygonTool(DraftingTool):
    """A polygon drawn vertex by vertex (:class:`~samlabel.gui.tools.PolygonDraft`)."""

    def __init__(self, editor, edited: Callable[[], None]) -> None:
        super().__init__(editor, edited)
        self.draft = PolygonDraft()

    def _gesture(self):
        return self.draft

    def _press(self, ev) -> None:
        if ev.button == LEFT:
            done = self.draft.click(ev.x, ev.y, self.canvas.zoom)
            if done is not None:
                self.editor.add_polygon(done)
            self.canvas.draft_item.set_draft(self.draft.vertices, (ev.x, ev.y))
        elif ev.button == RIGHT:
            self.remove_last()

    def move(self, ev) -> None:
        if self.draft.active:
            self.canvas.draft_item.set_draft(self.draft.vertices, (ev.x, ev.y))

    def double_click(self, ev) -> None:
        self.accept()

    def accept(self) -> bool:
        """Enter (or a double-click): close the polygon being drawn. True when one was added."""
        done = self.draft.finish()
        self.canvas.draft_item.set_draft(self.draft.vertices)
        if done is None:
            return False
        self.editor.add_polygon(done)
        return True

    def cancel(self) -> bool:
        return self._drop() or super().cancel()

    def remove_last(self) -> bool:
        ok = self.draft.remove_last()
        self.canvas.draft_item.set_draft(self.draft.vertices)
        return ok


class RectangleTool(DraftingTool):
    """A rectangle dragged corner to corner (:class:`~samlabel.gui.tools.ClickOrDrag`)."""

    def __init__(self, editor, edited: Callable[[], None]) -> None:
        super().__init__(editor, edited)
        self.drag = ClickOrDrag()

    def _gesture(self):
        return self.drag

    def _press(self, ev) -> None:
        if ev.button == LEFT:
            self.drag.press(ev.x, ev.y, ev.sx, ev.sy)

    def move(self, ev) -> None:
        if self.drag.active:
            box = self.drag.move(ev.x, ev.y, ev.sx, ev.sy)
            self.canvas.draft_item.set_draft(box=None if box is None else (box.x0, box.y0, box.x1, box.y1))

    def _release(self, ev) -> None:
        if not self.drag.active:
            return
        out = self.drag.release(ev.x, ev.y, ev.sx, ev.sy)
        self.canvas.draft_item.set_draft()
        if isinstance(out, Box) and not out.is_empty:
            self.editor.add_rectangle(out)
        elif isinstance(out, Click):
            self.editor.message.emit("Drag to draw a rectangle.")

    def cancel(self) -> bool:
        return self._drop() or super().cancel()


class SelectTool(ManualTool):
    """Selection and vertex editing. A vertex drag is ONE undo step (``Document.begin_group``)."""

    def __init__(self, editor, edited: Callable[[], None]) -> None:
        super().__init__(editor, edited)
        self._drag = None  # (uid, (part, ring, index)) while dragging a vertex

    @property
    def dragging(self) -> bool:
        """A vertex is being dragged."""
        return self._drag is not None

    def activate(self) -> None:
        self.canvas.viewport().setCursor(Qt.CursorShape.ArrowCursor)

    def deactivate(self) -> None:
        self._end_drag()
        self.editor.hover_vertex = None

    def _end_drag(self, cancel: bool = False) -> bool:
        """End a vertex drag: one undo step (``cancel``: the vertex goes back, no step). The
        group may have been closed already (a save in the middle closes it)."""
        if self._drag is None:
            return False
        self._drag = None
        document = self.editor.document
        if document is not None and document.in_group:
            document.cancel_group() if cancel else document.end_group()
        return True

    def cancel(self) -> bool:
        """Escape: a vertex drag in progress goes back; else the selection is cleared."""
        if self._end_drag(cancel=True):
            return True
        return super().cancel()

    def leave(self) -> None:
        self.editor.hover_vertex = None  # Delete from elsewhere must not delete a vertex

    def _press(self, ev) -> None:
        if ev.button != LEFT:
            return
        ed = self.editor
        vertex = ed.vertex_at(ev.x, ev.y)
        if vertex is not None and ev.shift:
            ed.delete_vertex(*vertex)
            return
        if vertex is not None:
            self._drag = vertex
            ed.document.begin_group("Move vertex")
            return
        if ev.ctrl:
            edge = ed.edge_at(ev.x, ev.y)
            if edge is not None:
                ed.insert_vertex(*edge)
                return
        uid = ed.shape_at(ev.x, ev.y)
        if ev.shift or ev.ctrl:
            sel = set(ed.layer.selected)
            if uid is not None:
                sel ^= {uid}
            ed.set_selection([u for u in ed.layer.order if u in sel])
        else:
            ed.set_selection([uid] if uid else [])

    def move(self, ev) -> None:
        if self._drag is not None:
            uid, ref = self._drag
            doc = self.editor.document
            doc.replace_shape(uid, doc.shape(uid).with_vertex_moved(ref, (ev.x, ev.y)), text="Move vertex")
            return
        self.editor.hover_vertex = self.editor.vertex_at(ev.x, ev.y)
        cursor = Qt.CursorShape.SizeAllCursor if self.editor.hover_vertex else Qt.CursorShape.ArrowCursor
        self.canvas.viewport().setCursor(cursor)

    def _release(self, ev) -> None:
        self._end_drag()

    def double_click(self, ev) -> None:
        edge = self.editor.edge_at(ev.x, ev.y)
        if edge is not None:
            self.editor.insert_vertex(*edge)
