"""The shapes' pixmap (ShapeRaster) shows exactly what drawing every shape afresh shows.

The raster is updated piecemeal: moved and topped up in strips on a pan, redrawn in dirty
rectangles when a shape changes or is (de)selected, antialiased band by band at rest. After
each of these the pixmap must equal a from-scratch drawing of the visible, unselected shapes
(bottom to top, each with its pen, brush and level-of-detail outline). Behaviour, not timing
(``benchmarks/bench_canvas.py`` times it).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage, QPainter, QPixmap

from samlabel.annotations import Shape
from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.sidecar import write_sidecar
from samlabel.gui import shape_raster
from samlabel.gui.canvas import picture_levels
from samlabel.gui.tools import Tool

W, H = 2400, 1800


def blob(cx, cy, r, v=300, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, v, endpoint=False)
    rad = r * (1 + 0.1 * np.sin(5 * t + seed)) + rng.normal(0, 0.3, v)
    return np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], axis=1).round(3)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(5)
    Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(tmp_path / "img.png")
    shapes = []
    for i in range(60):  # overlapping shapes of three labels, so the drawing order shows
        cx, cy = rng.uniform(150, W - 150), rng.uniform(150, H - 150)
        shapes.append(Shape.polygon(("a", "b", "c")[i % 3], blob(cx, cy, rng.uniform(40, 140), seed=i)))
    write_sidecar(tmp_path / "img.json", ImageAnnotation("img.png", H, W, tuple(shapes)))
    return tmp_path


def open_window(make_window, qtbot, folder):
    win = make_window(folder / "img.png")
    qtbot.waitUntil(lambda: win.document is not None and len(win.layer.order) == 60, timeout=10000)
    win.set_tool(Tool.SELECT)
    win.canvas.fit_to_window()
    return win


def pixels(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return a[:, : img.width() * 4].reshape(img.height(), img.width(), 4).copy()


def shown(win) -> np.ndarray:
    """The raster's pixmap now, after a repaint has brought it up to date."""
    win.canvas.viewport().repaint()
    return pixels(win.canvas.shape_raster._pix.toImage())


