"""Mask <-> polygon geometry.

Coordinates are image pixels with the *pixel-edge* convention used by COCO and by Qt's
scene: pixel ``(row i, col j)`` covers ``[j, j+1] x [i, i+1]``, so a polygon around the
whole image is ``(0,0)-(W,H)``. Rasterising tests pixel centres (``j+0.5, i+0.5``) through
pycocotools, so what we draw is exactly what ``COCO.annToMask`` gives back.

Vectorising (``mask_to_polygons``, implemented in ``mask_tracing``) fills pin-holes and
drops specks below ``min_area`` pixels by connected-component area, then traces the pixel
edges of what is left in one OpenCV ``RETR_CCOMP`` contour pass (outer boundaries and
holes) over a doubled "corner lattice", so one-pixel-wide features and single pixels keep
their area. Each part is simplified with ``approxPolyDP`` at ``tolerance`` pixels and
checked against its own pixels in its own box; only parts that fall below ``min_iou`` are
retried with a smaller tolerance. Shapely's ``make_valid`` runs only on parts that are not
valid. Multi-part objects stay multi-part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from shapely import make_valid
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.ops import unary_union

from samlabel.annotations.errors import GeometryError


def _as_ring(points, what: str = "ring") -> np.ndarray:
    arr = np.array(points, dtype=np.float64, copy=True)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise GeometryError(f"a {what} must be an (N, 2) array of x, y points, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise GeometryError(f"a {what} contains NaN or infinite coordinates")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class PolygonWithHoles:
    """One polygon part: an exterior ring and zero or more hole rings.

    Rings are read-only float64 arrays ``(N, 2)`` of ``x, y`` image pixels, not closed
    (the first point is not repeated at the end).
    """

    exterior: np.ndarray
    holes: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "exterior", _as_ring(self.exterior, "polygon exterior"))
        object.__setattr__(self, "holes", tuple(_as_ring(h, "polygon hole") for h in self.holes))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PolygonWithHoles):
            return NotImplemented
        return (
            np.array_equal(self.exterior, other.exterior)
            and len(self.holes) == len(other.holes)
            and all(np.array_equal(a, b) for a, b in zip(self.holes, other.holes))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PolygonWithHoles({len(self.exterior)} points, {len(self.holes)} holes)"

    @property
    def rings(self) -> tuple[np.ndarray, ...]:
        """``(exterior, *holes)``; ring index 0 is the exterior."""
        return (self.exterior, *self.holes)

    def to_shapely(self) -> Polygon:
        return Polygon(self.exterior, [h for h in self.holes if len(h) >= 3])

    @classmethod
    def from_shapely(cls, polygon: Polygon) -> "PolygonWithHoles":
        polygon = orient(polygon, sign=1.0)
        exterior = np.asarray(polygon.exterior.coords)[:-1]
        holes = tuple(np.asarray(ring.coords)[:-1] for ring in polygon.interiors)
        return cls(exterior, holes)

    def translated(self, dx: float, dy: float) -> "PolygonWithHoles":
        d = np.array([dx, dy])
        return PolygonWithHoles(self.exterior + d, tuple(h + d for h in self.holes))


def polygons_from_geometry(geom: BaseGeometry, min_area: float = 0.0) -> tuple[PolygonWithHoles, ...]:
    """The polygonal parts of any shapely geometry, largest first; parts and holes below
    ``min_area`` square pixels are dropped."""
    parts: list[Polygon] = []

    def collect(g: BaseGeometry) -> None:
        if g.is_empty:
            return
        if isinstance(g, Polygon):
            parts.append(g)
        elif isinstance(g, (MultiPolygon, GeometryCollection)):
            for sub in g.geoms:
                collect(sub)

    collect(geom)
    out = []
    for part in parts:
        if part.area < max(min_area, 1e-9):
            continue
        holes = [ring for ring in part.interiors if Polygon(ring).area >= max(min_area, 1e-9)]
        out.append(Polygon(part.exterior, holes))
    out.sort(key=lambda p: -p.area)
    return tuple(PolygonWithHoles.from_shapely(p) for p in out)


def to_shapely(polygons: Sequence[PolygonWithHoles]) -> MultiPolygon:
    return MultiPolygon([p.to_shapely() for p in polygons if len(p.exterior) >= 3])


def repair_polygons(polygons: Sequence[PolygonWithHoles]) -> tuple[tuple[PolygonWithHoles, ...], bool]:
    """Make polygons valid (self-intersections, overlapping parts) with ``make_valid``.

    Returns ``(polygons, repaired)``; ``repaired`` is False when they were already valid
    (then they are returned unchanged). Raises :class:`GeometryError` if nothing with an
    area is left.
    """
    for p in polygons:
        for ring in p.rings:
            if len(ring) < 3:
                raise GeometryError(f"a polygon ring needs at least 3 points, got {len(ring)}")
    parts = [p.to_shapely() for p in polygons]
    if all(part.is_valid for part in parts) and (len(parts) < 2 or MultiPolygon(parts).is_valid):
        return tuple(polygons), False
    fixed = polygons_from_geometry(unary_union([make_valid(part) for part in parts]))
    if not fixed:
        raise GeometryError("the polygon has no area (all its points are on a line)")
    return fixed, True


def mask_to_polygons(
    mask: np.ndarray, tolerance: float = 1.0, min_area: float = 4.0, min_iou: float = 0.99
) -> tuple[PolygonWithHoles, ...]:
    """Polygons (with holes, possibly several parts) tracing a binary mask.

    Args:
        mask: ``(H, W)`` bool or integer array; non-zero is foreground.
        tolerance: simplification tolerance in pixels. 0 is no simplification: the
            polygons then rasterise back to exactly the de-specked mask (they follow the
            pixel edges, except that reflex corners and pixel staircases are cut at 45
            degrees through edge midpoints, which covers no other pixel centre). It is an
            upper bound: a part whose simplified rings would rasterise to less than
            ``min_iou`` of its own pixels (thin or tiny parts) is retried with half the
            tolerance, down to none; other parts keep the full tolerance.
        min_area: 8-connected parts and 4-connected holes smaller than this many pixels
            are dropped (before tracing).
        min_iou: see ``tolerance``.

    Returns:
        Parts largest first, in pixel-edge coordinates inside ``(0,0)-(W,H)``; exteriors
        counter-clockwise, holes clockwise (shapely's ``orient(sign=1)``).
    """
    from samlabel.annotations import mask_tracing as tracing

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise GeometryError(f"a mask must be 2-D (H, W), got shape {mask.shape}")
    full = np.ascontiguousarray(mask != 0, dtype=np.uint8)
    x0, y0, bw, bh = cv2.boundingRect(full)  # work in the object's box: small objects are cheap
    if bw == 0 or bh == 0:
        return ()
    binary, labels = tracing.despeckle(np.ascontiguousarray(full[y0 : y0 + bh, x0 : x0 + bw]), min_area)
    parts = tracing.trace_parts(binary, labels, tolerance, min_area, min_iou)
    shift = np.array([x0, y0], dtype=np.float64)
    out: list[PolygonWithHoles] = []
    areas: list[float] = []
    for exterior, holes, area in tracing.valid_parts(parts, min_area):
        out.append(PolygonWithHoles(np.round(exterior + shift, 3), tuple(np.round(h + shift, 3) for h in holes)))
        areas.append(area)
    order = np.argsort(-np.asarray(areas), kind="stable")
    return tuple(out[k] for k in order)


def _rasterize_ring(ring: np.ndarray, height: int, width: int) -> np.ndarray:
    rle = mask_utils.frPyObjects([ring.ravel().tolist()], height, width)
    return mask_utils.decode(rle)[:, :, 0].astype(bool)


def _within_reach(poly: PolygonWithHoles, height: int, width: int) -> tuple[PolygonWithHoles, ...]:
    """``poly`` cut to a box one pixel larger than the image when it reaches further.

    The cut changes no pixel (every pixel centre is inside the box), and it keeps
    pycocotools' integer rasteriser away from coordinates it cannot hold (it crashed
    the process on a vertex at 1e300).
    """
    rings = np.vstack(poly.rings)
    if rings.min() >= -1 and rings[:, 0].max() <= width + 1 and rings[:, 1].max() <= height + 1:
        return (poly,)
    return polygons_from_geometry(make_valid(poly.to_shapely()).intersection(box(-1, -1, width + 1, height + 1)))


def polygons_to_mask(polygons: Iterable[PolygonWithHoles], height: int, width: int) -> np.ndarray:
    """Rasterise polygons (holes respected, parts OR-ed) into a ``(H, W)`` bool mask.

    A pixel is set when its centre is inside, exactly as pycocotools rasterises COCO
    polygons. Each part is drawn in its own bounding box, so small shapes on large images
    are cheap.
    """
    out = np.zeros((height, width), dtype=bool)
    for poly in (part for p in polygons for part in _within_reach(p, height, width)):
        if len(poly.exterior) < 3:
            continue
        x0 = max(int(np.floor(poly.exterior[:, 0].min())), 0)
        y0 = max(int(np.floor(poly.exterior[:, 1].min())), 0)
        x1 = min(int(np.ceil(poly.exterior[:, 0].max())) + 1, width)
        y1 = min(int(np.ceil(poly.exterior[:, 1].max())) + 1, height)
        if x1 <= x0 or y1 <= y0:
            continue
        offset = np.array([x0, y0], dtype=np.float64)
        bh, bw = y1 - y0, x1 - x0
        part = _rasterize_ring(poly.exterior - offset, bh, bw)
        for hole in poly.holes:
            if len(hole) >= 3:
                part &= ~_rasterize_ring(hole - offset, bh, bw)
        out[y0:y1, x0:x1] |= part
    return out


# --- RLE ------------------------------------------------------------------------------
def mask_to_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE ``{"size": [H, W], "counts": str}`` of a ``(H, W)`` mask."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise GeometryError(f"a mask must be 2-D (H, W), got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask != 0, dtype=np.uint8))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def _coco_rle(rle: dict) -> dict:
    counts = rle["counts"]
    h, w = int(rle["size"][0]), int(rle["size"][1])
    if isinstance(counts, list):  # uncompressed RLE
        return mask_utils.frPyObjects(rle, h, w)
    return {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def validate_rle(rle: object) -> dict:
    """Check that ``rle`` is a COCO RLE dict; returns it with ``counts`` as str."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise GeometryError("a mask must be a COCO RLE dict with 'size' and 'counts'")
    size = rle["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise GeometryError(f"an RLE 'size' must be [height, width] positive integers, got {size!r}")
    try:
        decoded = mask_utils.decode(_coco_rle(rle))
    except Exception as exc:  # pycocotools raises plain exceptions on garbage
        raise GeometryError(f"the RLE mask cannot be decoded ({exc})") from exc
    if decoded.shape[:2] != (size[0], size[1]):
        raise GeometryError("the RLE mask cannot be decoded (wrong length)")
    counts = rle["counts"]
    if isinstance(counts, list):
        return mask_to_rle(decoded)
    return {"size": [size[0], size[1]], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def rle_to_mask(rle: dict) -> np.ndarray:
    """``(H, W)`` bool mask of a COCO RLE (compressed or uncompressed)."""
    return mask_utils.decode(_coco_rle(rle)).astype(bool)


def rle_area(rle: dict) -> int:
    return int(mask_utils.area(_coco_rle(rle)))


def rle_bbox(rle: dict) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` of the mask, COCO style."""
    x, y, bw, bh = mask_utils.toBbox(_coco_rle(rle)).tolist()
    return (x, y, bw, bh)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two masks (1.0 when both are empty)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
