"""Many dense shapes: what is drawn is simplified, what is stored and edited is every vertex.

Behaviour, not timing (the timings are ``benchmarks/bench_canvas.py``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt

from samlabel.annotations import Shape
from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.sidecar import write_sidecar
from samlabel.gui import hit_testing
from samlabel.gui.shape_index import ShapeIndex
from samlabel.gui.shape_lod import (
    DenseShapeItem,
    _polygon_by_stream,
    bucket_tolerance,
    path_from_rings,
    polygon_from_points,
    zoom_bucket,
)
from samlabel.gui.tools import Tool

W, H, V = 2400, 1800, 400


def wobbly(cx, cy, r, v=V, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, v, endpoint=False)
    rad = r * (1 + 0.1 * np.sin(3 * t + seed)) + rng.normal(0, 0.2, v)
    return np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], axis=1).round(3)


@pytest.fixture
def dense_folder(tmp_path):
    folder = tmp_path / "dense"
    folder.mkdir()
    Image.fromarray(np.full((H, W, 3), 120, np.uint8)).save(folder / "img.png")
    centers = [(400, 400), (1200, 900), (2000, 1400), (600, 1400), (1900, 400)]
    shapes = [Shape.polygon("obj", wobbly(x, y, 150, seed=i)) for i, (x, y) in enumerate(centers)]
    write_sidecar(folder / "img.json", ImageAnnotation("img.png", H, W, tuple(shapes)))
    return folder


def open_dense(make_window, qtbot, folder):
    win = make_window(folder / "img.png")
    qtbot.waitUntil(lambda: win.document is not None and len(win.layer.order) == 5, timeout=10000)
    win.set_tool(Tool.SELECT)
    win.canvas.fit_to_window()
    return win


def vp(win, x, y) -> QPoint:
    return win.canvas.mapFromScene(QPointF(x, y))


def scene_of(win, pos: QPoint) -> tuple[float, float]:
    """Where the canvas puts a mouse event at viewport pixel ``pos`` (its float mapping)."""
    inv, _ = win.canvas.viewportTransform().inverted()
    p = inv.map(QPointF(pos))
    return p.x(), p.y()


def path_points(path) -> np.ndarray:
    return np.array([(path.elementAt(i).x, path.elementAt(i).y) for i in range(path.elementCount())])


def test_the_drawn_outline_is_simplified_at_fit_but_the_document_keeps_every_vertex(qtbot, make_window, dense_folder):
    win = open_dense(make_window, qtbot, dense_folder)
    zoom = win.canvas.zoom
    assert zoom < 0.5 and win.canvas.lod_bucket == zoom_bucket(zoom)
    tol = bucket_tolerance(win.canvas.lod_bucket)
    assert tol * zoom <= 0.5  # never more than half a screen pixel off
    for shape in win.document.shapes:
        item = win.layer.item(shape.uid)
        assert isinstance(item, DenseShapeItem)
        drawn = path_points(item.path())
        assert 4 <= len(drawn) < V / 2  # far fewer points drawn ...
        assert shape.polygons[0].exterior.shape == (V, 2)  # ... every vertex kept
        assert len(win.layer.geometry(shape.uid).rings[0]) == V  # and hit-tested
        assert item.full_path().elementCount() == V + 1
        # every real vertex is within the tolerance of the drawn outline
        for x, y in shape.polygons[0].exterior:
            assert hit_testing.nearest_edge([[drawn[:-1]]], x, y, tol + 1e-3) is not None
    # zoomed in far: every vertex is drawn
    win.canvas.zoom_by(32.0)
    item = win.layer.item(win.document.shapes[0].uid)
    assert item.path().elementCount() == V + 1


def test_a_vertex_dragged_at_2x_lands_where_the_user_put_it_and_the_sidecar_keeps_every_vertex(
        qtbot, make_window, dense_folder):
    win = open_dense(make_window, qtbot, dense_folder)
    shape = win.document.shapes[1]
    before = shape.polygons[0].exterior.copy()
    view = win.canvas.viewport()
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=vp(win, *before.mean(axis=0)))
    assert win.layer.selected == {shape.uid}
    win.canvas.zoom_by(2.0)
    k = 37
    vx, vy = before[k]
    win.canvas.centerOn(QPointF(vx, vy))
    assert win.canvas.lod_bucket == zoom_bucket(win.canvas.zoom)
    assert win.layer.item(shape.uid).path().elementCount() < V + 1  # still drawn simplified
    start = vp(win, vx, vy)
    end = start + QPoint(23, -17)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, start + QPoint(10, -5))
    qtbot.mouseMove(view, end)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=end)
    after = win.document.shape(shape.uid).polygons[0].exterior
    assert after.shape == (V, 2)
    # the grabbed vertex is the one nearest the press; it is now exactly under the release
    grabbed = int(np.argmin(np.hypot(*(before - scene_of(win, start)).T)))
    assert abs(grabbed - k) <= 1
    assert np.allclose(after[grabbed], scene_of(win, end), atol=1e-9)
    others = np.arange(V) != grabbed
    assert np.array_equal(after[others], before[others])
    assert win.save_now()
    saved = json.loads((dense_folder / "img.json").read_text())["shapes"]
    assert len(saved) == 5
    assert [len(s["points"]) for s in saved] == [V] * 5
    edited = np.array(saved[1]["points"], dtype=float)
    assert np.allclose(edited, after, atol=1e-6)


def test_selecting_a_shape_restyles_only_the_items_whose_selection_changed(qtbot, make_window, dense_folder):
    win = open_dense(make_window, qtbot, dense_folder)
    shapes = win.document.shapes
    items = {s.uid: win.layer.item(s.uid) for s in shapes}
    view = win.canvas.viewport()

    def counts():
        return {u: it.restyles for u, it in items.items()}

    c0 = counts()
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=vp(win, *shapes[0].polygons[0].exterior.mean(axis=0)))
    assert win.layer.selected == {shapes[0].uid}
    c1 = counts()
    assert {u for u in items if c1[u] != c0[u]} == {shapes[0].uid}
    assert items[shapes[0].uid].is_selected_style()
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=vp(win, *shapes[2].polygons[0].exterior.mean(axis=0)))
    c2 = counts()
    assert {u for u in items if c2[u] != c1[u]} == {shapes[0].uid, shapes[2].uid}
    assert not items[shapes[0].uid].is_selected_style() and items[shapes[2].uid].is_selected_style()
    # an edit of one shape rebuilds that item only, and restyles nothing
    win.document.replace_shape(shapes[3].uid, shapes[3].with_vertex_moved((0, 0, 5), (590.0, 1300.0)))
    assert counts() == c2


def brute_force_shape_at(shapes, x, y, tol):
    """The plain top-down scan, no boxes anywhere."""
    for s in range(len(shapes) - 1, -1, -1):
        if hit_testing.point_in_shape(shapes[s], x, y):
            return s
        if tol > 0 and hit_testing.nearest_edge([shapes[s]], x, y, tol) is not None:
            return s
    return None


@pytest.mark.parametrize("tol", [0.0, 4.0])
def test_the_spatial_index_answers_like_a_brute_force_scan(tol):
    rng = np.random.default_rng(7)
    shapes = []
    for i in range(60):
        ext = wobbly(*rng.uniform(0, 500, 2), rng.uniform(5, 60), v=int(rng.integers(3, 80)), seed=i)
        ext.setflags(write=False)
        rings = [ext]
        if i % 5 == 0:  # a hole
            hole = (ext - ext.mean(axis=0)) * 0.4 + ext.mean(axis=0)
            hole.setflags(write=False)
            rings.append(hole)
        shapes.append(rings)
    index = ShapeIndex(shapes)
    pts = rng.uniform(-20, 520, size=(600, 2))
    for x, y in pts:
        expected = brute_force_shape_at(shapes, x, y, tol)
        assert index.shape_at(x, y, tol) == expected
        assert hit_testing.shape_at(shapes, x, y, tol) == expected  # with its cached boxes


def test_the_layer_answers_like_a_scan_over_the_window(qtbot, make_window, dense_folder):
    win = open_dense(make_window, qtbot, dense_folder)
    uids = win.layer.visible_uids()
    rings = [[r for e, holes in win.layer.geometry(u).parts for r in (e, *holes)] for u in uids]
    rng = np.random.default_rng(1)
    for x, y in rng.uniform(0, [W, H], size=(300, 2)):
        i = brute_force_shape_at(rings, x, y, 3.0)
        assert win.layer.shape_at(x, y, 3.0) == (None if i is None else uids[i])
        assert win.editor.shape_at(x, y) == brute_force_shape_at_uid(win, x, y)


def brute_force_shape_at_uid(win, x, y):
    uids = win.layer.visible_uids()
    rings = [[r for e, holes in win.layer.geometry(u).parts for r in (e, *holes)] for u in uids]
    i = brute_force_shape_at(rings, x, y, win.editor._tol())
    return None if i is None else uids[i]


def test_bulk_paths_match_the_per_point_construction(qtbot):
    from PySide6.QtGui import QPainterPath, QPolygonF

    rng = np.random.default_rng(3)
    ext, hole = rng.random((57, 2)) * 100, rng.random((4, 2)) * 10 + 40
    path = path_from_rings([ext, hole, np.zeros((1, 2))])
    ref = QPainterPath()
    ref.setFillRule(Qt.FillRule.OddEvenFill)
    for ring in (ext, hole):
        ref.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in ring]))
        ref.closeSubpath()
    assert path.fillRule() == Qt.FillRule.OddEvenFill
    assert np.array_equal(path_points(path), path_points(ref))
    for make in (polygon_from_points, _polygon_by_stream):
        poly = make(ext)
        assert [(p.x(), p.y()) for p in poly] == [tuple(r) for r in ext.tolist()]
    assert polygon_from_points(np.zeros((0, 2))).size() == 0
