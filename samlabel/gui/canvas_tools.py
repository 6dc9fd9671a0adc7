"""The canvas tools behind one small protocol, so the window dispatches instead of branching.

Each tool gets the canvas's events (image coordinates, see ``Canvas._event``) and owns what
it draws and what Enter, Escape and Backspace do::

    tool = window.tools[Tool.SAM]
    tool.press(ev); tool.move(ev); tool.release(ev)
    tool.accept()        # Enter: the shown mask / the polygon being drawn becomes a shape
    tool.cancel()        # Escape: drop the prompt / the draft (True if there was one)

:class:`EditTool` covers the manual tools (polygon, rectangle, select) over the window's
:class:`~samlabel.gui.edit_controller.EditController`; the SAM tool is
:class:`samlabel.gui.sam_tool.SamTool`.
"""

from __future__ import annotations

from typing import Callable, Protocol

from samlabel.gui.tools import Tool


class CanvasTool(Protocol):
    """What the window asks of the active tool."""

    def press(self, ev) -> None: ...

    def move(self, ev) -> None: ...

    def release(self, ev) -> None: ...

    def double_click(self, ev) -> None: ...

    def leave(self) -> None: ...

    def accept(self) -> bool:
        """Enter. True when a shape was made (or is being traced)."""

    def cancel(self) -> bool:
        """Escape. True when something was dropped."""

    def remove_last(self) -> None:
        """Backspace: the last point or vertex."""

    def deactivate(self) -> None:
        """Another tool takes over: drop what is in progress."""


class EditTool:
    """Polygon, rectangle or select: the window's ``EditController`` in one of its modes.

    ``edited()`` runs after a release (a shape may have been added, moved or reshaped).
    """

    def __init__(self, editor, tool: Tool, edited: Callable[[], None]) -> None:
        self.editor = editor
        self.tool = tool
        self._edited = edited

    def activate(self) -> None:
        self.editor.set_tool(self.tool)

    def press(self, ev) -> None:
        self.editor.press(ev)

    def move(self, ev) -> None:
        self.editor.move(ev)

    def release(self, ev) -> None:
        self.editor.release(ev)
        self._edited()

    def double_click(self, ev) -> None:
        self.editor.double_click(ev)

    def leave(self) -> None:
        pass

    def accept(self) -> bool:
        return self.tool is Tool.POLYGON and self.editor.finish_polygon()

    def cancel(self) -> bool:
        if self.editor.cancel():
            return True
        self.editor.set_selection([])
        return False

    def remove_last(self) -> None:
        if self.tool is Tool.POLYGON:
            self.editor.remove_last_vertex()

    def deactivate(self) -> None:
        pass
