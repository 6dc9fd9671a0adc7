"""The canvas tools behind one small protocol, so the window dispatches instead of branching.

Each tool gets the canvas's events (image coordinates, see ``Canvas._event``) and owns what
it draws and what Enter, Escape and Backspace do::

    tool = window.tools[Tool.SAM]
    tool.press(ev); tool.move(ev); tool.release(ev)
    tool.accept()        # Enter: the shown mask / the polygon being drawn becomes a shape
    tool.cancel()        # Escape: drop the prompt / the draft (True if there was one)

:class:`samlabel.gui.sam_tool.SamTool` is the SAM tool; the manual tools are
:class:`~samlabel.gui.edit_tools.PolygonTool`, :class:`~samlabel.gui.edit_tools.RectangleTool`
and :class:`~samlabel.gui.edit_tools.SelectTool`, one class each, sharing the window's
:class:`~samlabel.gui.edit_controller.EditController` (hit testing, selection, shape commands).
"""

from __future__ import annotations

from typing import Protocol


class CanvasTool(Protocol):
    """What the window asks of the active tool."""

    def activate(self) -> None:
        """This tool takes over (the window has set a cross cursor; a tool may set its own)."""

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
