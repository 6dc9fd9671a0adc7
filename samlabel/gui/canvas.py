"""The image canvas: a ``QGraphicsView`` that zooms, pans and reports mouse input in image pixels.

The canvas draws; it decides nothing about prompts or shapes. Mouse input is turned into
:class:`CanvasEvent` objects (image and screen position, button, modifiers, timestamp) and
emitted as signals that the main window's controllers handle. Panning (middle-drag, or
Space held + left-drag) and zooming (wheel towards the cursor, ``F`` fits) are handled here
and never reach the controllers.

Shapes are drawn at a level of detail for the zoom: :attr:`Canvas.lod_bucket` changes when
the zoom crosses a power of two, and each shape item then shows its outline simplified to
half a screen pixel (:mod:`samlabel.gui.shape_lod`). Unselected shapes are drawn into one
viewport-sized pixmap (:class:`~samlabel.gui.shape_raster.ShapeRaster`), so a repaint, a pan,
a selection or a vertex drag blits it and draws only what changed; a zoom shows it resampled
at once and draws the shapes at the new scale band by band over the next event-loop turns.
Antialiasing is on only at rest: zooming, panning, clicking or dragging turns it off, and it
comes back (band by band) :data:`AA_REST_MS` after the last move.

The picture is converted to a pixmap once per image, straight from the numpy array (no
``QImageReader``, so no allocation limit). :meth:`Canvas.visible_region` tells which part
of the image is on screen and at which size, so the live mask is rendered only there.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView

from samlabel.gui.overlay import DraftItem, IndexOverlayItem, MaskOverlayItem, PromptItem
from samlabel.gui.shape_lod import FULL_DETAIL_BUCKET, zoom_bucket
from samlabel.gui.shape_raster import ShapeRaster

MIN_ZOOM = 0.01
MAX_ZOOM = 64.0
AA_REST_MS = 150  # antialiasing comes back this long after the last zoom, pan or drag


@dataclass(frozen=True)
class CanvasEvent:
    x: float  # image pixels
    y: float
    sx: float  # viewport pixels
    sy: float
    button: Qt.MouseButton
    modifiers: Qt.KeyboardModifier
    t: float  # time.perf_counter() when Qt delivered the event

    @property
    def shift(self) -> bool:
        return bool(self.modifiers & Qt.KeyboardModifier.ShiftModifier)

    @property
    def ctrl(self) -> bool:
        return bool(self.modifiers & Qt.KeyboardModifier.ControlModifier)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """``(H, W, 3)`` uint8 -> an RGB888 QImage that owns its pixels (one copy)."""
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


MIN_LEVEL_PX = 256  # no halved copy of the picture smaller than this (its longer side)


def picture_levels(rgb: np.ndarray) -> list[tuple[float, QPixmap]]:
    """Halved copies of the picture (``cv2.INTER_AREA``), 1/2, 1/4, ... for drawing zoomed out."""
    import cv2

    levels = []
    h, w = rgb.shape[:2]
    cur, scale = rgb, 1.0
    while max(cur.shape[:2]) // 2 >= MIN_LEVEL_PX:
        scale /= 2
        cur = cv2.resize(cur, (max(1, int(round(w * scale))), max(1, int(round(h * scale)))),
                         interpolation=cv2.INTER_AREA)
        levels.append((cur.shape[1] / w, QPixmap.fromImage(rgb_to_qimage(cur))))
    return levels


class Canvas(QGraphicsView):
    """Signals carry :class:`CanvasEvent`; ``viewChanged`` fires after zoom, pan or resize."""

    mouseMoved = Signal(object)
    mousePressed = Signal(object)
    mouseReleased = Signal(object)
    mouseDoubleClicked = Signal(object)
    mouseLeft = Signal()
    viewChanged = Signal()
    painted = Signal(float)  # perf_counter() at the end of each viewport paint

    def __init__(self, parent=None) -> None:
        self._scene = QGraphicsScene()
        super().__init__(self._scene, parent)
        self.setObjectName("canvas")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor(40, 40, 44))
        self.setMouseTracking(True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # The picture is the view's *background*, cached by Qt at the current zoom, so a
        # new mask repaints only the mask over a cached copy (no rescaling of the image).
        self._pixmap = QPixmap()
        self._levels: list[tuple[float, QPixmap]] = []  # (scale, picture at that scale), halving
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self._smooth_picture = True  # filter the picture when zoomed out (off while moving)
        self._rough_picture = False  # some of the cached picture was drawn unfiltered
        self.mask_item = MaskOverlayItem()
        self.prompt_item = PromptItem()
        self.draft_item = DraftItem()
        self.proposal_item = IndexOverlayItem()
        self.shape_raster = ShapeRaster()  # every unselected shape, one pixmap (the shape layer fills it)
        for item in (self.shape_raster, self.proposal_item, self.mask_item, self.prompt_item, self.draft_item):
            self._scene.addItem(item)
        self.image_size: tuple[int, int] = (0, 0)  # (w, h)
        self._space_down = False
        self._pan_last: QPointF | None = None
        self._fit_on_resize = True
        self.lod_bucket = FULL_DETAIL_BUCKET + 1
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self._rest_timer = QTimer(self)
        self._rest_timer.setSingleShot(True)
        self._rest_timer.setInterval(AA_REST_MS)
        self._rest_timer.timeout.connect(self._at_rest)

    # ------------------------------------------------------------ detail
    def _moving(self) -> None:
        """The view moves: antialiasing off until it has been still for AA_REST_MS.

        The shapes' pixmap (:class:`ShapeRaster`) is resampled after a zoom and drawn again
        in bands (without antialiasing until at rest), moved after a pan, and kept for a
        click or a drag.
        """
        if self.renderHints() & QPainter.RenderHint.Antialiasing:
            self.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        self._smooth_picture = False  # a picture drawn while moving is sampled, not filtered
        self.shape_raster.set_antialiased(False)
        self._rest_timer.start()

    def _at_rest(self) -> None:
        """Antialiased again: selected shapes and overlays at once; what the shapes' pixmap
        drew without antialiasing is drawn again with it, band by band (ShapeRaster)."""
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self._smooth_picture = True
        if self._rough_picture:  # the picture was drawn (or topped up) unfiltered: filter it
            self._rough_picture = False
            self.resetCachedContent()
        self.shape_raster.set_antialiased(True)
        self.viewport().update()

    def _update_lod(self) -> None:
        """Switch the shape items to the zoom's level of detail when the bucket changed."""
        b = min(zoom_bucket(self.zoom), FULL_DETAIL_BUCKET + 1)
        if b == self.lod_bucket:
            return
        self.lod_bucket = b
        self.shape_raster.bucket = b
        for item in self.shape_raster.items:
            item.set_bucket(b)

    # ---------------------------------------------------------------- image
    def set_image(self, rgb: np.ndarray | None) -> None:
        """Show ``rgb`` ``(H, W, 3)`` uint8 (None: nothing) and fit it to the window."""
        self.mask_item.clear()
        self.proposal_item.clear()
        self.prompt_item.set_prompt([], [], None)
        self.draft_item.set_draft()
        if rgb is None:
            self._pixmap = QPixmap()
            self._levels = []
            self.image_size = (0, 0)
            self.resetCachedContent()
            self.viewport().update()
            return
        h, w = rgb.shape[:2]
        self._pixmap = QPixmap.fromImage(rgb_to_qimage(rgb))
        self._levels = picture_levels(rgb)
        self.image_size = (w, h)
        self.resetCachedContent()
        margin = max(w, h) * 0.5
        self._scene.setSceneRect(QRectF(-margin, -margin, w + 2 * margin, h + 2 * margin))
        self.fit_to_window()

    def pixmap(self) -> QPixmap:
        """The picture as shown (converted once per image)."""
        return self._pixmap

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        painter.fillRect(rect, self.backgroundBrush())
        if not self._pixmap.isNull():
            w, h = self.image_size
            zoom = self.zoom
            # filtered zoomed out, but only at rest: while zooming or panning the picture is
            # sampled (a fraction of the filtering's cost; docs/performance.md, "Dense canvas")
            # and filtered again at rest (_at_rest)
            smooth = zoom < 2.0 and self._smooth_picture
            self._rough_picture |= zoom < 2.0 and not smooth
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
            # zoomed out, the smallest halved copy still at least as large as the screen's
            # pixels: a quarter or a sixteenth of the pixels to filter, and less aliasing
            pix, pw, ph = self._pixmap, w, h
            for scale, level in self._levels:
                if scale < zoom:
                    break
                pix, pw, ph = level, level.width(), level.height()
            painter.drawPixmap(QRectF(0, 0, w, h), pix, QRectF(0, 0, pw, ph))

    # ------------------------------------------------------------------ view
    @property
    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        return float(self.transform().m11())

    def fit_to_window(self) -> None:
        w, h = self.image_size
        if w == 0 or h == 0:
            return
        self._fit_on_resize = True
        self.fitInView(QRectF(0, 0, w, h), Qt.AspectRatioMode.KeepAspectRatio)
        self._moving()
        self._update_lod()
        self.viewChanged.emit()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the scene point under ``anchor`` (viewport px) in place."""
        new = min(MAX_ZOOM, max(MIN_ZOOM, self.zoom * factor))
        factor = new / self.zoom
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        before = self.mapToScene(anchor.toPoint())
        self.scale(factor, factor)
        after = self.mapToScene(anchor.toPoint())
        delta = after - before
        self.translate(delta.x(), delta.y())
        self._fit_on_resize = False
        self._moving()
        self._update_lod()
        self.viewChanged.emit()

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the view by ``(dx, dy)`` viewport pixels."""
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() - int(round(dx)))
        v.setValue(v.value() - int(round(dy)))
        self._fit_on_resize = False
        self._moving()
        self.viewChanged.emit()

    def visible_region(self) -> tuple[tuple[int, int, int, int], tuple[int, int]] | None:
        """``((x0, y0, x1, y1), (out_w, out_h))``: the image part on screen and its size on screen.

        The output size is never larger than the region itself (when zoomed in past 1:1
        the mask is rendered at image resolution and scaled by the item).
        """
        w, h = self.image_size
        if w == 0:
            return None
        rect = self.mapToScene(self.viewport().rect()).boundingRect()
        x0 = max(0, int(math.floor(rect.left())))
        y0 = max(0, int(math.floor(rect.top())))
        x1 = min(w, int(math.ceil(rect.right())) + 1)
        y1 = min(h, int(math.ceil(rect.bottom())) + 1)
        if x1 <= x0 or y1 <= y0:
            return None
        z = min(1.0, self.zoom)
        out = (max(1, int(math.ceil((x1 - x0) * z))), max(1, int(math.ceil((y1 - y0) * z))))
        return (x0, y0, x1, y1), out

    def scene_to_screen_scale(self) -> float:
        return self.zoom

    # ----------------------------------------------------------------- events
    def _event(self, ev, button=None) -> CanvasEvent:
        pos = ev.position()
        p = self.mapToScene(pos.toPoint())
        # sub-pixel accuracy: map the float position through the inverse transform
        inv, ok = self.viewportTransform().inverted()
        if ok:
            p = inv.map(pos)
        return CanvasEvent(float(p.x()), float(p.y()), float(pos.x()), float(pos.y()),
                           ev.button() if button is None else button, ev.modifiers(), time.perf_counter())

    def _is_pan_start(self, ev) -> bool:
        return ev.button() == Qt.MouseButton.MiddleButton or (
            ev.button() == Qt.MouseButton.LeftButton and self._space_down)

    def mousePressEvent(self, ev) -> None:  # noqa: N802
        if self._is_pan_start(ev):
            self._pan_last = ev.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            ev.accept()
            return
        self.setFocus()
        self._moving()  # a click's answer (a selection, a point) is painted fast, then at rest
        self.mousePressed.emit(self._event(ev))
        ev.accept()

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802
        if self._pan_last is not None:
            d = ev.position() - self._pan_last
            self._pan_last = ev.position()
            self.pan_by(d.x(), d.y())
            ev.accept()
            return
        if ev.buttons() != Qt.MouseButton.NoButton:  # a drag (a vertex, a box): draw fast
            self._moving()
        self.mouseMoved.emit(self._event(ev, Qt.MouseButton.NoButton))
        ev.accept()

    def mouseReleaseEvent(self, ev) -> None:  # noqa: N802
        if self._pan_last is not None and ev.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_last = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_down else Qt.CursorShape.CrossCursor)
            ev.accept()
            return
        self.mouseReleased.emit(self._event(ev))
        ev.accept()

    def mouseDoubleClickEvent(self, ev) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton and not self._space_down:
            self.mouseDoubleClicked.emit(self._event(ev))
        ev.accept()

    def leaveEvent(self, ev) -> None:  # noqa: N802
        self.mouseLeft.emit()
        super().leaveEvent(ev)

    def wheelEvent(self, ev) -> None:  # noqa: N802
        delta = ev.angleDelta().y()
        if delta == 0:
            return
        self.zoom_by(math.pow(1.0015, delta), ev.position())
        ev.accept()

    def keyPressEvent(self, ev) -> None:  # noqa: N802
        if ev.key() == Qt.Key.Key_Space and not ev.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            ev.accept()
            return
        super().keyPressEvent(ev)

    def keyReleaseEvent(self, ev) -> None:  # noqa: N802
        if ev.key() == Qt.Key.Key_Space and not ev.isAutoRepeat():
            self._space_down = False
            self._pan_last = None
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
            ev.accept()
            return
        super().keyReleaseEvent(ev)

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802
        super().scrollContentsBy(dx, dy)
        self.viewChanged.emit()

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        if self._fit_on_resize:
            self.fit_to_window()
        else:
            self.viewChanged.emit()

    def paintEvent(self, ev) -> None:  # noqa: N802
        super().paintEvent(ev)
        self.painted.emit(time.perf_counter())
