"""Graphics items drawn over the image: the live mask, accepted shapes, prompt markers.

Rendering touches only what changed:

- :class:`MaskOverlayItem` shows one boolean mask that covers a *region* of the image at
  the resolution it is displayed at (what ``Prediction.mask(region=..., out_size=...)``
  returns). Only the mask's box becomes a picture (each pixel 0 or the label colour in
  premultiplied ARGB, one vectorised multiply), drawn 1:1 in screen pixels or scaled into
  its part of the region.
- Accepted shapes are drawn by ``shape_lod.DenseShapeItem`` (level-of-detail paths).
- :class:`PromptItem` draws the clicked points and the box; :class:`DraftItem` the polygon
  or rubber band being drawn. Markers keep their screen size at any zoom.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem

from samlabel.gui.mask_render import mask_bbox

_UNKNOWN = object()  # set_mask's bbox not given

Z_SHAPES = 10
Z_MASK = 20
Z_PROMPT = 30
Z_DRAFT = 40


def _screen_scale(painter: QPainter) -> float:
    t = painter.worldTransform()
    return max(1e-6, float(np.hypot(t.m11(), t.m12())))


def premultiplied(color: QColor, alpha: int) -> int:
    """``color`` at ``alpha`` as Qt stores it in ``Format_ARGB32_Premultiplied`` (``0xAARRGGBB``)."""
    px = QImage(1, 1, QImage.Format.Format_ARGB32)
    px.fill(QColor(color.red(), color.green(), color.blue(), alpha))
    px = px.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    return int(np.frombuffer(px.constBits(), np.uint32, count=1)[0])


def mask_picture(mask: np.ndarray, bbox: tuple[int, int, int, int], pixel: int) -> QImage:
    """The ``bbox`` ``(c0, r0, c1, r1)`` part of ``(h, w)`` ``mask`` as an ARGB32
    premultiplied QImage: ``pixel`` where the mask is set, transparent elsewhere.

    The QImage shares the numpy buffer, kept alive by the returned object's ``_keep``.
    """
    c0, r0, c1, r1 = bbox
    part = mask[r0:r1, c0:c1]
    flags = part.view(np.uint8) if part.dtype == np.bool_ else (part != 0).view(np.uint8)
    data = np.multiply(flags, np.uint32(pixel), dtype=np.uint32)  # (h, w), C-contiguous; 0 or pixel
    h, w = data.shape
    img = QImage(data.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
    img._keep = data  # type: ignore[attr-defined]  # the buffer must outlive the QImage
    return img


class MaskOverlayItem(QGraphicsItem):
    """The live prediction: a mask for ``region`` drawn in a label colour."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_MASK)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._picture: QImage | None = None  # the mask's box (see mask_picture)
        self._bbox: tuple[int, int, int, int] | None = None  # that box, mask pixels
        self._mask: np.ndarray | None = None
        self._rect = QRectF()
        self._dirty = QRectF()  # the shown mask's box (item coordinates)
        self._color = QColor(30, 144, 255)
        self._opacity = 0.5
        self.generation = 0  # bumped on every new mask (tests, latency probes)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    @property
    def has_mask(self) -> bool:
        return self._mask is not None

    @property
    def mask(self) -> np.ndarray | None:
        return self._mask

    @property
    def picture(self) -> QImage | None:
        """What is drawn: the mask's box, coloured (None when no pixel is set)."""
        return self._picture

    @property
    def region(self) -> QRectF:
        return QRectF(self._rect)

    def set_mask(self, mask: np.ndarray, region: Sequence[int], color: QColor | None = None,
                 bbox: tuple[int, int, int, int] | None | object = _UNKNOWN) -> None:
        """Show ``mask`` ``(h, w)`` bool stretched over ``region`` ``(x0, y0, x1, y1)``.

        ``bbox``: ``mask_bbox(mask)`` if the caller has it (``None``: no true pixel). When the
        region and colour stay, only the union of the old and new masks' boxes is repainted.
        """
        if bbox is _UNKNOWN:
            bbox = mask_bbox(mask)
        recolour = color is not None and QColor(color) != self._color
        if color is not None:
            self._color = QColor(color)
        x0, y0, x1, y1 = (float(v) for v in region)
        rect = QRectF(x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))
        old_dirty = self._dirty
        same_place = self._mask is not None and rect == self._rect and not recolour
        if not same_place:
            self.prepareGeometryChange()  # the scene repaints the old bounding rect
        old = QRectF(self._rect)
        self._mask = mask
        self._rect = rect
        self._bbox = None if bbox is None else tuple(int(v) for v in bbox)
        self._picture = self._make_picture()
        self._dirty = self._repaint_rect()
        self.generation += 1
        if same_place:
            dirty = old_dirty.united(self._dirty)
            if not dirty.isNull():  # (a null rect would repaint the whole item)
                self.update(dirty)
        else:
            self.update(old.united(self._rect))

    def _box_in_item(self) -> tuple[QRectF, float, float]:
        """The mask's box in item coordinates, and the item size of one mask pixel (sx, sy)."""
        h, w = self._mask.shape[:2]
        sx, sy = self._rect.width() / max(1, w), self._rect.height() / max(1, h)
        c0, r0, c1, r1 = self._bbox
        return QRectF(self._rect.left() + c0 * sx, self._rect.top() + r0 * sy, (c1 - c0) * sx, (r1 - r0) * sy), sx, sy

    def _repaint_rect(self) -> QRectF:
        """The mask's box grown by a mask pixel (resampling, rounding); empty without one."""
        if self._bbox is None or self._rect.isEmpty():
            return QRectF()
        box, sx, sy = self._box_in_item()
        return box.adjusted(-sx - 1, -sy - 1, sx + 1, sy + 1).intersected(self._rect)

    @property
    def dirty_rect(self) -> QRectF:
        """Item-coordinate box of the shown mask's true pixels (what the next mask repaints)."""
        return QRectF(self._dirty)

    def clear(self) -> None:
        if self._mask is None:
            return
        self.prepareGeometryChange()
        self._mask = None
        self._picture = None
        self._bbox = None
        self._rect = QRectF()
        self._dirty = QRectF()
        self.generation += 1

    def set_color(self, color: QColor) -> None:
        self._color = QColor(color)
        self._recolour()

    def set_opacity(self, opacity: float) -> None:
        self._opacity = float(np.clip(opacity, 0.0, 1.0))
        self._recolour()

    def _alpha(self) -> int:
        return int(round(255 * self._opacity))

    def _make_picture(self) -> QImage | None:
        if self._mask is None or self._bbox is None:
            return None
        return mask_picture(self._mask, self._bbox, premultiplied(self._color, self._alpha()))

    def _recolour(self) -> None:
        if self._picture is not None:
            self._picture = self._make_picture()
            self.update()

    def paint(self, painter: QPainter, option, widget=None) -> None:  # noqa: D102
        if self._picture is None or self._rect.isEmpty():
            return
        h, w = self._mask.shape[:2]
        c0, r0 = self._bbox[:2]
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        t = painter.worldTransform()
        device = t.mapRect(self._rect)
        if (t.isScaling() or t.isTranslating()) and not t.isRotating() and \
                abs(device.width() - w) < 1.5 and abs(device.height() - h) < 1.5:
            # rendered at screen resolution: blit 1:1 in device pixels (no resampling)
            painter.save()
            painter.resetTransform()
            painter.drawImage(QPointF(round(device.left()) + c0, round(device.top()) + r0), self._picture)
            painter.restore()
        else:
            painter.drawImage(self._box_in_item()[0], self._picture)