def from_scratch(win, aa: bool) -> np.ndarray:
    """Every visible, unselected shape drawn afresh at the view's transform, bottom to top."""
    raster = win.canvas.shape_raster
    pix = raster._pix
    ref = QPixmap(pix.size())
    ref.setDevicePixelRatio(pix.devicePixelRatio())
    ref.fill(Qt.GlobalColor.transparent)
    p = QPainter(ref)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, aa)
    p.setTransform(win.canvas.viewportTransform())
    for uid in win.layer.order:
        item = win.layer.item(uid)
        if not item.isVisible() or uid in win.layer.selected:
            continue
        p.setPen(item.pen())
        p.setBrush(item.brush())
        p.drawPath(item.path())
    p.end()
    return pixels(ref.toImage())


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to what clipping changes in Qt's rasteriser: antialiased coverage a few levels
    apart along a band's edge, and a clipped hairline starting a pixel apart (at most 0.02 %
    of the pixels further off than 4/255)."""
    d = np.abs(a.astype(int) - b.astype(int)).max(axis=2)
    off = int(np.count_nonzero(d > 4))
    assert off <= max(2, 0.0002 * a.shape[0] * a.shape[1]), (
        f"{off} pixels differ by more than 4 ({int(np.count_nonzero(d))} at all, at most {d.max()})")
    return True


def drawn_at_scale(qtbot, win):
    """Still moving (no antialiasing): wait until the bands have drawn the stale area a zoom
    left (the pixmap shows the shapes at the current scale)."""
    win.canvas._rest_timer.stop()
    shown(win)
    qtbot.waitUntil(lambda: win.canvas.shape_raster.current, timeout=10000)
    return shown(win)


def settle_antialiased(qtbot, win):
    win.canvas._rest_timer.stop()
    win.canvas._at_rest()
    qtbot.waitUntil(lambda: win.canvas.shape_raster.antialiased, timeout=10000)
    return shown(win)


def test_pans_selections_edits_and_hiding_show_what_a_fresh_drawing_shows(qtbot, make_window, folder):
    win = open_window(make_window, qtbot, folder)
    canvas, raster, view = win.canvas, win.canvas.shape_raster, win.canvas.viewport()
    shown(win)
    canvas.zoom_by(2.0)
    canvas._moving()  # moving: no antialiasing anywhere
    before = dict(raster.renders)
    drawn_at_scale(qtbot, win)
    assert same(shown(win), from_scratch(win, aa=False))
    assert raster.renders["scaled"] == before["scaled"] + 1 and raster.renders["full"] == before["full"]

    for dx, dy in [(40, 25), (-13, 31), (57, -8)]:  # pans: the pixmap moves, strips are drawn
        canvas.pan_by(dx, dy)
        assert same(shown(win), from_scratch(win, aa=False))
    assert raster.renders["shift"] >= 3 and raster.renders["full"] == before["full"]

    # a click selects a shape: it leaves the pixmap (the scene draws it, with handles)
    shapes = win.document.shapes
    rect = canvas.mapToScene(view.rect()).boundingRect()
    target = next(s for s in reversed(shapes)
                  if rect.contains(QPointF(*s.polygons[0].exterior.mean(axis=0))))
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton,
                     pos=canvas.mapFromScene(QPointF(*target.polygons[0].exterior.mean(axis=0))))
    (uid,) = win.layer.selected
    assert win.layer.item(uid).scene() is canvas.scene()
    assert same(shown(win), from_scratch(win, aa=False))
    assert raster.renders["full"] == before["full"]  # no full redraw for a selection

    # an unselected shape edited (through the document, as undo does): redrawn where it was and is
    other = next(s for s in shapes if s.uid != uid)
    win.document.replace_shape(other.uid, other.with_vertex_moved((0, 0, 0), tuple(other.polygons[0].exterior[0] + 60)))
    assert same(shown(win), from_scratch(win, aa=False))
    win.document.undo()
    assert same(shown(win), from_scratch(win, aa=False))

    # hiding a label takes its shapes out; the deselected shape comes back into the pixmap
    win.label_state.set_visible("b", False)
    win.editor.set_selection([])
    assert win.layer.item(uid).scene() is None
    assert same(shown(win), from_scratch(win, aa=False))
    win.label_state.set_visible("b", True)
    assert same(shown(win), from_scratch(win, aa=False))
    assert raster.renders["full"] == before["full"]


def test_at_rest_antialiasing_comes_back_band_by_band_and_equals_a_fresh_antialiased_drawing(
        qtbot, make_window, folder, monkeypatch):
    monkeypatch.setattr(shape_raster, "REFINE_MS", 0.01)  # the smallest bands: many event-loop turns
    win = open_window(make_window, qtbot, folder)
    raster = win.canvas.shape_raster
    win.canvas.zoom_by(1.5)
    win.canvas._moving()
    shown(win)
    assert not raster.antialiased
    win.canvas.pan_by(31, -17)  # some of it drawn after a pan, the rest after the zoom
    shown(win)
    after = settle_antialiased(qtbot, win)
    assert len(raster.band_ms) > 3  # in bands, not one long paint
    assert same(after, from_scratch(win, aa=True))
    # a pan at rest keeps the antialiased pixmap and only refines the strips it drew
    win.canvas.pan_by(-45, 0)
    shown(win)
    assert not raster.antialiased
    assert same(settle_antialiased(qtbot, win), from_scratch(win, aa=True))


def test_a_zoom_shows_the_old_pixmap_resampled_at_once_then_the_shapes_drawn_again_in_bands(
        qtbot, make_window, folder, monkeypatch):
    monkeypatch.setattr(shape_raster, "REFINE_MS", 0.5)  # small bands: several event-loop turns
    win = open_window(make_window, qtbot, folder)
    canvas, raster = win.canvas, win.canvas.shape_raster
    settle_antialiased(qtbot, win)
    old = shown(win)
    before = dict(raster.renders)
    canvas.zoom_by(1.25)
    canvas._moving()
    canvas._rest_timer.stop()
    interim = shown(win)  # at once: the old pixmap resampled, no shape drawn yet
    assert raster.renders["scaled"] == before["scaled"] + 1 and raster.renders["full"] == before["full"]
    assert not raster.current and not raster.antialiased
    assert interim[..., 3].any() and not np.array_equal(interim, old)
    # an edit while the area is stale is drawn (and kept) too
    shape = win.document.shapes[7]
    win.document.replace_shape(shape.uid, shape.translated(25, -10))
    shown(win)
    canvas.zoom_by(0.9)  # a second zoom before the bands are done
    drawn_at_scale(qtbot, win)
    assert len(raster.stale_ms) > 1  # in bands, not one long paint
    assert raster.renders["full"] == before["full"]
    assert same(shown(win), from_scratch(win, aa=False))
    assert same(settle_antialiased(qtbot, win), from_scratch(win, aa=True))


def test_with_the_interim_off_a_zoom_draws_everything_at_once(qtbot, make_window, folder, monkeypatch):
    monkeypatch.setattr(shape_raster, "INTERIM_ZOOM", False)
    win = open_window(make_window, qtbot, folder)
    canvas, raster = win.canvas, win.canvas.shape_raster
    shown(win)
    before = dict(raster.renders)
    canvas.zoom_by(1.25)
    canvas._moving()
    canvas._rest_timer.stop()
    assert same(shown(win), from_scratch(win, aa=False))
    assert raster.current and raster.renders["full"] == before["full"] + 1
    assert raster.renders["scaled"] == before["scaled"]


def test_recolouring_a_label_in_place_recolours_its_shapes(qtbot, make_window, folder):
    win = open_window(make_window, qtbot, folder)
    settle_antialiased(qtbot, win)  # at rest: what changes is drawn antialiased at once
    a_shapes = [s for s in win.document.shapes if s.label == "a"]
    win.label_state.recolor("a", (10, 200, 30))
    for s in a_shapes:
        brush = win.layer.item(s.uid).draw_brush.color()
        assert (brush.red(), brush.green(), brush.blue()) == (10, 200, 30)
    assert same(shown(win), from_scratch(win, aa=True))
    assert win.canvas.shape_raster.antialiased


def test_a_vertex_drag_leaves_the_pixmap_alone_and_updates_one_row_of_the_shapes_dock(qtbot, make_window, folder):
    win = open_window(make_window, qtbot, folder)
    canvas, raster, view = win.canvas, win.canvas.shape_raster, win.canvas.viewport()
    shape = win.document.shapes[10]
    win.editor.set_selection([shape.uid])
    shown(win)
    renders = dict(raster.renders)
    dock = win.shapes_dock
    rows_before = {u: dock._shown[u][0] for u in dock.uids()}
    x, y = shape.polygons[0].exterior[0]
    start = canvas.mapFromScene(QPointF(x, y))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, start + start.__class__(15, 9))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=start + start.__class__(15, 9))
    moved = win.document.shape(shape.uid)
    assert moved is not shape and len(moved.polygons[0].exterior) == len(shape.polygons[0].exterior)
    shown(win)
    assert raster.renders == renders  # the selected shape is drawn by the scene, not the pixmap
    changed = {u for u in dock.uids() if dock._shown[u][0] is not rows_before[u]}
    assert changed == {shape.uid}
    assert dock.selected_uids() == [shape.uid]


def test_the_shapes_dock_selects_rows_by_uid_after_rows_change(qtbot, make_window, folder):
    win = open_window(make_window, qtbot, folder)
    dock, doc = win.shapes_dock, win.document
    uids = [s.uid for s in doc.shapes]
    doc.remove_shapes(uids[5:8])
    assert dock.uids() == uids[:5] + uids[8:]
    dock.select_uids([uids[9], uids[40]])
    assert dock.selected_uids() == [uids[9], uids[40]]
    rows = [i for i in range(dock.list.count()) if dock.list.item(i).isSelected()]
    assert [dock.list.item(i).text().split(".")[0] for i in rows] == ["7", "38"]
    doc.undo()
    assert dock.uids() == uids
    assert dock.selected_uids() == [uids[9], uids[40]]


def test_zoomed_out_the_picture_is_drawn_from_halved_copies():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (1200, 1700, 3), dtype=np.uint8)
    levels = picture_levels(rgb)
    assert [lv.width() for _, lv in levels] == [850, 425]  # down to 256 px on the longer side
    assert [round(s, 4) for s, _ in levels] == [0.5, 0.25]
    half = pixels(levels[0][1].toImage())[..., :3]
    expect = rgb.reshape(600, 2, 850, 2, 3).mean(axis=(1, 3))
    assert np.abs(half[..., ::-1].astype(float) - expect).max() <= 1.0  # BGRA: blue first


def test_a_window_without_a_model_starts_without_importing_torch(tmp_path):
    code = textwrap.dedent(f"""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ["SAMLABEL_CONFIG_DIR"] = {str(tmp_path / "c")!r}
        os.environ["SAMLABEL_CACHE_DIR"] = {str(tmp_path / "k")!r}
        os.environ["SAMLABEL_CHECKPOINT_DIR"] = {str(tmp_path / "none")!r}
        from samlabel.gui.app import create_main_window
        from samlabel.gui.settings import AppSettings
        win = create_main_window(settings=AppSettings({str(tmp_path / "s.ini")!r}))
        win.show()
        print("torch" in sys.modules, win.model is None)
        win.shutdown()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["False", "True"]


def test_the_picture_is_sampled_while_moving_and_filtered_again_at_rest(qtbot):
    from samlabel.gui.canvas import Canvas

    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(600, 400)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_image(np.random.default_rng(0).integers(0, 255, (1500, 2000, 3), dtype=np.uint8))
    painted = []
    canvas.painted.connect(painted.append)
    canvas.zoom_by(1.1)  # moving: the picture is drawn unfiltered
    canvas._rest_timer.stop()
    canvas.viewport().update()
    qtbot.waitUntil(lambda: bool(painted), timeout=5000)
    assert not canvas._smooth_picture and canvas._rough_picture
    painted.clear()
    canvas._at_rest()  # at rest: drawn again, filtered
    assert canvas._smooth_picture and not canvas._rough_picture
    qtbot.waitUntil(lambda: bool(painted), timeout=5000)
    assert canvas._smooth_picture and not canvas._rough_picture
