"""Many shapes are built in slices over event-loop turns; once done, every shape is shown once.

Edits made while the slices are being built are not lost, and the shapes' pixmap (each slice
drawn over what is shown) equals a fresh drawing of every shape. Behaviour, not timing.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPixmap, QRegion

from samlabel.annotations import LabelSet, Shape
from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.sidecar import write_sidecar
from samlabel.gui import shape_layer
from samlabel.gui.canvas import Canvas
from samlabel.gui.shape_layer import ShapeLayer

from .test_gui_canvas_raster import pixels, same

W, H, N = 2000, 1500, 600


def blob(rng, v=40):
    cx, cy, r = rng.uniform(60, W - 60), rng.uniform(60, H - 60), rng.uniform(15, 50)
    t = np.linspace(0, 2 * np.pi, v, endpoint=False)
    rad = r * (1 + 0.1 * np.sin(3 * t)) + rng.normal(0, 0.3, v)
    return np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], axis=1).round(2)


def many_shapes(seed=0, n=N):
    rng = np.random.default_rng(seed)
    return [Shape.polygon(("a", "b", "c")[i % 3], blob(rng)) for i in range(n)]


def fresh_drawing(canvas, layer, aa: bool) -> np.ndarray:
    pix = canvas.shape_raster._pix
    ref = QPixmap(pix.size())
    ref.setDevicePixelRatio(pix.devicePixelRatio())
    ref.fill(Qt.GlobalColor.transparent)
    p = QPainter(ref)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, aa)
    p.setTransform(canvas.viewportTransform())
    for uid in layer.order:
        item = layer.item(uid)
        if item.shown and uid not in layer.selected:
            p.setPen(item.draw_pen)
            p.setBrush(item.draw_brush)
            p.drawPath(item.drawn_path)
    p.end()
    return pixels(ref.toImage())


def shown_now(qtbot, canvas) -> np.ndarray:
    """The shapes' pixmap once a paint has drawn everything waiting to be drawn."""
    canvas.viewport().update()
    qtbot.waitUntil(lambda: canvas.shape_raster.current, timeout=10000)
    return pixels(canvas.shape_raster._pix.toImage())


@pytest.fixture
def canvas(qtbot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 600)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_image(np.full((H, W, 3), 100, np.uint8))
    return canvas


def test_many_shapes_are_built_in_slices_and_edits_meanwhile_are_kept(qtbot, canvas, monkeypatch):
    monkeypatch.setattr(shape_layer, "SLICE_MS", 1.0)  # small slices: many event-loop turns
    monkeypatch.setattr(shape_layer, "SHOW_EVERY_S", 0.0)  # each slice painted over what is shown
    labels = LabelSet(["a", "b", "c"])
    layer = ShapeLayer(canvas.scene())
    shapes = many_shapes()
    layer.sync(shapes, labels)
    assert layer.building and 0 < len(layer.order) < N
    assert layer.order == [s.uid for s in shapes[: len(layer.order)]]  # bottom to top
    qtbot.waitUntil(lambda: len(layer.order) > 100 and canvas.shape_raster._pix is not None, timeout=10000)
    assert layer.building
    # edits while building, as the window syncs them: a built shape moved, a shape not built
    # yet relabelled, one not built yet removed, one added on top and one at the bottom
    built, later = len(layer.order) // 2, N - 5
    shapes = list(shapes)
    shapes[built] = shapes[built].translated(30, 20)
    shapes[later] = shapes[later].with_label("b" if shapes[later].label != "b" else "c")
    gone = shapes.pop(later - 1)
    shapes.append(Shape.polygon("a", blob(np.random.default_rng(9))))
    shapes.insert(0, Shape.polygon("c", blob(np.random.default_rng(10))))
    layer.sync(shapes, labels)
    qtbot.waitUntil(lambda: not layer.building, timeout=20000)
    assert layer.slices > 3
    # the slices were drawn over the pixmap, not the whole pixmap again each time (once at the
    # start, once for the shape inserted at the bottom)
    assert canvas.shape_raster.renders["full"] <= 3
    assert layer.order == [s.uid for s in shapes]  # every shape once, in the document's order
    assert layer.item(gone.uid) is None
    assert canvas.shape_raster.items == [layer.item(u) for u in layer.order]
    for s in (shapes[0], shapes[built + 1], shapes[-1], shapes[later - 1]):
        item = layer.item(s.uid)
        x0, y0, x1, y1 = item.bounds()
        assert np.allclose((x0, y0, x1, y1), s.bbox())
    colour = {lab.name: lab.color for lab in labels}
    for s in shapes:
        c = layer.item(s.uid).draw_brush.color()
        assert (c.red(), c.green(), c.blue()) == tuple(colour[s.label])
    # what is shown equals a fresh drawing of every shape, drawn as it was and at rest
    # (the last slices may still wait for a paint to be drawn: paint, then let it come to rest)
    raster = canvas.shape_raster
    for _ in range(3):
        canvas.viewport().repaint()
        canvas._rest_timer.stop()
        canvas._at_rest()
        qtbot.waitUntil(lambda: raster.antialiased, timeout=10000)
        if raster.current:
            break
    assert raster.current and raster.antialiased
    assert same(shown_now(qtbot, canvas), fresh_drawing(canvas, layer, aa=True))
    # a hit test finds a shape built in the last slices
    cx, cy = shapes[-1].polygons[0].exterior.mean(axis=0)
    assert layer.shape_at(cx, cy) == shapes[-1].uid