class IndexOverlayItem(QGraphicsItem):
    """Many masks at once (segment-everything proposals): an Indexed8 image, one colour per index."""

    def __init__(self, opacity: float = 0.45) -> None:
        super().__init__()
        self.setZValue(Z_MASK - 1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._image: QImage | None = None
        self._rect = QRectF()
        self._alpha = int(255 * opacity)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self._rect

    @property
    def has_image(self) -> bool:
        return self._image is not None

    def set_index_image(self, index: np.ndarray, region) -> None:
        """``index`` ``(h, w)`` uint8: 0 transparent, k > 0 the k-th colour."""
        from samlabel.annotations.labels import default_color

        data = np.ascontiguousarray(index, dtype=np.uint8)
        h, w = data.shape
        img = QImage(data.data, w, h, w, QImage.Format.Format_Indexed8)
        table = [0x00000000] + [QColor(*default_color(k + 3), self._alpha).rgba() for k in range(255)]
        img.setColorTable(table)
        img._keep = data  # type: ignore[attr-defined]
        x0, y0, x1, y1 = (float(v) for v in region)
        self.prepareGeometryChange()
        self._image = img
        self._rect = QRectF(x0, y0, x1 - x0, y1 - y0)
        self.update()

    def clear(self) -> None:
        if self._image is None:
            return
        self.prepareGeometryChange()
        self._image = None
        self._rect = QRectF()

    def paint(self, painter: QPainter, option, widget=None) -> None:  # noqa: D102
        if self._image is not None:
            painter.drawImage(self._rect, self._image)


def polygon_path(parts: Iterable[tuple[np.ndarray, Sequence[np.ndarray]]]) -> QPainterPath:
    """A path of every part's exterior and holes, odd-even filled."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for exterior, holes in parts:
        for ring in (exterior, *holes):
            pts = np.asarray(ring, dtype=np.float64)
            if len(pts) >= 2:
                path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in pts]))
                path.closeSubpath()
    return path


class PromptItem(QGraphicsItem):
    """Clicked points (green positive, red negative) and the prompt box."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_PROMPT)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._points: list[tuple[float, float, int]] = []
        self._box: tuple[float, float, float, float] | None = None
        self._rect = QRectF()

    def set_prompt(self, points, labels, box) -> None:
        self.prepareGeometryChange()
        self._points = [(float(x), float(y), int(l)) for (x, y), l in zip(points, labels)]
        self._box = None if box is None else tuple(float(v) for v in box)
        rect = QRectF()
        for x, y, _ in self._points:
            rect = rect.united(QRectF(x - 1, y - 1, 2, 2))
        if self._box is not None:
            x0, y0, x1, y1 = self._box
            rect = rect.united(QRectF(x0, y0, x1 - x0, y1 - y0))
        self._rect = rect.adjusted(-50, -50, 50, 50) if not rect.isNull() else QRectF()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:  # noqa: D102
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        s = _screen_scale(painter)
        if self._box is not None:
            pen = QPen(QColor(255, 215, 0), 2, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            x0, y0, x1, y1 = self._box
            painter.drawRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        r = 5.0 / s
        for x, y, label in self._points:
            pen = QPen(QColor("white"), 1.5)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(QColor(40, 200, 70) if label else QColor(230, 40, 40))
            painter.drawEllipse(QPointF(x, y), r, r)


class DraftItem(QGraphicsItem):
    """The polygon being drawn (open polyline + line to the mouse) or a rubber-band box."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_DRAFT)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._vertices: list[tuple[float, float]] = []
        self._cursor: tuple[float, float] | None = None
        self._box: tuple[float, float, float, float] | None = None
        self._rect = QRectF()

    def set_draft(self, vertices=(), cursor=None, box=None) -> None:
        self.prepareGeometryChange()
        self._vertices = [(float(x), float(y)) for x, y in vertices]
        self._cursor = cursor
        self._box = box
        pts = list(self._vertices) + ([cursor] if cursor else [])
        if box is not None:
            pts += [(box[0], box[1]), (box[2], box[3])]
        if pts:
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            self._rect = QRectF(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)).adjusted(-50, -50, 50, 50)
        else:
            self._rect = QRectF()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:  # noqa: D102
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pen = QPen(QColor(255, 215, 0), 2)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if self._box is not None:
            x0, y0, x1, y1 = self._box
            pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawRect(QRectF(QPointF(x0, y0), QPointF(x1, y1)).normalized())
        if self._vertices:
            pts = [QPointF(x, y) for x, y in self._vertices]
            if self._cursor is not None:
                pts.append(QPointF(*self._cursor))
            painter.drawPolyline(QPolygonF(pts))
            r = 3.0 / _screen_scale(painter)
            painter.setBrush(QColor(255, 215, 0))
            for p in pts[: len(self._vertices)]:
                painter.drawEllipse(p, r, r)
