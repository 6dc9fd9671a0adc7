"""The live mask overlay draws exactly the mask's pixels in the label colour, at 1:1 and
scaled, and keeps only the mask's box as a picture (not the whole view)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsScene

from samlabel.gui.mask_render import mask_bbox
from samlabel.gui.overlay import MaskOverlayItem

W, H = 120, 80


def _mask():
    m = np.zeros((H, W), bool)
    m[20:50, 30:70] = True
    m[60, 100] = True  # a lone pixel far from the block: the box spans both
    m[35, 50] = False  # a hole
    return m


def _render(item, scale=1.0, margin=(0, 0)) -> np.ndarray:
    """The scene drawn over white, ``scale`` times its size, with ``margin`` ``(x, y)`` scene
    units left of and above the item (a translation: what makes a view draw 1:1 in device
    pixels). Returns the RGB array of the item's part only, ``(H*scale, W*scale, 3)``."""
    mx, my = margin
    scene = QGraphicsScene()
    scene.setSceneRect(QRectF(-mx, -my, W + mx, H + my))
    scene.addItem(item)
    out = QImage(int((W + mx) * scale), int((H + my) * scale), QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(Qt.GlobalColor.white)
    painter = QPainter(out)
    scene.render(painter, QRectF(0, 0, out.width(), out.height()), scene.sceneRect())
    painter.end()
    scene.removeItem(item)
    rgb = out.convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(rgb.constBits(), np.uint8).reshape(rgb.height(), rgb.bytesPerLine())
    arr = arr[:, : 3 * rgb.width()].reshape(rgb.height(), rgb.width(), 3)
    left, top = int(mx * scale), int(my * scale)
    assert (arr[:top] == 255).all() and (arr[:, :left] == 255).all()  # nothing drawn outside the item
    return arr[top:, left:].copy()


def _blend(color: QColor, opacity: float) -> np.ndarray:
    c = np.array([color.red(), color.green(), color.blue()], float)
    a = round(255 * opacity) / 255
    return c * a + 255 * (1 - a)


@pytest.mark.parametrize("bbox_given", [True, False])
@pytest.mark.parametrize("margin", [(0, 0), (10, 5)])  # unmoved; translated (the 1:1 blit)
def test_draws_the_mask_pixels_in_the_label_colour_at_1_to_1(qtbot, bbox_given, margin):
    item = MaskOverlayItem()
    item.set_opacity(0.5)
    m = _mask()
    color = QColor(200, 30, 60)
    if bbox_given:
        item.set_mask(m, (0, 0, W, H), color, bbox=mask_bbox(m))
    else:
        item.set_mask(m, (0, 0, W, H), color)
    img = _render(item, margin=margin)
    expected = _blend(color, 0.5)
    assert np.abs(img[m] - expected).max() <= 2  # every mask pixel tinted
    assert (img[~m] == 255).all()  # nothing else touched, the hole included


def test_scaled_views_draw_each_mask_pixel_as_a_block(qtbot):
    item = MaskOverlayItem()
    item.set_opacity(0.6)
    m = _mask()
    item.set_mask(m, (0, 0, W, H), QColor(10, 200, 40), bbox=mask_bbox(m))
    img = _render(item, scale=2.0, margin=(3, 7))
    big = np.repeat(np.repeat(m, 2, axis=0), 2, axis=1)
    assert np.abs(img[big] - _blend(QColor(10, 200, 40), 0.6)).max() <= 2
    assert (img[~big] == 255).all()


def test_colour_and_opacity_changes_repaint_the_same_pixels(qtbot):
    item = MaskOverlayItem()
    m = _mask()
    item.set_mask(m, (0, 0, W, H), QColor(200, 30, 60), bbox=mask_bbox(m))
    item.set_color(QColor(0, 0, 255))
    item.set_opacity(1.0)
    img = _render(item, margin=(4, 4))
    assert (img[m] == (0, 0, 255)).all()
    assert (img[~m] == 255).all()


def test_a_new_mask_replaces_the_old_one_and_an_empty_one_draws_nothing(qtbot):
    item = MaskOverlayItem()
    m = _mask()
    item.set_mask(m, (0, 0, W, H), QColor(200, 30, 60), bbox=mask_bbox(m))
    moved = np.roll(m, 5, axis=0)
    item.set_mask(moved, (0, 0, W, H), bbox=mask_bbox(moved))
    img = _render(item)
    assert (img[moved] != 255).any(axis=-1).all() and (img[~moved] == 255).all()
    empty = np.zeros_like(m)
    item.set_mask(empty, (0, 0, W, H), bbox=None)
    assert item.has_mask
    assert (_render(item) == 255).all()


def test_only_the_masks_box_is_kept_as_a_picture(qtbot):
    """A hover mask of an object covers a fraction of the view: colouring the whole view
    (1.3 M pixels at 1400x900) for every new mask cost ~0.7 ms of the UI thread."""
    item = MaskOverlayItem()
    m = _mask()
    c0, r0, c1, r1 = mask_bbox(m)
    item.set_mask(m, (0, 0, W, H), QColor(200, 30, 60), bbox=(c0, r0, c1, r1))
    picture = item.picture
    assert picture is not None
    assert (picture.width(), picture.height()) == (c1 - c0, r1 - r0)
    item.set_mask(np.zeros_like(m), (0, 0, W, H), bbox=None)
    assert item.picture is None
