"""Drawing dense outlines fast: bulk path building, per-zoom level of detail, a hairline pen.

SAM outlines have hundreds of vertices and an image may hold thousands of shapes. What the
canvas *draws* is a simplified copy per zoom bucket; the document is never touched (every
vertex stays, is hit-tested, edited and exported).

* :func:`path_from_rings` builds a ``QPainterPath`` from numpy rings in bulk: each ring's
  ``QPolygonF`` is sized once and its point buffer filled by one ``memmove`` (checked once
  at import; the polygon's ``QDataStream`` form is the fallback), not one ``QPointF`` per
  vertex (about 10x faster for 400 vertices).
* :func:`zoom_bucket` / :func:`bucket_tolerance`: zoom is bucketed by powers of two; the
  tolerance of a bucket is half a screen pixel at the bucket's largest zoom, so the drawn
  outline is never more than half a pixel off anywhere in the bucket.
* :class:`DenseShapeItem` is a plain ``QGraphicsPathItem`` whose path is the outline
  simplified for the view's zoom bucket (``cv2.approxPolyDP``, Douglas-Peucker), cached per
  bucket; unselected outlines use a cosmetic 0-width (1 px) pen, which keeps Qt's raster
  engine on its fast path. Only a selected shape's item is in the scene (Qt paints it, with
  its vertex handles: a child :class:`HandlesItem` drawn with two bulk ``drawPoints`` calls,
  only as large as the vertices are apart on screen).
* :class:`ShapeRaster` draws every other visible shape into one viewport-sized pixmap, kept
  across repaints and updated piecemeal (pan strips, dirty boxes, antialiasing in bands at
  rest), so a repaint is one blit however many shapes there are.
"""

from __future__ import annotations

import ctypes
import math

import cv2
import numpy as np
import shiboken6
from PySide6.QtCore import QByteArray, QDataStream, QIODevice, QPointF, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPixmap, QPolygonF, QRegion, QTransform
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

Z_SHAPES = 10.0
FULL_DETAIL_BUCKET = 3  # at zoom > 4 every vertex is drawn
HANDLE_PX = 7.0  # the largest handle, screen pixels
REFINE_MS = 8.0  # at rest, antialiasing comes back in bands of about this much work each
MIN_HANDLE_PX = 3.0

def _ring(ring) -> np.ndarray:
    return np.asarray(ring, dtype=np.float64).reshape(-1, 2)


def _polygon_by_copy(pts: np.ndarray) -> QPolygonF:
    """``QPolygonF`` sized to ``pts``, its ``QPointF`` buffer filled by one memmove."""
    poly = QPolygonF()
    poly.resize(len(pts))
    if len(pts):
        addr = shiboken6.getCppPointer(poly.data())[0]  # &poly[0]: QPointF is two doubles
        ctypes.memmove(addr, pts.ctypes.data, pts.nbytes)
    return poly


def _polygon_by_stream(pts: np.ndarray) -> QPolygonF:
    """The portable way: the polygon's ``QDataStream`` form, written by numpy."""
    data = np.array([len(pts)], ">u4").tobytes() + pts.astype(">f8").tobytes()
    poly = QPolygonF()
    buf = QByteArray(data)  # kept alive while the stream reads it
    stream = QDataStream(buf, QIODevice.OpenModeFlag.ReadOnly)
    stream >> poly
    return poly


def _copy_works() -> bool:
    probe = np.array([[1.5, -2.25], [3.0, 4.0], [1e6, 7.125]])
    try:
        poly = _polygon_by_copy(probe)
        return poly.size() == 3 and [(p.x(), p.y()) for p in poly] == [tuple(r) for r in probe.tolist()]
    except Exception:  # noqa: BLE001 - a binding without data(): use the stream
        return False


_BULK_COPY = _copy_works()


def polygon_from_points(points) -> QPolygonF:
    """A ``QPolygonF`` from an ``(N, 2)`` array in bulk (no ``QPointF`` per vertex)."""
    pts = np.ascontiguousarray(_ring(points), dtype=np.float64)
    return _polygon_by_copy(pts) if _BULK_COPY else _polygon_by_stream(pts)


