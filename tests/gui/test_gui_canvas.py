"""Canvas navigation: wheel zoom towards the cursor, middle-drag and space-drag pan, fit."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from samlabel.gui.canvas import Canvas


def _canvas(qtbot, w=400, h=300):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(w, h)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_image(np.zeros((600, 800, 3), np.uint8))
    return canvas


def _wheel(canvas, pos: QPoint, delta: int):
    ev = QWheelEvent(QPointF(pos), QPointF(canvas.viewport().mapToGlobal(pos)), QPoint(0, 0), QPoint(0, delta),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), ev)


def test_fit_shows_the_whole_image(qtbot):
    canvas = _canvas(qtbot)
    (x0, y0, x1, y1), out = canvas.visible_region()
    assert (x0, y0, x1, y1) == (0, 0, 800, 600)
    assert out[0] <= 400 and abs(canvas.zoom - 0.5) < 0.02


def test_wheel_zooms_towards_the_cursor(qtbot):
    canvas = _canvas(qtbot)
    pos = QPoint(300, 100)
    before = canvas.mapToScene(pos)
    zoom = canvas.zoom
    _wheel(canvas, pos, 240)
    assert canvas.zoom > zoom * 1.2
    after = canvas.mapToScene(pos)
    assert abs(after.x() - before.x()) < 2 and abs(after.y() - before.y()) < 2
    (x0, y0, x1, y1), out = canvas.visible_region()
    assert x1 - x0 < 800 and out[0] <= x1 - x0


def test_middle_drag_pans_and_is_not_a_click(qtbot):
    canvas = _canvas(qtbot)
    canvas.zoom_by(4.0)
    pressed = []
    canvas.mousePressed.connect(pressed.append)
    view = canvas.viewport()
    start = canvas.mapToScene(QPoint(200, 150))
    qtbot.mousePress(view, Qt.MouseButton.MiddleButton, pos=QPoint(200, 150))
    qtbot.mouseMove(view, QPoint(240, 170))
    qtbot.mouseRelease(view, Qt.MouseButton.MiddleButton, pos=QPoint(240, 170))
    moved = canvas.mapToScene(QPoint(240, 170))
    assert abs(moved.x() - start.x()) < 1.5 and abs(moved.y() - start.y()) < 1.5  # content follows the mouse
    assert pressed == []


def test_space_drag_pans(qtbot):
    canvas = _canvas(qtbot)
    canvas.zoom_by(4.0)
    pressed = []
    canvas.mousePressed.connect(pressed.append)
    canvas.setFocus()
    view = canvas.viewport()
    start = canvas.mapToScene(QPoint(100, 100))
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(view, QPoint(60, 80))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(60, 80))
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    moved = canvas.mapToScene(QPoint(60, 80))
    assert abs(moved.x() - start.x()) < 1.5 and abs(moved.y() - start.y()) < 1.5
    assert pressed == []


def test_mouse_events_report_image_pixels(qtbot):
    canvas = _canvas(qtbot)
    got = []
    canvas.mousePressed.connect(got.append)
    target = canvas.mapFromScene(QPointF(400, 300))
    qtbot.mousePress(canvas.viewport(), Qt.MouseButton.LeftButton, pos=target)
    assert abs(got[0].x - 400) <= 2 and abs(got[0].y - 300) <= 2
    assert got[0].button == Qt.MouseButton.LeftButton


def _screen_colour(canvas, scene_x: float, scene_y: float):
    """The colour the window system holds at a scene point: the backing store, where a partial
    repaint shows (``grab()`` would render the whole widget afresh)."""
    from PySide6.QtGui import QColor

    top = canvas.window()
    shot = top.screen().grabWindow(top.winId()).toImage()
    p = canvas.mapFromScene(QPointF(scene_x, scene_y)) + canvas.viewport().mapTo(top, QPoint(0, 0))
    return QColor(shot.pixel(p.x(), p.y()))


def test_a_new_mask_repaints_only_the_union_of_the_boxes_and_leaves_no_stale_pixels(qtbot):
    from PySide6.QtGui import QColor

    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.show()
    qtbot.waitExposed(canvas)
    paints = []
    canvas.painted.connect(paints.append)
    canvas.set_image(np.zeros((600, 800, 3), np.uint8))
    seen = [-1]

    def settled() -> bool:  # painted, and no paint since the last look: the view's own updates
        QApplication.processEvents()  # after a new image (scene rect, scroll bars) are done
        quiet, seen[0] = seen[0] == len(paints) > 0, len(paints)
        return quiet

    qtbot.waitUntil(settled)
    item = canvas.mask_item
    region = (0, 0, 800, 600)
    a = np.zeros((300, 400), bool)
    a[20:60, 30:90] = True  # top left
    b = np.zeros((300, 400), bool)
    b[200:260, 300:380] = True  # bottom right
    item.set_mask(a, region, QColor(255, 0, 0))
    qtbot.waitUntil(lambda: _screen_colour(canvas, 120, 80).red() > 100)  # a is on the screen
    item.set_mask(b, region, QColor(255, 0, 0))
    # the item's box: mask pixels 300..380 x 200..260 at 2 scene px each, grown by a pixel
    box = item.dirty_rect
    assert (box.left(), box.top(), box.right(), box.bottom()) == (597.0, 397.0, 763.0, 523.0)
    qtbot.waitUntil(lambda: _screen_colour(canvas, 680, 460).red() > 100)  # b is drawn
    assert _screen_colour(canvas, 120, 80).red() < 50  # a's pixels were repainted in the same update
    assert _screen_colour(canvas, 400, 300).red() < 50


def test_an_unchanged_region_updates_the_boxes_only(qtbot):
    canvas = _canvas(qtbot)
    item = canvas.mask_item
    m = np.zeros((300, 400), bool)
    m[10:20, 10:20] = True
    item.set_mask(m, (0, 0, 800, 600))
    first = item.dirty_rect
    m2 = np.zeros((300, 400), bool)
    item.set_mask(m2, (0, 0, 800, 600))
    assert item.dirty_rect.isNull() and not first.isNull()
    item.set_mask(m, (100, 0, 900, 600))  # the view moved: the whole region is repainted
    assert item.region.left() == 100.0 and item.dirty_rect.left() == 100.0 + 10 * 2 - 3
