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

Many new shapes at once (an image with thousands of shapes opened) are built in slices, one
per event-loop turn, each about :data:`SLICE_MS` of work, bottom to top: the window stays
responsive and each slice is drawn over the shapes already shown. Until the last slice,
:attr:`ShapeLayer.building` is True and ``order`` holds the shapes built so far (in the
document's order); a sync during building (an edit, an undo) replaces what is left to build,
so nothing is lost and nothing is built twice.

Unselected shapes are painted by the scene's :class:`~samlabel.gui.shape_raster.ShapeRaster`
(one pixmap for all of them) and are not scene items themselves; a selected shape's item is
in the scene, above the pixmap, with its vertex handles. The layer tells the raster which
scene rectangles to draw again when a shape changes, appears, goes, is hidden or (de)selected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter, is_, is_not

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor

from samlabel.gui.shape_index import ShapeIndex
from samlabel.gui.object_colors import object_rgb
from samlabel.gui.shape_lod import DenseShapeItem as ShapeItem
from samlabel.gui.shape_raster import ShapeRaster

VertexRef = tuple[int, int, int]

SLICE_MIN = 200  # more new shapes than this are built in slices over event-loop turns
SLICE_MS = 8.0  # about this much work per slice
SHOW_EVERY_S = 0.1  # while building, the new shapes are painted at most this often (and at the end)


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
        raster = next((i for i in scene.items() if isinstance(i, ShapeRaster)), None)
        if raster is None:  # a scene without a Canvas (tests): bring one
            raster = ShapeRaster()
            scene.addItem(raster)
        self.raster = raster
        self._items: dict[str, ShapeItem] = {}
        self._shapes: dict[str, object] = {}
        self._geometry: dict[str, ShapeGeometry] = {}
        self.order: list[str] = []
        self.opacity = 0.45
        self.color_by_object = False  # grouped shapes in their object's colour (object_colors)
        self.label_state = None  # the window's LabelState: which labels are hidden (read, never copied)
        self.selected: set[str] = set()
        self._index = None  # (uids, ShapeIndex) of the visible shapes, built on demand
        self._z: dict[str, int] = {}  # stacking position last given to each item
        self._applied: dict[str, tuple] = {}  # (rgba, opacity, selected, visible) last applied
        self._synced_state = None  # (colours, opacity, hidden, selected) of the last full pass
        self._styled_selection: frozenset[str] = frozenset()  # the selection the items show
        self._synced_shapes: list = []  # the shapes of the last sync, bottom to top
        self._created: list[ShapeItem] = []  # items made by the running sync
        self._target = None  # (shapes, labels) still being built in slices
        self._slice_n = 32  # shapes in the next slice (sized from the last slice's cost)
        self._prefix = False  # the shapes of the last sync are the first ones of ``_target``
        self._shown_at = 0.0  # when a slice last asked for a paint
        self._build_timer = QTimer()
        self._build_timer.setInterval(0)
        self._build_timer.timeout.connect(self._build_step)
        self.slices = 0  # slices built since the last clear (tests, benchmark)

    @property
    def building(self) -> bool:
        """Whether shapes are still being built in slices (``order`` is not complete yet)."""
        return self._target is not None

    @property
    def hidden_labels(self) -> frozenset[str]:
        return self.label_state.hidden if self.label_state is not None else frozenset()

    def item(self, uid: str) -> ShapeItem | None:
        return self._items.get(uid)

    def geometry(self, uid: str) -> ShapeGeometry | None:
        return self._geometry.get(uid)

    def visible_uids(self) -> list[str]:
        """Visible shapes, bottom to top."""
        items = self._items
        return [u for u in self.order if items[u].shown]

    def visible_selected(self) -> list[str]:
        """Visible selected shapes, bottom to top (no pass over every shape)."""
        z, items = self._z, self._items
        return [u for u in sorted((u for u in self.selected if u in items), key=lambda u: z.get(u, 0))
                if items[u].shown]

    def _colors(self, labels):
        """``(label, group_id) -> (QColor, rgba)``, each looked up once per pass: the label's
        colour, or with :attr:`color_by_object` a grouped shape's object colour."""
        cache: dict[tuple, tuple[QColor, int]] = {}
        by_object = self.color_by_object

        def color(name: str, group_id=None) -> tuple[QColor, int]:
            key = (name, group_id if by_object else None)
            c = cache.get(key)
            if c is None:
                if key[1] is None:
                    q = label_qcolor(labels, name)
                else:
                    q = QColor(*object_rgb(name, group_id))
                c = cache[key] = (q, q.rgba())
            return c

        return color

    def _style_state(self, labels) -> tuple:
        """What every item's style depends on besides its own label and selection: the label
        colours (a recolour in place changes it), the opacity and the hidden labels."""
        try:
            colours = tuple((lab.name, tuple(lab.color)) for lab in labels)
        except TypeError:  # not iterable (a bare stand-in): compare by identity
            colours = id(labels)
        return (colours, self.opacity, frozenset(self.hidden_labels), self.color_by_object)

    def _apply(self, uid: str, item: ShapeItem, shape, color, hidden=None) -> None:
        """Style and visibility, touching the item only when one of them changed."""
        qcolor, rgba = color(shape.label, shape.group_id)
        visible = shape.label not in (self.hidden_labels if hidden is None else hidden)
        key = (rgba, self.opacity, uid in self.selected, visible)
        if self._applied.get(uid) == key:
            return
        old = self._applied.get(uid)
        self._applied[uid] = key
        item.set_style(qcolor, self.opacity, key[2])
        if item.isVisible() != visible:
            item.setVisible(visible)
            self._index = None
        item.shown = visible
        self._place(item)
        if old is None and self._created and self._created[-1] is item:
            return  # a new item: drawn with the others that appeared (end of sync)
        if old is None or old[:2] != key[:2] or old[3] != key[3] or old[2] != key[2]:
            self.raster.invalidate(item.data_rect())  # drawn, recoloured, hidden or (de)selected

    def _place(self, item: ShapeItem) -> None:
        """A selected shape is a scene item (drawn above the raster, with handles); others not."""
        in_scene = item.scene() is not None
        if item.is_selected_style() and not in_scene:
            self._scene.addItem(item)
        elif not item.is_selected_style() and in_scene:
            self._scene.removeItem(item)

    def sync(self, shapes, labels) -> None:
        """Make the items match ``shapes`` (bottom to top); more than :data:`SLICE_MIN` new
        shapes are built in slices (see :attr:`building`)."""
        shapes = list(shapes)
        items = self._items
        new = len(shapes) - len(items) if self._target is None else None
        if new is not None and new <= SLICE_MIN and len(shapes) <= len(items) + SLICE_MIN:
            # the usual edit: at most a few new shapes (counted exactly only when it matters)
            missing = sum(1 for s in shapes if s.uid not in items) if new > 0 else 0
            if missing <= SLICE_MIN:
                self._sync_now(shapes, labels)
                return
        self._target = (shapes, labels)
        self._prefix = False  # not known yet whether the built shapes are the target's first ones
        self._build_step()

    def finish_building(self) -> None:
        """Build what is left now, in one go."""
        if self._target is not None:
            shapes, labels = self._target
            self._target = None
            self._prefix = False
            self._build_timer.stop()
            self._sync_now(shapes, labels)

    def _build_step(self) -> None:
        """One slice: the shapes built so far, updated, and the next ones bottom to top."""
        if self._target is None:
            self._build_timer.stop()
            return
        shapes, labels = self._target
        items = self._items
        t0 = time.perf_counter()
        if self._prefix and self._synced_state is not None and self._synced_state == (
                self._style_state(labels), frozenset(self.selected)):
            self._append_slice(shapes, labels)  # the usual slice: only the next shapes are touched
        else:  # after an edit: the built shapes brought up to date, and the lowest ones missing
            todo = [i for i, s in enumerate(shapes) if s.uid not in items]
            if len(todo) <= self._slice_n:
                self.finish_building()
                self.slices += 1
                return
            take = set(todo[: self._slice_n])
            self._sync_now([s for i, s in enumerate(shapes) if i in take or s.uid in items], labels)
            synced = self._synced_shapes
            self._prefix = len(synced) <= len(shapes) and all(map(is_, synced, shapes))
        ms = (time.perf_counter() - t0) * 1e3
        self.slices += 1
        if self._target is None:
            return
        # the next slice sized to about SLICE_MS of work from this one's cost
        self._slice_n = int(max(8, min(4 * self._slice_n, 4096, self._slice_n * SLICE_MS / max(ms, 0.5))))
        if not self._build_timer.isActive():
            self._build_timer.start()

    def _append_slice(self, shapes: list, labels) -> None:
        """Items for the next :attr:`_slice_n` shapes of ``shapes``, whose first ones are
        built and up to date (nothing else is looked at)."""
        k = len(self._synced_shapes)
        new = shapes[k: k + self._slice_n]
        color = self._colors(labels)
        hidden = frozenset(self.hidden_labels)
        items, known, zs, geometry, applied = self._items, self._shapes, self._z, self._geometry, self._applied
        created = self._created = []
        for z, shape in enumerate(new, k):
            uid = shape.uid
            geom = geometry[uid] = shape_geometry(shape)
            item = items[uid] = ShapeItem(uid, geom.parts, color(shape.label, shape.group_id)[0], self.opacity, self.raster.bucket)
            applied.pop(uid, None)
            created.append(item)
            known[uid] = shape
            zs[uid] = z
            item.setZValue(10 + z * 1e-4)
            self._apply(uid, item, shape, color, hidden)
        self._created = []
        self.order = self.order + [s.uid for s in new]  # a new list, as every sync gives
        self._synced_shapes = shapes[: k + len(new)]
        self._index = None
        last = k + len(new) >= len(shapes)
        now = time.perf_counter()
        show = last or now - self._shown_at >= SHOW_EVERY_S  # a paint per slice would cost more than it shows
        if show:
            self._shown_at = now
        self.raster.append_items(created, update=show)
        if last:
            self._target = None
            self._prefix = False
            self._build_timer.stop()

    def _sync_now(self, shapes: list, labels) -> None:
        """Make the items match ``shapes`` (bottom to top), all of them now."""
        seen = set()
        color = self._colors(labels)
        shapes = list(shapes)
        prev = self._synced_shapes
        # A vertex drag replaces one shape object: find the replaced positions by identity in
        # C-level loops (no Python per shape), and skip rebuilding the uid order when each
        # replaced shape keeps its uid.
        changed = None
        if len(prev) == len(shapes):
            changed = list(compress(range(len(shapes)), map(is_not, prev, shapes)))
            if any(shapes[i].uid != prev[i].uid for i in changed):
                changed = None
        order = self.order if changed is not None else list(map(attrgetter("uid"), shapes))
        reordered = order != self.order
        if reordered:
            self._index = None
        items, known, zs, apply = self._items, self._shapes, self._z, self._apply
        created = self._created = []
        # Between two syncs with the same label colours, opacity, hidden labels and selection,
        # an unchanged shape needs no restyle.
        style = self._style_state(labels)
        hidden = style[2]
        state = (style, frozenset(self.selected))
        same_style = state == self._synced_state
        todo = enumerate(shapes)
        if same_style and not reordered:  # an edit (a vertex drag): only the changed shapes
            if changed is None:
                changed = [z for z, s in enumerate(shapes) if known.get(s.uid) is not s]
            todo = [(z, shapes[z]) for z in changed]
            seen = set(order)
        for z, shape in todo:
            uid = shape.uid
            seen.add(uid)
            item = items.get(uid)
            if same_style and item is not None and known.get(uid) is shape and zs.get(uid) == z:
                continue
            if item is None or known.get(uid) is not shape:
                geom = shape_geometry(shape)
                self._geometry[uid] = geom
                if item is None:
                    item = ShapeItem(uid, geom.parts, color(shape.label, shape.group_id)[0], self.opacity, self.raster.bucket)
                    items[uid] = item
                    self._applied.pop(uid, None)
                    created.append(item)
                else:
                    if not item.is_selected_style():
                        self.raster.invalidate(item.data_rect())  # where it was
                    item.set_parts(geom.parts)
                    if not item.is_selected_style():
                        self.raster.invalidate(item.data_rect())  # where it is
                    self.raster.geometry_changed()
                known[uid] = shape
                self._index = None
            if zs.get(uid) != z:
                zs[uid] = z
                item.setZValue(10 + z * 1e-4)
            apply(uid, item, shape, color, hidden)
        if len(seen) != len(items):
            for uid in [u for u in items if u not in seen]:
                gone = items.pop(uid)
                if gone.scene() is not None:
                    self._scene.removeItem(gone)
                else:
                    self.raster.invalidate(gone.data_rect())
                for d in (known, self._geometry, zs, self._applied):
                    d.pop(uid, None)
            self._index = None
            reordered = True
        self.selected &= seen
        self.order = order
        self._synced_shapes = shapes
        self._created = []
        raster = self.raster
        if reordered or len(raster.items) != len(order):
            now = [items[u] for u in order]
            old = raster.items
            n = len(old)
            if created and len(now) == n + len(created) and all(map(is_, old, now)):
                raster.append_items(now[n:])  # new ones on top: drawn over what is shown
            else:
                raster.set_items(now)
        elif created:
            for item in created:
                raster.invalidate(item.data_rect())
        self._styled_selection = frozenset(self.selected)
        self._synced_state = (style, self._styled_selection)

    def restyle(self, labels) -> None:
        """Bring colours, selection and visibility up to date (unchanged items are not touched).

        When only the selection changed since the last pass (a click), only the items whose
        selection changed are looked at, not the whole layer.
        """
        color = self._colors(labels)
        style = self._style_state(labels)
        selected = frozenset(self.selected)
        if self._synced_state is not None and self._synced_state[0] == style:
            uids = (selected ^ self._styled_selection) & self._items.keys()
        else:
            uids = self._items.keys()
        hidden = style[2]
        for uid in list(uids):
            self._apply(uid, self._items[uid], self._shapes[uid], color, hidden)
        self._styled_selection = selected
        self._synced_state = (style, selected)

    def shape_at(self, x: float, y: float, tol: float = 0.0) -> str | None:
        """The topmost visible shape containing ``(x, y)`` or within ``tol`` of its outline."""
        if self._index is None:
            uids = self.visible_uids()
            rings = [self._items[u].rings for u in uids]  # every ring of every part
            self._index = (uids, ShapeIndex(rings, [self._items[u].bounds() for u in uids]))
        uids, index = self._index
        i = index.shape_at(x, y, tol)
        return None if i is None else uids[i]

    def clear(self) -> None:
        self._target = None
        self._build_timer.stop()
        self.slices = 0
        for item in self._items.values():
            if item.scene() is not None:
                self._scene.removeItem(item)
        self.raster.set_items([])
        self._items.clear()
        self._shapes.clear()
        self._geometry.clear()
        self._z.clear()
        self._applied.clear()
        self._synced_state = None
        self._styled_selection = frozenset()
        self._synced_shapes = []
        self.order = []
        self.selected = set()
        self._index = None