def path_from_rings(rings, fill_rule=Qt.FillRule.OddEvenFill) -> QPainterPath:
    """One path of closed subpaths, one per ring of at least 2 points, built in bulk."""
    path = QPainterPath()
    path.setFillRule(fill_rule)
    for r in rings:
        r = _ring(r)
        if len(r) >= 2:
            path.addPolygon(polygon_from_points(r))
            path.closeSubpath()
    return path


def zoom_bucket(zoom: float) -> int:
    """``ceil(log2(zoom))``: zooms in ``(2**(b-1), 2**b]`` share bucket ``b``."""
    return int(math.ceil(math.log2(max(zoom, 1e-6)) - 1e-9))


def bucket_tolerance(bucket: int) -> float:
    """Image pixels: half a screen pixel at the bucket's largest zoom ``2**bucket``."""
    return 0.5 / (2.0 ** bucket)


def simplify_ring(ring, tolerance: float) -> np.ndarray:
    """Douglas-Peucker at ``tolerance`` image pixels; never fewer than 3 points (or the ring)."""
    pts = _ring(ring)
    if len(pts) <= 3 or tolerance <= 0:
        return pts
    out = cv2.approxPolyDP(pts.astype(np.float32).reshape(-1, 1, 2), float(tolerance), True).reshape(-1, 2)
    if len(out) < 3:
        return pts[np.linspace(0, len(pts) - 1, 3).astype(int)]
    return out.astype(np.float64)


def lod_rings(rings, zoom: float) -> list[np.ndarray]:
    """The rings as drawn at ``zoom`` (every vertex past :data:`FULL_DETAIL_BUCKET`)."""
    b = zoom_bucket(zoom)
    if b > FULL_DETAIL_BUCKET:
        return [_ring(r) for r in rings]
    tol = bucket_tolerance(b)
    return [simplify_ring(r, tol) for r in rings]


def _screen_scale(painter: QPainter) -> float:
    t = painter.worldTransform()
    return max(1e-6, float(math.hypot(t.m11(), t.m12())))


def scene_bucket(scene) -> int:
    """The level-of-detail bucket of the scene's (first) view; full detail without a view."""
    views = scene.views() if scene is not None else []
    return getattr(views[0], "lod_bucket", FULL_DETAIL_BUCKET + 1) if views else FULL_DETAIL_BUCKET + 1


_STYLES: dict[tuple, tuple[QPen, QBrush]] = {}


def _style(rgba: int, opacity: float, selected: bool) -> tuple[QPen, QBrush]:
    """The pen and brush of a style, one pair per style: shapes of a label share them, so the
    raster sets them only when they change from one shape to the next."""
    key = (rgba, opacity, selected)
    hit = _STYLES.get(key)
    if hit is None:
        color = QColor.fromRgba(rgba)
        fill = QColor(color)
        fill.setAlphaF(min(1.0, opacity * (1.3 if selected else 0.8)))
        if selected:
            pen = QPen(QColor("white"), 2.5)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        else:
            pen = QPen(color.darker(110), 0)  # hairline: Qt's fast path
        pen.setCosmetic(True)
        hit = _STYLES[key] = (pen, QBrush(fill))
        if len(_STYLES) > 4096:  # colours edited many times: start again
            _STYLES.clear()
            _STYLES[key] = hit
    return hit


class HandlesItem(QGraphicsItem):
    """The vertex handles of a selected shape (a child of its :class:`DenseShapeItem`)."""

    def __init__(self, parent: "DenseShapeItem") -> None:
        super().__init__(parent)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self.parentItem().data_rect().adjusted(-20, -20, 20, 20)

    def paint(self, painter: QPainter, option, widget=None) -> None:  # noqa: D102
        self.parentItem().paint_handles(painter, _screen_scale(painter))


