"""Which shape, vertex or edge is under the mouse (no Qt here).

A shape is given as a list of rings, each an ``(N, 2)`` float array of ``(x, y)`` image
pixels: ring 0 is the exterior, the others are holes. Tolerances are in image pixels; the
canvas converts its screen tolerance by the zoom factor before asking.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Sequence

import numpy as np

Rings = Sequence[np.ndarray]


@dataclass(frozen=True)
class VertexHit:
    shape: int  # index into the list of shapes given
    ring: int
    vertex: int
    distance: float


@dataclass(frozen=True)
class EdgeHit:
    shape: int
    ring: int
    edge: int  # the edge from vertex ``edge`` to ``edge + 1``; insert at ``edge + 1``
    point: tuple[float, float]  # the closest point on the edge
    distance: float


def _ring(ring) -> np.ndarray:
    return np.asarray(ring, dtype=np.float64).reshape(-1, 2)


def nearest_vertex(shapes: Sequence[Rings], x: float, y: float, tol: float) -> VertexHit | None:
    """The vertex closest to ``(x, y)`` within ``tol`` (later shapes win ties: they are on top)."""
    best: VertexHit | None = None
    for s, rings in enumerate(shapes):
        for r, ring in enumerate(rings):
            pts = _ring(ring)
            if len(pts) == 0:
                continue
            d = np.hypot(pts[:, 0] - x, pts[:, 1] - y)
            i = int(np.argmin(d))
            if d[i] <= tol and (best is None or d[i] <= best.distance):
                best = VertexHit(s, r, i, float(d[i]))
    return best


def nearest_edge(shapes: Sequence[Rings], x: float, y: float, tol: float) -> EdgeHit | None:
    """The closed-ring edge closest to ``(x, y)`` within ``tol``."""
    best: EdgeHit | None = None
    p = np.array([x, y], dtype=np.float64)
    for s, rings in enumerate(shapes):
        for r, ring in enumerate(rings):
            a = _ring(ring)
            if len(a) < 2:
                continue
            b = np.roll(a, -1, axis=0)
            ab = b - a
            denom = np.maximum((ab**2).sum(axis=1), 1e-12)
            t = np.clip(((p - a) * ab).sum(axis=1) / denom, 0.0, 1.0)
            proj = a + t[:, None] * ab
            d = np.hypot(proj[:, 0] - x, proj[:, 1] - y)
            i = int(np.argmin(d))
            if d[i] <= tol and (best is None or d[i] <= best.distance):
                best = EdgeHit(s, r, i, (float(proj[i, 0]), float(proj[i, 1])), float(d[i]))
    return best


_BOUNDS: dict[int, tuple] = {}  # id(read-only array) -> (weakref, bounds)


def _forget(key: int) -> None:
    _BOUNDS.pop(key, None)


def ring_bounds(ring) -> tuple[float, float, float, float] | None:
    """``(x0, y0, x1, y1)`` of a ring, None when empty.

    Cached for read-only numpy arrays (the document's shapes are immutable), so testing a
    point against the box of every shape on a click costs a dictionary look-up per ring.
    """
    key = id(ring)
    hit = _BOUNDS.get(key)
    if hit is not None and hit[0]() is ring:
        return hit[1]
    pts = _ring(ring)
    if len(pts) == 0:
        return None
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    bounds = (float(x0), float(y0), float(x1), float(y1))
    if isinstance(ring, np.ndarray) and not ring.flags.writeable:
        try:
            _BOUNDS[key] = (weakref.ref(ring, lambda _r, k=key: _forget(k)), bounds)
        except TypeError:  # pragma: no cover - arrays that refuse weak references
            pass
    return bounds


def _near_box(rings: Rings, x: float, y: float, tol: float) -> bool:
    """Whether ``(x, y)`` is within ``tol`` of some ring's bounding box (a cheap pre-test)."""
    for ring in rings:
        b = ring_bounds(ring)
        if b is not None and b[0] - tol <= x <= b[2] + tol and b[1] - tol <= y <= b[3] + tol:
            return True
    return False


def point_in_ring(ring, x: float, y: float) -> bool:
    """Even-odd ray casting."""
    pts = _ring(ring)
    if len(pts) < 3:
        return False
    xs, ys = pts[:, 0], pts[:, 1]
    xj, yj = np.roll(xs, 1), np.roll(ys, 1)
    crosses = (ys > y) != (yj > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = (xj - xs) * (y - ys) / (yj - ys) + xs
    return bool(np.count_nonzero(crosses & (x < x_at)) % 2)


def point_in_shape(rings: Rings, x: float, y: float) -> bool:
    """Inside the exterior and outside every hole (even-odd over all rings)."""
    return sum(point_in_ring(r, x, y) for r in rings) % 2 == 1


def shape_at(shapes: Sequence[Rings], x: float, y: float, tol: float = 0.0) -> int | None:
    """Index of the topmost (last) shape containing ``(x, y)``, or whose outline is within ``tol``."""
    for s in range(len(shapes) - 1, -1, -1):
        if not _near_box(shapes[s], x, y, tol):  # nothing of it near: neither inside nor on an edge
            continue
        if point_in_shape(shapes[s], x, y):
            return s
        if tol > 0 and nearest_edge([shapes[s]], x, y, tol) is not None:
            return s
    return None


def can_delete_vertex(ring_len: int, is_hole: bool) -> bool:
    """A ring needs at least 3 vertices to stay a polygon."""
    del is_hole
    return ring_len > 3
