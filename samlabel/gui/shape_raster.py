"""One pixmap for every unselected shape: a repaint is a blit however many shapes there are.

:class:`ShapeRaster` is one scene item that draws the visible, unselected shape items
(:class:`~samlabel.gui.shape_lod.DenseShapeItem`: each with its ``drawn_path``, ``draw_pen``
and ``draw_brush``) into a viewport-sized pixmap, kept across repaints and updated piecemeal:

* a zoom shows the old pixmap resampled to the new scale at once (one ``drawPixmap``), marks
  all of it *stale* and draws the shapes again at the new scale band by band over the next
  event-loop turns (each band about :data:`REFINE_MS` of work), so a zoom step costs a blit
  and input is never held up by a whole redraw;
* a pan moves the pixmap and draws only the uncovered strips;
* a changed, (de)selected, hidden or recoloured shape redraws its box (:meth:`invalidate`);
* shapes added on top (:meth:`append_items`: the slices of a large image's shapes being built)
  are drawn over the pixmap as it is;
* at rest, what was drawn without antialiasing (the region ``rough``) is drawn again with it,
  band by band as well.
"""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QPainter, QPixmap, QRegion, QTransform
from PySide6.QtWidgets import QGraphicsItem

from samlabel.gui.shape_lod import FULL_DETAIL_BUCKET, Z_SHAPES, DenseShapeItem

REFINE_MS = 8.0  # stale and rough areas are drawn again in bands of about this much work each
INTERIM_ZOOM = True  # a zoom first shows the old pixmap resampled (False: draw it all at once)


