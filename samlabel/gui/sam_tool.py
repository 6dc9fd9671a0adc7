"""The SAM tool: hover to preview, click or drag a box to prompt, Enter to accept the mask.

It owns its part of the canvas (the box being dragged, through ``canvas.draft_item``) and its
accept step: the shown mask is traced to a polygon shape with the current label and added
to the document it was made for (in a background task when it has many regions). The
prompting itself (prompt state, decoder requests, the overlay) is the window's
:class:`~samlabel.gui.sam_controller.SamController`.

``host`` is the window: the tool reads its open ``document``, ``image_path``,
``current_label()``, ``simplify_tolerance``, ``embeddings`` and status bar, and asks it to
save a document the user has left (``save_left_document``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from samlabel.annotations.mask_tracing import count_regions, trace_shape
from samlabel.gui.tasks import Task
from samlabel.gui.tools import Box, Click, ClickOrDrag


class SamTool:
    #: masks with more separate regions than this are traced in a background task
    trace_in_background_above = 25

    def __init__(self, host, sam, canvas) -> None:
        self.host = host
        self.sam = sam
        self.canvas = canvas
        self.drag = ClickOrDrag()
        self._trace_tasks: list[Task] = []

    def _message(self, text: str, ms: int = 5000) -> None:
        self.host.statusBar().showMessage(text, ms)

    # ---------------------------------------------------------------- activation
    def activate(self) -> None:
        self.drag.cancel()
        self.sam.enabled = True

    def deactivate(self) -> None:
        self.drag.cancel()
        self.canvas.draft_item.set_draft()
        self.sam.reset_prompt()
        self.sam.enabled = False

    # ---------------------------------------------------------------- mouse
    def press(self, ev) -> None:
        if not self.sam.ready:
            state = self.host._ai_status.text().rstrip("…. ") or "not computed yet"
            self._message(f"The SAM tool is waiting for this image's embedding ({state}).")
            return
        if ev.button == Qt.MouseButton.LeftButton:
            self.drag.press(ev.x, ev.y, ev.sx, ev.sy, positive=not ev.shift)
        elif ev.button == Qt.MouseButton.RightButton:
            self.sam.click(ev.x, ev.y, positive=False, t=ev.t)

    def move(self, ev) -> None:
        if self.drag.active:
            box = self.drag.move(ev.x, ev.y, ev.sx, ev.sy)
            if box is not None:
                self.canvas.draft_item.set_draft(box=(box.x0, box.y0, box.x1, box.y1))
            return
        if self.host.embeddings is not None:
            self.host.embeddings.note_interaction()
        self.sam.hover(ev.x, ev.y, ev.t)

    def release(self, ev) -> None:
        out = self.drag.release(ev.x, ev.y, ev.sx, ev.sy)
        self.canvas.draft_item.set_draft()
        if isinstance(out, Click):
            self.sam.click(out.x, out.y, out.positive, t=ev.t)
        elif isinstance(out, Box):
            self.sam.box(out.x0, out.y0, out.x1, out.y1, t=ev.t)

    def double_click(self, ev) -> None:
        pass

    def leave(self) -> None:
        self.sam.leave()

    # ---------------------------------------------------------------- keys
    def cancel(self) -> bool:
        had = self.drag.active
        self.drag.cancel()
        self.canvas.draft_item.set_draft()
        self.sam.reset_prompt()
        return had

    def remove_last(self) -> None:
        self.sam.remove_last_point()

    def accept(self) -> bool:
        """Enter: trace the shown mask into a shape of the current label.

        Simple masks are traced at once; masks with many regions (which take seconds to
        trace) are traced in a background task and added to the image they came from.
        """
        host = self.host
        if host.document is None:
            return False
        out = self.sam.accepted_mask()
        if out is None:
            self._message("Nothing to accept: hover or click on an object first.")
            return False
        mask, origin = out  # specks already removed (remove_specks): traced as it is, never cleaned twice
        label, doc, path, tolerance = host.current_label(), host.document, host.image_path, host.simplify_tolerance
        self.sam.reset_prompt()
        if count_regions(mask) <= self.trace_in_background_above:
            try:
                shape = trace_shape(mask, origin, label, tolerance)
            except Exception as exc:  # noqa: BLE001 - AnnotationError: nothing to add
                self._message(f"Mask not accepted: {exc}", 8000)
                return False
            self._add_traced(doc, path, shape)
            return True
        self.host.statusBar().showMessage("Tracing the mask…")
        task = Task(trace_shape, mask, origin, label, tolerance, parent=host)
        task.finished.connect(lambda shape: self._add_traced(doc, path, shape))
        task.failed.connect(lambda msg: self._message(f"Mask not accepted: {msg}", 8000))
        self._trace_tasks = [t for t in self._trace_tasks if t.is_running()] + [task]
        task.start()
        host.workspace.add_job(task)  # the user's work: the window lets it end before closing
        return True

    def pending_traces(self) -> list[Task]:
        """Masks still being traced (the window waits for them before closing)."""
        return [t for t in self._trace_tasks if t.is_running()]

    def _add_traced(self, doc, path, shape) -> None:
        doc.add_shape(shape, text="Add SAM shape")
        if doc is not self.host.document:
            self.host.save_left_document(doc, path)  # traced after the user moved on
        self._message(f"Added {shape.label} ({len(shape.polygons)} part(s))")