def test_a_few_new_shapes_are_built_at_once(qtbot, canvas):
    labels = LabelSet(["a", "b", "c"])
    layer = ShapeLayer(canvas.scene())
    shapes = many_shapes(n=shape_layer.SLICE_MIN)
    layer.sync(shapes, labels)
    assert not layer.building and layer.order == [s.uid for s in shapes]
    layer.clear()
    layer.sync(many_shapes(seed=1), labels)
    assert layer.building
    layer.finish_building()
    assert not layer.building and len(layer.order) == N


def test_a_window_opening_many_shapes_shows_them_all_and_keeps_an_edit_made_meanwhile(
        qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setattr(shape_layer, "SLICE_MS", 0.01)  # the smallest slices: ~75 event-loop turns
    shapes = many_shapes(seed=3)
    Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(tmp_path / "img.png")
    write_sidecar(tmp_path / "img.json", ImageAnnotation("img.png", H, W, tuple(shapes)))
    win = make_window(tmp_path / "img.png")
    qtbot.waitUntil(lambda: win.document is not None, timeout=10000)
    last = win.document.shapes[-1].uid  # (uids are made when the sidecar is read)
    assert win.layer.building and win.layer.item(last) is None
    win.document.set_label([last], "b")  # not built yet
    qtbot.waitUntil(lambda: not win.layer.building and len(win.layer.order) == N, timeout=30000)
    assert win.layer.order == [s.uid for s in win.document.shapes]
    c = win.layer.item(last).draw_brush.color()
    assert (c.red(), c.green(), c.blue()) == tuple(win.labels.color_of("b"))


def test_shapes_added_on_top_are_drawn_once_when_an_antialiasing_band_comes_before_the_paint(qtbot, canvas):
    """The band timer of the at-rest antialiasing may run between shapes being appended and the
    paint that draws them over the pixmap: the band then draws them already, and the paint must
    not draw them again (a shape drawn twice shows its fill at twice the opacity)."""
    labels = LabelSet(["a", "b", "c"])
    layer = ShapeLayer(canvas.scene())
    shapes = many_shapes(n=shape_layer.SLICE_MIN)
    layer.sync(shapes, labels)
    raster = canvas.shape_raster
    shown_now(qtbot, canvas)
    # on top: a few more shapes, appended; their paint has not come yet
    more = shapes + many_shapes(seed=5, n=5)
    layer.sync(more, labels)
    assert not layer.building and raster._appended
    # an at-rest band over the whole view runs first (as its timer may)
    w, h = raster._pix.width(), raster._pix.height()
    raster._rough = QRegion(0, 0, w, h)
    raster._band_px[True] = 1e9
    raster._refine_on = True
    raster._band_step()
    canvas._rest_timer.stop()
    canvas._at_rest()
    qtbot.waitUntil(lambda: raster.antialiased and raster.current, timeout=10000)
    assert same(shown_now(qtbot, canvas), fresh_drawing(canvas, layer, aa=True))
