"""A spatial index for hit-testing many shapes (no Qt here).

:class:`ShapeIndex` keeps each shape's bounding box in numpy arrays, in drawing order, so
"which shapes could be under this point" is one vectorised comparison instead of a
point-in-polygon test per shape. :meth:`ShapeIndex.shape_at` then runs the exact tests of
:mod:`samlabel.gui.hit_testing` on those candidates only, top first, and so returns what a
brute-force :func:`hit_testing.shape_at` over every shape returns.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from samlabel.gui import hit_testing


def rings_bounds(rings) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` over every ring (NaN when there are no points)."""
    b = [hit_testing.ring_bounds(r) for r in rings]
    b = [x for x in b if x is not None]
    if not b:
        return (np.nan, np.nan, np.nan, np.nan)
    a = np.array(b)
    return (float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 2].max()), float(a[:, 3].max()))


class ShapeIndex:
    """Bounding boxes of ``shapes`` (each a list of rings), bottom to top."""

    def __init__(self, shapes: Sequence[Sequence[np.ndarray]], boxes=None) -> None:
        """``boxes``: the shapes' ``(x0, y0, x1, y1)`` when the caller already knows them."""
        self.shapes = list(shapes)
        if boxes is None:
            boxes = [rings_bounds(r) for r in self.shapes]
        self.boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
        if len(self.boxes) != len(self.shapes):
            raise ValueError("one box per shape")

    def __len__(self) -> int:
        return len(self.shapes)

    def candidates(self, x: float, y: float, tol: float = 0.0) -> np.ndarray:
        """Indices of the shapes whose box (grown by ``tol``) holds ``(x, y)``, top first."""
        b = self.boxes
        with np.errstate(invalid="ignore"):
            hit = (b[:, 0] - tol <= x) & (x <= b[:, 2] + tol) & (b[:, 1] - tol <= y) & (y <= b[:, 3] + tol)
        return np.flatnonzero(hit)[::-1]

    def shape_at(self, x: float, y: float, tol: float = 0.0) -> int | None:
        """Same answer as ``hit_testing.shape_at(self.shapes, x, y, tol)``."""
        for s in self.candidates(x, y, tol):
            rings = self.shapes[s]
            if hit_testing.point_in_shape(rings, x, y):
                return int(s)
            if tol > 0 and hit_testing.nearest_edge([rings], x, y, tol) is not None:
                return int(s)
        return None