class ShapeRaster(QGraphicsItem):
    """Every visible, unselected shape item, painted into one pixmap the size of the viewport.

    Qt then draws one item instead of thousands: a repaint at rest, a hover mask moving over
    the shapes or a selected shape being dragged blit this pixmap. The pixmap is drawn again

    * whole, when the view's size or rotation changed, or everything was invalidated (new
      items);
    * resampled, when only the view's scale (and offset) changed (a zoom, with
      :data:`INTERIM_ZOOM`): the old pixmap is drawn scaled into a new one and all of it is
      ``stale``; the stale region is drawn again at the new scale one band per event-loop
      turn (:meth:`current` is True once it is all drawn);
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
    order); each is drawn with its ``draw_pen``, ``draw_brush`` and current ``drawn_path``
    (the outline of the view's level-of-detail bucket).
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
        self._stale = QRegion()  # device area showing a resampled picture (after a zoom)
        self._refine_on = False
        # device pixels of the next band, by antialiasing: sized by area, not rows (a band of
        # narrow pan strips costs little per row, a band across the view much more)
        self._band_px = {False: 64 * 1400.0, True: 16 * 1400.0}
        self._timer = QTimer()
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._band_step)
        self.band_ms: list[float] = []  # the antialiasing bands' times (benchmark)
        self.stale_ms: list[float] = []  # the bands drawn after a zoom, since the last zoom
        self._full = True
        self._dirty: list[QRectF] = []  # scene rectangles to draw again
        self._appended: list[DenseShapeItem] = []  # items added on top, to draw over the pixmap
        self.renders = {"full": 0, "shift": 0, "dirty": 0, "scaled": 0}  # what the paints did (tests, benchmark)

    def boundingRect(self) -> QRectF:  # noqa: N802 - the whole scene: it draws what is on screen
        return QRectF(-1e6, -1e6, 2e6, 2e6)

    # ----------------------------------------------------------- what changed
    def set_items(self, items) -> None:
        """The shape items, bottom to top; everything is drawn again."""
        self.items = list(items)
        self._boxes = None
        self._appended = []
        self.invalidate_all()

    def append_items(self, items, update: bool = True) -> None:
        """More shape items, above all the others: drawn over the pixmap at the next paint
        (nothing under them is drawn again); ``update=False``: no paint asked for (they are
        drawn with whatever paints next)."""
        items = list(items)
        if not items:
            return
        self.items.extend(items)
        if self._boxes is not None and len(self._boxes) == len(self.items) - len(items):
            boxes = np.array([it.bounds() for it in items], dtype=np.float64).reshape(-1, 4)
            self._boxes = np.concatenate([self._boxes, boxes])
        else:
            self._boxes = None
        if not self._full and self._pix is not None:
            self._appended.extend(items)
        if update:
            self.update()

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
        bands over the next event-loop turns. ``False`` (moving): stop that (a stale area
        left by a zoom is still drawn, without antialiasing)."""
        self._refine_on = on
        self.band_ms = []
        self._kick()

    @property
    def antialiased(self) -> bool:
        """Whether all of the pixmap is drawn with antialiasing at the current scale."""
        return self._pix is not None and self._rough.isEmpty() and self._stale.isEmpty()

    @property
    def current(self) -> bool:
        """Whether the pixmap shows the shapes drawn at the scale it was last painted at (no
        resampled area left from a zoom, nothing waiting to be drawn)."""
        return (self._pix is not None and self._stale.isEmpty() and not self._full and not self._dirty
                and not self._appended)

    def _kick(self) -> None:
        """Run the band timer while there is a stale area, or a rough one at rest."""
        busy = self._pix is not None and (not self._stale.isEmpty() or (self._refine_on and not self._rough.isEmpty()))
        if busy and not self._timer.isActive():
            self._timer.start()
        elif not busy:
            self._timer.stop()

    def _band_step(self) -> None:
        """One band drawn again: of the stale area first (antialiased at rest), else of the
        rough area at rest (antialiased)."""
        if self._pix is None:
            self._timer.stop()
            return
        stale = not self._stale.isEmpty()
        if not stale and not (self._refine_on and not self._rough.isEmpty()):
            self._timer.stop()
            return
        aa = self._refine_on
        if self._appended and not self._full:
            # shapes appended since the last paint are drawn over the pixmap first, as that
            # paint would: the band below draws them (it draws ``items``), and the paint must
            # not draw them a second time over it
            dpr = self._pix.devicePixelRatio()
            self._draw_appended(aa, int(round(self._pix.width() / dpr)), int(round(self._pix.height() / dpr)))
            self.update()
        region = self._stale if stale else self._rough
        top = region.boundingRect()
        rects = list(region)
        per_row = sum(r.width() * r.height() for r in rects) / max(1, top.height())  # mean pixels per row
        rows = int(self._band_px[aa] / max(1.0, per_row))
        band = QRect(top.left(), top.top(), top.width(), max(8, min(rows, top.height())))
        piece = region.intersected(band)
        t0 = time.perf_counter()
        self._draw(self._pix, self._t, list(piece), aa)
        ms = (time.perf_counter() - t0) * 1e3
        if stale:
            self.stale_ms.append(ms)
        if aa:
            self.band_ms.append(ms)
        # the next band sized to about REFINE_MS of work, from this one's cost per pixel
        area = float(sum(r.width() * r.height() for r in piece))
        if area > 0:
            self._band_px[aa] = max(8.0, min(2 * area, area * REFINE_MS / max(ms, 0.5)))
        if stale:
            self._stale = self._stale.subtracted(band)
        self._mark(list(piece), aa)
        inv, ok = self._t.inverted()
        if ok:
            self.update(inv.mapRect(QRectF(band)).adjusted(-1, -1, 1, 1))
        self._kick()

    # ------------------------------------------------------------------ paint
    def _box_array(self) -> np.ndarray:
        if self._boxes is None or len(self._boxes) != len(self.items):
            self._boxes = np.array([it.bounds() for it in self.items], dtype=np.float64).reshape(-1, 4)
        return self._boxes

    def _draw_appended(self, aa: bool, w: int, h: int) -> None:
        """The items added on top since the last paint, drawn over the pixmap (at the
        transform it shows; a pan or dirty rectangles then work on it as on any other)."""
        items, self._appended = self._appended, []
        p = QPainter(self._pix)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, aa)
        p.setTransform(self._t)
        x0 = y0 = math.inf
        x1 = y1 = -math.inf
        for it in items:
            if it._selected or not it.shown:
                continue
            p.setPen(it.draw_pen)
            p.setBrush(it.draw_brush)
            p.drawPath(it.drawn_path)
            bx0, by0, bx1, by1 = it.bounds()
            if bx0 <= bx1 and by0 <= by1:  # (NaN: no vertices)
                x0, y0, x1, y1 = min(x0, bx0), min(y0, by0), max(x1, bx1), max(y1, by1)
        p.end()
        if not aa and x0 <= x1:
            box = self._t.mapRect(QRectF(x0, y0, x1 - x0, y1 - y0)).toAlignedRect().adjusted(-3, -3, 3, 3)
            self._mark([box.intersected(QRect(0, 0, w, h))], False)

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
        if self._appended and not self._full and self._pix is not None:
            self._draw_appended(aa, w, h)  # where the pixmap is now; moved or resampled below
            self._kick()
        if not full and (t.dx(), t.dy()) != self._origin:
            ddx, ddy = t.dx() - self._origin[0], t.dy() - self._origin[1]
            if (abs(ddx - round(ddx)) < 1e-6 and abs(ddy - round(ddy)) < 1e-6
                    and abs(ddx) < w and abs(ddy) < h):
                self._shift(int(round(ddx)), int(round(ddy)), w, h, dpr, t, aa)
            else:
                full = True
        if full and self._can_resample(key):
            self._resample(t, key, w, h, dpr)
        elif full:
            pix = QPixmap(int(math.ceil(w * dpr)), int(math.ceil(h * dpr)))
            pix.setDevicePixelRatio(dpr)
            pix.fill(Qt.GlobalColor.transparent)
            self._draw(pix, t, None, aa)
            self._pix, self._key, self._origin, self._t, self._full = pix, key, (t.dx(), t.dy()), QTransform(t), False
            self._rough = QRegion() if aa else QRegion(0, 0, w, h)
            self._stale = QRegion()
            self._dirty.clear()
            self._appended = []
            self.renders["full"] += 1
            self._kick()
        elif self._dirty:
            rects = self._dirty_rects(t, w, h)
            if rects:
                self._draw(self._pix, t, rects, aa)
                self._mark(rects, aa)
                self._unstale(rects)
                self.renders["dirty"] += 1
        painter.save()
        painter.resetTransform()
        painter.drawPixmap(QPointF(0, 0), self._pix)
        painter.restore()

    def _can_resample(self, key) -> bool:
        """A zoom: same size and device ratio, no rotation, only the scale changed."""
        old = self._key
        return (INTERIM_ZOOM and not self._full and self._pix is not None and old is not None
                and key[4:] == old[4:] and key[1] == key[2] == old[1] == old[2] == 0.0
                and key[0] > 0 and key[3] > 0 and old[0] > 0 and old[3] > 0)

    def _resample(self, t: QTransform, key, w: int, h: int, dpr: float) -> None:
        """The old pixmap drawn at the new scale (the interim frame of a zoom); all of it is
        stale and is drawn again in bands (:meth:`_band_step`)."""
        old_inv, ok = self._t.inverted()
        pix = QPixmap(self._pix.size())
        pix.setDevicePixelRatio(dpr)
        pix.fill(Qt.GlobalColor.transparent)
        if ok:
            p = QPainter(pix)
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)  # a copy, no blending
            p.setTransform(old_inv * t)  # old device -> scene -> new device
            p.drawPixmap(QPointF(0, 0), self._pix)
            p.end()
        self._pix, self._key, self._origin, self._t = pix, key, (t.dx(), t.dy()), QTransform(t)
        everything = QRegion(0, 0, w, h)
        self._stale = everything
        self._rough = QRegion(everything)
        self._dirty.clear()  # changed shapes are in the stale area, drawn with it
        self.stale_ms = []
        self.renders["scaled"] += 1
        self._kick()

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

    def _unstale(self, rects: list[QRect]) -> None:
        """Rectangles just drawn at the current scale are no longer stale."""
        if not self._stale.isEmpty():
            for r in rects:
                self._stale = self._stale.subtracted(r)

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
        bounds = QRect(0, 0, w, h)
        self._rough.translate(dx, dy)
        self._rough = self._rough.intersected(bounds)
        if not self._stale.isEmpty():
            self._stale.translate(dx, dy)
            self._stale = self._stale.intersected(bounds)
        self._mark(rects, aa)
        self._unstale(rects)
        self._pix, self._origin, self._t = pix, (t.dx(), t.dy()), QTransform(t)
        self.renders["shift"] += 1
        self._kick()