class DenseShapeItem(QGraphicsPathItem):
    """One accepted shape; ``rings`` are the ``(N, 2)`` arrays of the document (every vertex).

    Its path is the simplified outline of the current zoom bucket, which the canvas switches
    with :meth:`set_bucket` when the zoom crosses a power of two (``drawn_path``, ``draw_pen``
    and ``draw_brush`` are what :class:`ShapeRaster` draws it with). The full outline is
    :meth:`full_path`. Qt paints it only while it is selected (then it is a scene item).
    """

    def __init__(self, shape_id, parts, color: QColor, opacity: float, bucket: int | None = None) -> None:
        super().__init__()
        self.shape_id = shape_id
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._color = QColor(color)
        self._opacity = opacity
        self._selected = False
        self._style_key = None
        self._handles: HandlesItem | None = None
        self.rings: list[np.ndarray] = []
        self._lod: dict[int, QPainterPath] = {}
        self._rect = QRectF()
        self._spacing: float | None = None  # mean distance between vertices, image px (on demand)
        self.bucket = bucket  # None: no path until the item gets a bucket (or a scene)
        self.draw_pen = QPen()
        self.draw_brush = QBrush()
        self.drawn_path = QPainterPath()
        self.shown = True  # visible (its label not hidden): what the raster checks
        self.restyles = 0  # how many times the style was really changed (tests count it)
        self.set_parts(parts)
        self._restyle()

    # ---------------------------------------------------------------- geometry
    def set_parts(self, parts) -> None:
        self.rings = [_ring(r) for e, holes in parts for r in (e, *holes)]
        self._lod = {}
        nonempty = [r for r in self.rings if len(r)]
        if nonempty:
            allpts = np.concatenate(nonempty)
            x0, y0 = allpts.min(axis=0)
            x1, y1 = allpts.max(axis=0)
            self._rect = QRectF(float(x0), float(y0), float(x1 - x0), float(y1 - y0))
            self._bounds = (float(x0), float(y0), float(x1), float(y1))
        else:
            self._rect = QRectF()
            self._bounds = (np.nan, np.nan, np.nan, np.nan)
        self._spacing = None
        if self._handles is not None:
            self._handles.prepareGeometryChange()
        bucket = self.bucket
        if bucket is None and self.scene() is not None:
            bucket = scene_bucket(self.scene())
        if bucket is None:  # the path is set when the item gets a bucket
            self.drawn_path = QPainterPath()
            self.setPath(self.drawn_path)
        else:
            self.set_bucket(bucket, force=True)

    def set_bucket(self, bucket: int, force: bool = False) -> None:
        """Draw the outline simplified for zoom bucket ``bucket`` (see :func:`zoom_bucket`)."""
        bucket = min(bucket, FULL_DETAIL_BUCKET + 1)
        if bucket != self.bucket or force:
            self.bucket = bucket
            self.drawn_path = self.lod_path(2.0 ** bucket)  # kept: the raster draws it without a copy
            self.setPath(self.drawn_path)

    @property
    def spacing(self) -> float:
        """Mean distance between consecutive vertices, image px (for the handles' size)."""
        if self._spacing is None:
            rings = [r for r in self.rings if len(r) > 1]
            lengths = [np.hypot(*np.diff(r, axis=0).T).sum() for r in rings]
            self._spacing = float(sum(lengths) / max(1, sum(len(r) for r in rings)))
        return self._spacing

    def lod_path(self, zoom: float) -> QPainterPath:
        """The outline as drawn at ``zoom`` (cached per zoom bucket)."""
        b = min(zoom_bucket(zoom), FULL_DETAIL_BUCKET + 1)
        path = self._lod.get(b)
        if path is None:
            path = self._lod[b] = path_from_rings(lod_rings(self.rings, 2.0 ** b))
        return path

    def full_path(self) -> QPainterPath:
        """Every vertex (what the document holds)."""
        return self.lod_path(2.0 ** (FULL_DETAIL_BUCKET + 1))

    def data_rect(self) -> QRectF:
        return QRectF(self._rect)

    def bounds(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` over every vertex (NaN when there are none)."""
        return self._bounds

    # ------------------------------------------------------------------- style
    def set_style(self, color: QColor, opacity: float, selected: bool) -> bool:
        """Apply the style; False (and nothing repainted) when it is what is shown already."""
        key = (QColor(color).rgba(), float(opacity), bool(selected))
        if key == self._style_key:
            return False
        self._color, self._opacity, self._selected = QColor(color), opacity, selected
        self._restyle()
        return True

    def is_selected_style(self) -> bool:
        return self._selected

    def _restyle(self) -> None:
        self._style_key = (self._color.rgba(), float(self._opacity), bool(self._selected))
        self.restyles += 1
        pen, brush = _style(self._color.rgba(), float(self._opacity), bool(self._selected))
        self.setBrush(brush)
        self.setPen(pen)
        self.draw_pen, self.draw_brush = pen, brush  # what ShapeRaster draws with (shared per style)
        if self._selected and self._handles is None:
            self._handles = HandlesItem(self)
        elif not self._selected and self._handles is not None:
            self._handles.setParentItem(None)
            if self._handles.scene() is not None:
                self._handles.scene().removeItem(self._handles)
            self._handles = None

    # ------------------------------------------------------------------- paint
    def paint_handles(self, painter: QPainter, zoom: float) -> None:
        """Square handles at every vertex, as large as the vertices are apart on screen."""
        size = min(HANDLE_PX, self.spacing * zoom)
        if size < MIN_HANDLE_PX:
            size = MIN_HANDLE_PX
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        pts = polygon_from_points(np.concatenate(self.rings) if self.rings else np.zeros((0, 2)))
        outer = QPen(self._color.darker(150), size, Qt.PenStyle.SolidLine, Qt.PenCapStyle.SquareCap)
        outer.setCosmetic(True)
        painter.setPen(outer)
        painter.drawPoints(pts)
        if size >= 4:
            inner = QPen(QColor("white"), size - 2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.SquareCap)
            inner.setCosmetic(True)
            painter.setPen(inner)
            painter.drawPoints(pts)


class ShapeRaster(QGraphicsItem):
    """Every visible, unselected shape item, painted into one pixmap the size of the viewport.

    Qt then draws one item instead of thousands: a repaint at rest, a hover mask moving over
    the shapes or a selected shape being dragged blit this pixmap. The pixmap is drawn again

    * whole, when the view's scale, rotation or size changed (a zoom);
    * in strips, when the view was only shifted by whole pixels (a pan): the old pixmap is
      moved and only the uncovered strips are drawn;
    * in the dirty rectangles (:meth:`invalidate`) of shapes that changed, appeared, went or
      were (de)selected: only the shapes whose box meets such a rectangle are drawn there;
    * in bands, when the view came to rest (:meth:`set_antialiased`): what was drawn
      without antialiasing while moving (the region ``rough``) is drawn again with it, one
      band per event-loop turn, each band sized to about :data:`REFINE_MS` of work, so
      input is never held up for long.

    Selected shapes are not drawn here: they are in the scene themselves, above this item,
    with their vertex handles. ``items`` are the shape items bottom to top (the layer's
    order); each is drawn with its ``draw_pen``, ``draw_brush`` and current ``path()`` (the
    outline of the view's level-of-detail bucket).
    """

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_SHAPES - 0.5)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.items: list[DenseShapeItem] = []
        self.bucket = FULL_DETAIL_BUCKET + 1  # the view's level-of-detail bucket
        self._boxes: np.ndarray | None = None  # (n, 4) x0, y0, x1, y1 of ``items``
        self._pix: QPixmap | None = None
        self._key = None  # (m11, m12, m21, m22, w, h, dpr) the pixmap was drawn at
        self._origin = (0.0, 0.0)  # the transform's translation it was drawn at
        self._t = QTransform()  # the transform the pixmap is drawn at
        self._rough = QRegion()  # device area drawn without antialiasing
        self._refine_on = False
        self._band_h = 16  # rows of the first band; then sized by the cost of the last one
        self._timer = QTimer()
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._refine_step)
        self.band_ms: list[float] = []  # the refinement's band times (benchmark)
        self._full = True
        self._dirty: list[QRectF] = []  # scene rectangles to draw again
        self.renders = {"full": 0, "shift": 0, "dirty": 0}  # what the paints did (tests, benchmark)

    def boundingRect(self) -> QRectF:  # noqa: N802 - the whole scene: it draws what is on screen
        return QRectF(-1e6, -1e6, 2e6, 2e6)

    # ----------------------------------------------------------- what changed
    def set_items(self, items) -> None:
        """The shape items, bottom to top; everything is drawn again."""
        self.items = list(items)
        self._boxes = None
        self.invalidate_all()

    def geometry_changed(self) -> None:
        """Some item's outline changed: the boxes used to find the shapes in a rectangle."""
        self._boxes = None

    def invalidate(self, rect: QRectF) -> None:
        """Draw the shapes in scene rectangle ``rect`` again at the next paint."""
        if not rect.isValid() and not (rect.width() >= 0 and rect.height() >= 0):
            return
        self._dirty.append(QRectF(rect))
        self.update()

    def invalidate_all(self) -> None:
        self._full = True
        self._dirty.clear()
        self.update()

    def set_antialiased(self, on: bool) -> None:
        """``True`` at rest: what was drawn without antialiasing is drawn again with it, in
        bands over the next event-loop turns. ``False`` (moving): stop that."""
        self._refine_on = on
        self.band_ms = []
        if on and self._pix is not None and not self._rough.isEmpty():
            self._timer.start()
        else:
            self._timer.stop()

    @property
    def antialiased(self) -> bool:
        """Whether all of the pixmap is drawn with antialiasing."""
        return self._pix is not None and self._rough.isEmpty()

    def _refine_step(self) -> None:
        """One band of the rough region drawn again with antialiasing."""
        if self._pix is None or self._rough.isEmpty() or not self._refine_on:
            self._timer.stop()
            return
        import time

        top = self._rough.boundingRect()
        band = QRect(top.left(), top.top(), top.width(), max(8, min(self._band_h, top.height())))
        piece = self._rough.intersected(band)
        t0 = time.perf_counter()
        self._draw(self._pix, self._t, list(piece), True)
        ms = (time.perf_counter() - t0) * 1e3
        self.band_ms.append(ms)
        # the next band sized to about REFINE_MS of work, from this one's cost per row
        self._band_h = int(max(8, min(2 * band.height(), 2048, band.height() * REFINE_MS / max(ms, 0.5))))
        self._rough = self._rough.subtracted(band)
        inv, ok = self._t.inverted()
        if ok:
            self.update(inv.mapRect(QRectF(band)).adjusted(-1, -1, 1, 1))
        if self._rough.isEmpty():
            self._timer.stop()

    # ------------------------------------------------------------------ paint
    def _box_array(self) -> np.ndarray:
        if self._boxes is None or len(self._boxes) != len(self.items):
            self._boxes = np.array([it.bounds() for it in self.items], dtype=np.float64).reshape(-1, 4)
        return self._boxes

    def _draw(self, pix: QPixmap, t: QTransform, rects: list[QRect] | None, aa: bool) -> None:
        """Draw the shapes into ``pix`` (device rectangles ``rects`` only; None: all of it)."""
        w, h = pix.width() / pix.devicePixelRatio(), pix.height() / pix.devicePixelRatio()
        p = QPainter(pix)
        if rects is None:
            areas = [QRectF(0, 0, w, h)]
        else:
            region = QRegion()
            for r in rects:
                region = region.united(r)
            p.setClipRegion(region)
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            for r in rects:
                p.fillRect(r, Qt.GlobalColor.transparent)
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
            areas = [QRectF(r) for r in rects]
        inv, ok = t.inverted()
        if self.items and ok:
            b = self._box_array()
            hit = np.zeros(len(b), dtype=bool)
            with np.errstate(invalid="ignore"):
                for area in areas:  # each rectangle on its own: two strips are not their bounding box
                    s = inv.mapRect(area).adjusted(-1, -1, 1, 1)
                    hit |= ((b[:, 2] >= s.left()) & (b[:, 0] <= s.right())
                            & (b[:, 3] >= s.top()) & (b[:, 1] <= s.bottom()))
            p.setRenderHint(QPainter.RenderHint.Antialiasing, aa)
            p.setTransform(t)
            items = self.items
            set_pen, set_brush, draw = p.setPen, p.setBrush, p.drawPath
            pen = brush = None
            for i in np.flatnonzero(hit).tolist():
                it = items[i]
                if it._selected or not it.shown:
                    continue
                if it.draw_pen is not pen:
                    pen = it.draw_pen
                    set_pen(pen)
                if it.draw_brush is not brush:
                    brush = it.draw_brush
                    set_brush(brush)
                draw(it.drawn_path)
        p.end()

    def paint(self, painter: QPainter, option, widget=None) -> None:  # noqa: D102
        t = painter.worldTransform()
        dev = painter.device()
        dpr = float(dev.devicePixelRatioF()) if hasattr(dev, "devicePixelRatioF") else 1.0
        w, h = dev.width(), dev.height()
        if w <= 0 or h <= 0:
            return
        key = (t.m11(), t.m12(), t.m21(), t.m22(), w, h, dpr)
        full = self._full or self._pix is None or key != self._key
        aa = painter.testRenderHint(QPainter.RenderHint.Antialiasing)
        if not full and (t.dx(), t.dy()) != self._origin:
            ddx, ddy = t.dx() - self._origin[0], t.dy() - self._origin[1]
            if (abs(ddx - round(ddx)) < 1e-6 and abs(ddy - round(ddy)) < 1e-6
                    and abs(ddx) < w and abs(ddy) < h):
                self._shift(int(round(ddx)), int(round(ddy)), w, h, dpr, t, aa)
            else:
                full = True
        if full:
            pix = QPixmap(int(math.ceil(w * dpr)), int(math.ceil(h * dpr)))
            pix.setDevicePixelRatio(dpr)
            pix.fill(Qt.GlobalColor.transparent)
            self._draw(pix, t, None, aa)
            self._pix, self._key, self._origin, self._t, self._full = pix, key, (t.dx(), t.dy()), QTransform(t), False
            self._rough = QRegion() if aa else QRegion(0, 0, w, h)
            self._dirty.clear()
            self.renders["full"] += 1
        elif self._dirty:
            rects = self._dirty_rects(t, w, h)
            if rects:
                self._draw(self._pix, t, rects, aa)
                self._mark(rects, aa)
                self.renders["dirty"] += 1
        painter.save()
        painter.resetTransform()
        painter.drawPixmap(QPointF(0, 0), self._pix)
        painter.restore()

    def _dirty_rects(self, t: QTransform, w: int, h: int) -> list[QRect]:
        """The dirty scene rectangles on the device (with a margin for pens), then forgotten."""
        bounds = QRect(0, 0, w, h)
        rects = []
        for r in self._dirty:
            d = t.mapRect(r).toAlignedRect().adjusted(-3, -3, 3, 3).intersected(bounds)
            if not d.isEmpty():
                rects.append(d)
        self._dirty.clear()
        return rects

    def _mark(self, rects: list[QRect], aa: bool) -> None:
        """Rectangles just drawn: rough (to refine at rest) unless drawn antialiased."""
        for r in rects:
            self._rough = self._rough.united(r) if not aa else self._rough.subtracted(r)

    def _shift(self, dx: int, dy: int, w: int, h: int, dpr: float, t: QTransform, aa: bool) -> None:
        """The view moved by whole pixels: move the pixmap, draw the uncovered strips."""
        old = self._pix
        pix = QPixmap(old.size())
        pix.setDevicePixelRatio(dpr)
        pix.fill(Qt.GlobalColor.transparent)
        p = QPainter(pix)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        p.drawPixmap(QPointF(dx, dy), old)
        p.end()
        rects = []
        if dx > 0:
            rects.append(QRect(0, 0, dx, h))
        elif dx < 0:
            rects.append(QRect(w + dx, 0, -dx, h))
        if dy > 0:
            rects.append(QRect(0, 0, w, dy))
        elif dy < 0:
            rects.append(QRect(0, h + dy, w, -dy))
        rects += self._dirty_rects(t, w, h)  # changed shapes, drawn with the strips
        self._draw(pix, t, rects, aa)
        self._rough.translate(dx, dy)
        self._rough = self._rough.intersected(QRect(0, 0, w, h))
        self._mark(rects, aa)
        self._pix, self._origin, self._t = pix, (t.dx(), t.dy()), QTransform(t)
        self.renders["shift"] += 1
