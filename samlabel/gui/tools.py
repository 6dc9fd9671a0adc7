"""The canvas tools' decisions, without Qt.

The canvas translates Qt mouse events into calls on these small state machines
(positions in image pixels, distances in screen pixels) and acts on what they return.
Keeping the decisions here lets the tests drive them without widgets.

- :class:`ClickOrDrag` (SAM tool, rectangle tool): a press followed by a release is a click
  unless the mouse moved more than ``drag_threshold`` screen pixels, then it is a box.
- :class:`PolygonDraft` (polygon tool): clicks add vertices; clicking near the first vertex,
  a double-click or Enter closes it; Backspace removes the last vertex.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Tool(enum.Enum):
    SAM = "sam"
    POLYGON = "polygon"
    RECTANGLE = "rectangle"
    SELECT = "select"


@dataclass(frozen=True)
class Click:
    x: float
    y: float
    positive: bool


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def normalized(self) -> "Box":
        return Box(min(self.x0, self.x1), min(self.y0, self.y1), max(self.x0, self.x1), max(self.y0, self.y1))

    @property
    def is_empty(self) -> bool:
        return abs(self.x1 - self.x0) < 1 or abs(self.y1 - self.y0) < 1


class ClickOrDrag:
    """Press/move/release -> a :class:`Click` or a :class:`Box`."""

    def __init__(self, drag_threshold: float = 5.0) -> None:
        self.drag_threshold = drag_threshold
        self._press: tuple[float, float, float, float] | None = None  # img x, y, screen x, y
        self._positive = True
        self._current: tuple[float, float] | None = None
        self.dragging = False

    @property
    def active(self) -> bool:
        return self._press is not None

    def press(self, x: float, y: float, sx: float, sy: float, positive: bool = True) -> None:
        self._press = (x, y, sx, sy)
        self._positive = positive
        self._current = (x, y)
        self.dragging = False

    def move(self, x: float, y: float, sx: float, sy: float) -> Box | None:
        """Returns the box being dragged (for a rubber band), or None while still a click."""
        if self._press is None:
            return None
        px, py, psx, psy = self._press
        self._current = (x, y)
        if not self.dragging and math.hypot(sx - psx, sy - psy) > self.drag_threshold:
            self.dragging = True
        return Box(px, py, x, y) if self.dragging else None

    def release(self, x: float, y: float, sx: float, sy: float) -> Click | Box | None:
        if self._press is None:
            return None
        self.move(x, y, sx, sy)
        px, py, _, _ = self._press
        self._press = None
        if self.dragging:
            self.dragging = False
            return Box(px, py, x, y).normalized
        return Click(px, py, self._positive)

    def cancel(self) -> None:
        self._press = None
        self.dragging = False


class PolygonDraft:
    """A polygon being drawn vertex by vertex."""

    def __init__(self, close_distance: float = 8.0) -> None:
        self.close_distance = close_distance  # screen pixels
        self.vertices: list[tuple[float, float]] = []

    @property
    def active(self) -> bool:
        return bool(self.vertices)

    def click(self, x: float, y: float, scale: float) -> list[tuple[float, float]] | None:
        """Add a vertex; returns the finished polygon when the click closes it.

        ``scale`` is screen pixels per image pixel, to compare in screen pixels.
        """
        if len(self.vertices) >= 3:
            fx, fy = self.vertices[0]
            if math.hypot(x - fx, y - fy) * scale <= self.close_distance:
                return self.finish()
        self.vertices.append((float(x), float(y)))
        return None

    def finish(self) -> list[tuple[float, float]] | None:
        """Close the polygon (None and keep drafting if it has fewer than 3 vertices)."""
        if len(self.vertices) < 3:
            return None
        done, self.vertices = self.vertices, []
        return done

    def remove_last(self) -> bool:
        if not self.vertices:
            return False
        self.vertices.pop()
        return True

    def cancel(self) -> None:
        self.vertices = []


def rectangle_polygon(box: Box) -> list[tuple[float, float]]:
    b = box.normalized
    return [(b.x0, b.y0), (b.x1, b.y0), (b.x1, b.y1), (b.x0, b.y1)]
