"""Keeps the canvas's shape items in step with the document.

:func:`shape_geometry` turns an annotation ``Shape`` into what the canvas draws and
hit-tests (a list of parts ``(exterior, holes)`` and the editable vertices with their
``(part, ring, index)`` references). :class:`ShapeLayer` owns one :class:`ShapeItem` per
shape, matched by ``uid``; :meth:`ShapeLayer.sync` rebuilds only items whose ``Shape``
object changed (shapes are immutable, so identity says whether anything changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtGui import QColor

from samlabel.gui.overlay import ShapeItem

VertexRef = tuple[int, int, int]


@dataclass(frozen=True)
class ShapeGeometry:
    parts: list = field(repr=False)  # [(exterior (N,2), [holes]), ...]
    rings: list = field(repr=False)  # editable rings (N,2) for hit testing
    ring_refs: list = field(repr=False)  # per ring: (part, ring_no)
    editable: bool = True  # vertices can be moved


def shape_geometry(shape) -> ShapeGeometry:
    """Parts to draw and rings to edit for an annotation ``Shape``."""
    kind = shape.kind
    if kind == "polygon":
        parts = [(p.exterior, list(p.holes)) for p in shape.polygons]
        rings, refs = [], []
        for i, p in enumerate(shape.polygons):
            rings.append(p.exterior)
            refs.append((i, 0))
            for k, hole in enumerate(p.holes):
                rings.append(hole)
                refs.append((i, k + 1))
        return ShapeGeometry(parts, rings, refs, True)
    if kind == "rectangle":
        (x0, y0), (x1, y1) = np.asarray(shape.points, dtype=np.float64)
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        # only the two stored corners are editable: ring (0, 0) with vertices 0 and 1
        return ShapeGeometry([(corners, [])], [np.asarray(shape.points, dtype=np.float64)], [(0, 0)], True)
    if kind == "point":
        x, y = np.asarray(shape.points, dtype=np.float64)[0]
        r = 3.0
        square = np.array([[x - r, y - r], [x + r, y - r], [x + r, y + r], [x - r, y + r]])
        return ShapeGeometry([(square, [])], [np.asarray(shape.points, dtype=np.float64)], [(0, 0)], True)
    polys = shape.to_polygons(tolerance=0.5)
    parts = [(p.exterior, list(p.holes)) for p in polys]
    return ShapeGeometry(parts, [], [], False)


def label_qcolor(labels, name: str) -> QColor:
    try:
        r, g, b = labels.color_of(name)
    except Exception:  # noqa: BLE001 - a label missing from the set still gets drawn
        from samlabel.annotations.labels import default_color

        r, g, b = default_color(abs(hash(name)) % 97)
    return QColor(int(r), int(g), int(b))


class ShapeLayer:
    """The shape items in a scene, synced from a sequence of shapes."""

    def __init__(self, scene) -> None:
        self._scene = scene
        self._items: dict[str, ShapeItem] = {}
        self._shapes: dict[str, object] = {}
        self._geometry: dict[str, ShapeGeometry] = {}
        self.order: list[str] = []
        self.opacity = 0.45
        self.hidden_labels: set[str] = set()
        self.selected: set[str] = set()

    def item(self, uid: str) -> ShapeItem | None:
        return self._items.get(uid)

    def geometry(self, uid: str) -> ShapeGeometry | None:
        return self._geometry.get(uid)

    def visible_uids(self) -> list[str]:
        """Visible shapes, bottom to top."""
        return [u for u in self.order if self._items[u].isVisible()]

    def sync(self, shapes, labels) -> None:
        """Make the items match ``shapes`` (bottom to top)."""
        seen = set()
        for z, shape in enumerate(shapes):
            uid = shape.uid
            seen.add(uid)
            item = self._items.get(uid)
            color = label_qcolor(labels, shape.label)
            if item is None or self._shapes.get(uid) is not shape:
                geom = shape_geometry(shape)
                self._geometry[uid] = geom
                if item is None:
                    item = ShapeItem(uid, geom.parts, color, self.opacity)
                    self._scene.addItem(item)
                    self._items[uid] = item
                else:
                    item.set_parts(geom.parts)
                self._shapes[uid] = shape
            item.setZValue(10 + z * 1e-4)
            item.set_style(color, self.opacity, uid in self.selected)
            item.setVisible(shape.label not in self.hidden_labels)
        for uid in [u for u in self._items if u not in seen]:
            self._scene.removeItem(self._items.pop(uid))
            self._shapes.pop(uid, None)
            self._geometry.pop(uid, None)
        self.selected &= seen
        self.order = [s.uid for s in shapes]

    def restyle(self, labels) -> None:
        for uid, item in self._items.items():
            shape = self._shapes[uid]
            item.set_style(label_qcolor(labels, shape.label), self.opacity, uid in self.selected)
            item.setVisible(shape.label not in self.hidden_labels)

    def clear(self) -> None:
        for item in self._items.values():
            self._scene.removeItem(item)
        self._items.clear()
        self._shapes.clear()
        self._geometry.clear()
        self.order = []
        self.selected = set()
