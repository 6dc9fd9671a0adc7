"""Keeps the canvas's shape items in step with the document.

:func:`shape_geometry` turns an annotation ``Shape`` into what the canvas draws and
hit-tests (a list of parts ``(exterior, holes)`` and the editable vertices with their
``(part, ring, index)`` references). :class:`ShapeLayer` owns one :class:`ShapeItem` per
shape, matched by ``uid``; :meth:`ShapeLayer.sync` rebuilds only items whose ``Shape``
object changed (shapes are immutable, so identity says whether anything changed).

With thousands of dense shapes, every pass over the layer counts: :meth:`ShapeLayer.sync`
and :meth:`ShapeLayer.restyle` touch an item only when its colour, opacity, selection,
visibility or stacking really changed (a click restyles the two items whose selection
changed, not the whole layer), and :meth:`ShapeLayer.shape_at` asks a
:class:`~samlabel.gui.shape_index.ShapeIndex` of bounding boxes, rebuilt only after a sync
that changed geometry, order or visibility. The items draw a per-zoom simplified copy of
each outline (:mod:`samlabel.gui.shape_lod`); the geometry here keeps every vertex.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtGui import QColor

from samlabel.gui.shape_index import ShapeIndex
from samlabel.gui.shape_lod import DenseShapeItem as ShapeItem

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
        self.label_state = None  # the window's LabelState: which labels are hidden (read, never copied)
        self.selected: set[str] = set()
        self._index = None  # (uids, ShapeIndex) of the visible shapes, built on demand
        self._z: dict[str, int] = {}  # stacking position last given to each item
        self._applied: dict[str, tuple] = {}  # (rgba, opacity, selected, visible) last applied
        self._synced_state = None  # (labels, opacity, hidden, selected) of the last full pass

    @property
    def hidden_labels(self) -> frozenset[str]:
        return self.label_state.hidden if self.label_state is not None else frozenset()

    def item(self, uid: str) -> ShapeItem | None:
        return self._items.get(uid)

    def geometry(self, uid: str) -> ShapeGeometry | None:
        return self._geometry.get(uid)

    def visible_uids(self) -> list[str]:
        """Visible shapes, bottom to top."""
        return [u for u in self.order if self._items[u].isVisible()]

    def _colors(self, labels):
        """``label -> (QColor, rgba)``, each label looked up once per pass."""
        cache: dict[str, tuple[QColor, int]] = {}

        def color(name: str) -> tuple[QColor, int]:
            c = cache.get(name)
            if c is None:
                q = label_qcolor(labels, name)
                c = cache[name] = (q, q.rgba())
            return c

        return color

    def _apply(self, uid: str, item: ShapeItem, shape, color) -> None:
        """Style and visibility, touching the item only when one of them changed."""
        qcolor, rgba = color(shape.label)
        visible = shape.label not in self.hidden_labels
        key = (rgba, self.opacity, uid in self.selected, visible)
        if self._applied.get(uid) == key:
            return
        self._applied[uid] = key
        item.set_style(qcolor, self.opacity, key[2])
        if item.isVisible() != visible:
            item.setVisible(visible)
            self._index = None

    def sync(self, shapes, labels) -> None:
        """Make the items match ``shapes`` (bottom to top)."""
        seen = set()
        color = self._colors(labels)
        order = [s.uid for s in shapes]
        if order != self.order:
            self._index = None
        items, known, zs, apply = self._items, self._shapes, self._z, self._apply
        # Between two syncs with the same labels object, opacity, hidden labels and selection,
        # an unchanged shape needs no restyle (recolouring labels in place goes through restyle).
        state = (id(labels), self.opacity, frozenset(self.hidden_labels), frozenset(self.selected))
        same_style = state == self._synced_state
        for z, shape in enumerate(shapes):
            uid = shape.uid
            seen.add(uid)
            item = items.get(uid)
            if same_style and item is not None and known.get(uid) is shape and zs.get(uid) == z:
                continue
            if item is None or known.get(uid) is not shape:
                geom = shape_geometry(shape)
                self._geometry[uid] = geom
                if item is None:
                    item = ShapeItem(uid, geom.parts, color(shape.label)[0], self.opacity)
                    self._scene.addItem(item)
                    items[uid] = item
                    self._applied.pop(uid, None)
                else:
                    item.set_parts(geom.parts)
                known[uid] = shape
                self._index = None
            if zs.get(uid) != z:
                zs[uid] = z
                item.setZValue(10 + z * 1e-4)
            apply(uid, item, shape, color)
        if len(seen) != len(items):
            for uid in [u for u in items if u not in seen]:
                self._scene.removeItem(items.pop(uid))
                for d in (known, self._geometry, zs, self._applied):
                    d.pop(uid, None)
            self._index = None
        self.selected &= seen
        self.order = order
        self._synced_state = (id(labels), self.opacity, frozenset(self.hidden_labels), frozenset(self.selected))

    def restyle(self, labels) -> None:
        """Bring colours, selection and visibility up to date (unchanged items are not touched)."""
        color = self._colors(labels)
        for uid, item in self._items.items():
            self._apply(uid, item, self._shapes[uid], color)
        self._synced_state = None  # the next sync checks every item again

    def shape_at(self, x: float, y: float, tol: float = 0.0) -> str | None:
        """The topmost visible shape containing ``(x, y)`` or within ``tol`` of its outline."""
        if self._index is None:
            uids = self.visible_uids()
            rings = [[r for e, holes in self._geometry[u].parts for r in (e, *holes)] for u in uids]
            self._index = (uids, ShapeIndex(rings))
        uids, index = self._index
        i = index.shape_at(x, y, tol)
        return None if i is None else uids[i]

    def clear(self) -> None:
        for item in self._items.values():
            self._scene.removeItem(item)
        self._items.clear()
        self._shapes.clear()
        self._geometry.clear()
        self._z.clear()
        self._applied.clear()
        self._synced_state = None
        self.order = []
        self.selected = set()
        self._index = None
