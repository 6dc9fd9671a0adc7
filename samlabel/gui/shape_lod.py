"""Drawing dense outlines fast: bulk path building, per-zoom level of detail, a hairline pen.

SAM outlines have hundreds of vertices and an image may hold thousands of shapes. What the
canvas *draws* is a simplified copy per zoom bucket; the document is never touched (every
vertex stays, is hit-tested, edited and exported).

* :func:`path_from_rings` builds a ``QPainterPath`` from numpy rings in bulk: each ring's
  ``QPolygonF`` is sized once and its point buffer filled by one ``memmove`` (checked once
  at import; the polygon's ``QDataStream`` form is the fallback), not one ``QPointF`` per
  vertex (no Python per vertex; docs/performance.md, "Dense canvas", "bulk path building").
* :func:`zoom_bucket` / :func:`bucket_tolerance`: zoom is bucketed by powers of two; the
  tolerance of a bucket is half a screen pixel at the bucket's largest zoom, so the drawn
  outline is never more than half a pixel off anywhere in the bucket.
* :class:`DenseShapeItem` is a plain ``QGraphicsPathItem`` whose path is the outline
  simplified for the view's zoom bucket (``cv2.approxPolyDP``, Douglas-Peucker), cached per
  bucket; unselected outlines use a cosmetic 0-width (1 px) pen, which keeps Qt's raster
  engine on its fast path. Only a selected shape's item is in the scene (Qt paints it, with
  its vertex handles: a child :class:`HandlesItem` drawn with two bulk ``drawPoints`` calls,
  only as large as the vertices are apart on screen).

:class:`~samlabel.gui.shape_raster.ShapeRaster` draws every other visible shape (each item's
``drawn_path``, ``draw_pen``, ``draw_brush``) into one viewport-sized pixmap.
"""

from __future__ import annotations

import ctypes
import math

import cv2
import numpy as np
import shiboken6
from PySide6.QtCore import QByteArray, QDataStream, QIODevice, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

Z_SHAPES = 10.0
FULL_DETAIL_BUCKET = 3  # at zoom > 4 every vertex is drawn
HANDLE_PX = 7.0  # the largest handle, screen pixels
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
