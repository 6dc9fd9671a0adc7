"""Qt-free editing decisions: hit testing and the tool state machines."""

import numpy as np

from samlabel.gui import hit_testing as ht
from samlabel.gui.tools import Box, Click, ClickOrDrag, PolygonDraft, rectangle_polygon

SQUARE = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
HOLE = np.array([[4, 4], [6, 4], [6, 6], [4, 6]], float)


def test_nearest_vertex_within_tolerance_prefers_closest_and_topmost():
    shapes = [[SQUARE], [SQUARE + 0.5]]
    hit = ht.nearest_vertex(shapes, 10.4, 0.4, tol=1.0)
    assert (hit.shape, hit.ring, hit.vertex) == (1, 0, 1)
    assert ht.nearest_vertex(shapes, 5, 5, tol=1.0) is None


def test_nearest_edge_projects_onto_the_edge():
    hit = ht.nearest_edge([[SQUARE]], 5.0, 0.3, tol=1.0)
    assert (hit.shape, hit.ring, hit.edge) == (0, 0, 0)
    assert np.allclose(hit.point, (5.0, 0.0))
    closing = ht.nearest_edge([[SQUARE]], -0.2, 5.0, tol=1.0)
    assert closing.edge == 3  # the edge from the last vertex back to the first
    assert ht.nearest_edge([[SQUARE]], 5, 5, tol=1.0) is None


def test_point_in_shape_respects_holes():
    rings = [SQUARE, HOLE]
    assert ht.point_in_shape(rings, 2, 2)
    assert not ht.point_in_shape(rings, 5, 5)
    assert not ht.point_in_shape(rings, 20, 5)


def test_shape_at_returns_topmost_and_uses_outline_tolerance():
    shapes = [[SQUARE], [SQUARE + 5]]
    assert ht.shape_at(shapes, 7, 7) == 1
    assert ht.shape_at(shapes, 2, 2) == 0
    assert ht.shape_at(shapes, -0.5, 5, tol=1.0) == 0
    assert ht.shape_at(shapes, -0.5, 5) is None


def test_click_or_drag_distinguishes_by_screen_distance():
    t = ClickOrDrag(drag_threshold=5)
    t.press(10, 10, 100, 100, positive=False)
    assert t.move(10.5, 10.5, 103, 102) is None  # still a click
    out = t.release(10.5, 10.5, 103, 102)
    assert out == Click(10, 10, False)
    t.press(10, 10, 100, 100)
    box = t.move(30, 5, 140, 80)
    assert box == Box(10, 10, 30, 5)
    out = t.release(30, 5, 140, 80)
    assert out == Box(10, 5, 30, 10)
    assert not t.active


def test_polygon_draft_closes_near_first_vertex_in_screen_pixels():
    d = PolygonDraft(close_distance=8)
    for x, y in [(0, 0), (100, 0), (100, 100)]:
        assert d.click(x, y, scale=1.0) is None
    assert d.click(3, 3, scale=1.0) == [(0, 0), (100, 0), (100, 100)]
    assert not d.active
    # zoomed out (scale 0.1): 30 image px are 3 screen px -> closes
    for x, y in [(0, 0), (100, 0), (100, 100)]:
        d.click(x, y, scale=0.1)
    assert d.click(30, 0, scale=0.1) is not None


def test_polygon_draft_finish_needs_three_vertices_and_backspace_removes():
    d = PolygonDraft()
    d.click(0, 0, 1)
    d.click(10, 0, 1)
    assert d.finish() is None and d.active
    assert d.remove_last() and d.vertices == [(0, 0)]
    d.cancel()
    assert d.remove_last() is False


def test_rectangle_polygon_is_normalised():
    assert rectangle_polygon(Box(10, 10, 0, 5)) == [(0, 5), (10, 5), (10, 10), (0, 10)]
