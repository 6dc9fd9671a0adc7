"""Fast mask -> polygons tracing (the engine behind ``geometry.mask_to_polygons``).

Exact pixel-edge outlines come from one OpenCV contour pass over a *corner lattice*: an
image ``U`` of shape ``(2h+1, 2w+1)`` whose point ``(2i+1, 2j+1)`` is the centre of pixel
``(i, j)`` and whose even points are pixel corners and edge midpoints. ``U`` is the mask
placed on the odd points and dilated by 3x3, i.e. every foreground pixel's *closed*
square is set. Contours of ``U`` (through its boundary points) are then exactly the pixel
edges of the mask, halved: one-pixel-wide lines, single pixels and pin-holes all come out
as proper polygons, 8-connected components stay one part (they touch at a corner), and a
component of ``U`` is exactly one 8-connected component of the mask. (OpenCV's 8-connected
tracer cuts reflex corners diagonally, from one edge midpoint to the next; such a cut
crosses only a quarter of a background pixel, never its centre, so rasterising is exact.)

Work per call, in order:

1. crop to the mask's bounding box;
2. ``connectedComponentsWithStats`` fills pin-holes and drops specks below ``min_area``
   pixels *before* tracing (the labels also tell each traced part which pixels it stands for);
3. one ``findContours(RETR_CCOMP)`` on the corner lattice (holes below ``min_area``
   pixels were filled in step 2);
4. ``approxPolyDP`` simplifies each ring with ``tolerance`` pixels; each part is
   rasterised *in its own box* and compared with its own component; only parts under
   ``min_iou`` are retried with half the tolerance (down to 0, which is exact);
5. shapely's ``make_valid`` runs only on parts whose ``is_valid`` is False (rings that
   touch themselves at a corner, or that simplification made cross).

Coordinates: pixel ``(i, j)`` covers ``[j, j+1] x [i, i+1]`` (see ``geometry``).

Speck removal is written once, in :func:`despeckle`, and an accepted SAM mask goes
through it once: :func:`remove_specks` cleans it (a limit relative to its largest region,
so never below the 4 px ``mask_to_polygons`` would use), then :func:`count_regions` (does
it need a background task?) and :func:`trace_shape` (mask -> polygon ``Shape``) take the
clean mask as it is: ``trace_shape`` traces with ``min_area=1``, at which
:func:`despeckle` only numbers the components (no hole is filled, no island dropped).
"""

from __future__ import annotations

import cv2
import numpy as np
import shapely
from shapely import GeometryType
from pycocotools import mask as mask_utils
from shapely.geometry import Polygon
from shapely.geometry.polygon import orient

_KERNEL = np.ones((3, 3), np.uint8)


def despeckle(binary: np.ndarray, min_area: float) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, labels)`` for a ``(H, W)`` uint8 0/1 mask cropped to its bounding box.

    Holes (4-connected background not reaching the crop's border) below ``min_area``
    pixels are filled first, then 8-connected components below ``min_area`` pixels
    (counted with their filled holes) dropped. The crop's border stands for the image's:
    background on the bounding box's edge is open to the outside.
    ``kept`` is the resulting ``(H, W)`` uint8 0/1 mask and ``labels`` ``(H, W)`` int32
    numbers its components (0 = background).
    """
    h, w = binary.shape
    if min_area > 1:
        count, holes, stats, _ = cv2.connectedComponentsWithStats(1 - binary, connectivity=4, ltype=cv2.CV_32S)
        left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
        inside = (left > 0) & (top > 0) & (left + stats[:, cv2.CC_STAT_WIDTH] < w) & (top + stats[:, cv2.CC_STAT_HEIGHT] < h)
        fill = inside & (stats[:, cv2.CC_STAT_AREA] < min_area)
        fill[0] = False  # label 0 is the foreground here
        if fill.any():
            binary = binary | fill[holes].view(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8, ltype=cv2.CV_32S)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    if keep[1:].all():
        return binary, labels
    lut = np.where(keep, np.arange(count), 0).astype(np.int32)
    labels = lut[labels]
    return (labels > 0).astype(np.uint8), labels


def edge_contours(binary: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Contours of the pixel edges of a ``(h, w)`` uint8 mask, in *doubled* coordinates.

    Returns OpenCV's ``(contours, hierarchy)`` for ``RETR_CCOMP`` on the corner lattice:
    each contour is ``(N, 1, 2)`` int32 ``x, y`` where ``x / 2, y / 2`` are pixel-edge
    coordinates; ``hierarchy`` is ``(N, 4)``: next, previous, first child, parent.
    """
    h, w = binary.shape
    lattice = np.zeros((2 * h + 1, 2 * w + 1), np.uint8)
    lattice[1::2, 1::2] = binary
    lattice = cv2.dilate(lattice, _KERNEL)
    contours, hierarchy = cv2.findContours(lattice, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return (), np.zeros((0, 4), np.int32)
    return contours, hierarchy[0]


def simplify_contour(contour: np.ndarray, tolerance: float) -> np.ndarray:
    """Doubled-coordinate contour ``(N, 1, 2)`` int32 simplified by ``tolerance`` pixels."""
    if tolerance > 0 and len(contour) > 4:
        return cv2.approxPolyDP(contour, 2.0 * tolerance, True)
    return contour


def _decode(ring2: np.ndarray, x0: int, y0: int, h: int, w: int) -> np.ndarray:
    """``(h, w)`` bool pixel-centre raster (as pycocotools) of a doubled-coordinate ring."""
    points = (ring2[:, 0, :] * 0.5 - (x0, y0)).ravel().tolist()
    return mask_utils.decode(mask_utils.frPyObjects([points], h, w))[:, :, 0].view(bool)


def rasterize_part(exterior2: np.ndarray, holes2, x0: int, y0: int, h: int, w: int) -> np.ndarray:
    """``(h, w)`` bool raster of one part (doubled-coordinate rings) in the box at ``(x0, y0)``.

    Each hole is drawn only in its own box, so a part with many small holes stays cheap.
    """
    out = _decode(exterior2, x0, y0, h, w).copy()
    for hole in holes2:
        hx, hy, hw, hh = _pixel_box(hole)
        hx, hy = max(hx, x0), max(hy, y0)
        hw, hh = min(hw, x0 + w - hx), min(hh, y0 + h - hy)
        if hw > 0 and hh > 0:
            out[hy - y0 : hy - y0 + hh, hx - x0 : hx - x0 + hw] &= ~_decode(hole, hx, hy, hh, hw)
    return out


def _pixel_box(ring2: np.ndarray) -> tuple[int, int, int, int]:
    """Pixel box ``(x0, y0, w, h)`` covering a doubled-coordinate ring."""
    x, y, bw, bh = cv2.boundingRect(ring2)  # inclusive of the last point: bw = max - min + 1
    return x // 2, y // 2, (x + bw) // 2 - x // 2, (y + bh) // 2 - y // 2


def trace_parts(
    binary: np.ndarray, labels: np.ndarray, tolerance: float, min_area: float, min_iou: float
) -> list[tuple[np.ndarray, tuple[np.ndarray, ...], float]]:
    """Simplified ``(exterior, holes, area)`` of every kept component of ``binary``.

    Args:
        binary: ``(h, w)`` uint8 0/1 mask, already de-specked.
        labels: ``(h, w)`` int32 component labels of ``binary`` (from :func:`despeckle`).

    Returns pixel-edge rings ``(N, 2)`` float64 (exterior counter-clockwise, holes
    clockwise, not closed) in the mask's coordinates and the part's area in pixels; parts
    may still be invalid polygons (see :func:`valid_parts`).
    """
    contours, hierarchy = edge_contours(binary)
    parts = []
    for i, contour in enumerate(contours):
        if hierarchy[i][3] != -1:
            continue
        hole_contours = []  # holes below min_area were filled by despeckle()
        child = hierarchy[i][2]
        while child != -1:
            hole_contours.append(contours[child])
            child = hierarchy[child][0]
        parts.append(_fit_part(contour, hole_contours, labels, tolerance, min_iou))
    return parts


def _area2(exterior: np.ndarray, holes) -> float:
    """Area (in doubled coordinates) of an exterior less its holes."""
    return abs(cv2.contourArea(exterior)) - sum(abs(cv2.contourArea(h)) for h in holes)


def _fit_part(contour, hole_contours, labels, tolerance: float, min_iou: float):
    """The coarsest tolerance (``tolerance``, halved, ..., 0) whose rings reach ``min_iou``."""
    target = exact_area = None
    while True:
        exterior = simplify_contour(contour, tolerance)
        holes = [h for h in (simplify_contour(c, tolerance) for c in hole_contours) if len(h) >= 3]
        if tolerance <= 0:
            break
        if len(exterior) >= 3:
            if len(exterior) == len(contour) and sum(map(len, holes)) == sum(map(len, hole_contours)):
                break  # nothing was simplified away: exact
            if exact_area is None:
                exact_area = _area2(contour, hole_contours)
            simple_area = _area2(exterior, holes)
            if min(simple_area, exact_area) < (min_iou - 0.03) * max(simple_area, exact_area):
                # IoU <= smaller area / larger area (raster and polygon areas differ a little,
                # hence the margin): it would fail, skip the raster check
                tolerance = tolerance / 2 if tolerance > 0.2 else 0.0
                continue
            px, py, pw, ph = _pixel_box(contour)
            if target is None:
                # The contour starts at the top-left corner of its component's first pixel.
                label = labels[contour[0, 0, 1] // 2, contour[0, 0, 0] // 2]
                assert label > 0, "a traced part must start on one of its pixels"
                target = labels[py : py + ph, px : px + pw] == label
            drawn = rasterize_part(exterior, holes, px, py, ph, pw)
            union = np.count_nonzero(drawn | target)
            if union and np.count_nonzero(drawn & target) >= min_iou * union:
                break
        tolerance = tolerance / 2 if tolerance > 0.2 else 0.0
    area = cv2.contourArea(exterior, oriented=True)
    if area < 0:
        exterior, area = exterior[::-1], -area
    rings = []
    for hole in holes:
        hole_area = cv2.contourArea(hole, oriented=True)
        rings.append(hole[::-1] if hole_area > 0 else hole)
        area -= abs(hole_area)
    return exterior[:, 0, :] * 0.5, tuple(r[:, 0, :] * 0.5 for r in rings), area / 4.0


def valid_parts(parts, min_area: float):
    """``(exterior, holes, area)`` parts, each a valid polygon; ``make_valid`` runs only on the
    parts whose ``is_valid`` is False, and may split one part into several."""
    if not parts:
        return []
    # one vectorised build of every polygon: closed rings and their offsets
    closed = [np.vstack([r, r[:1]]) for ext, holes, _ in parts for r in (ext, *holes)]
    ring_offsets = np.cumsum([0] + [len(r) for r in closed])
    part_offsets = np.cumsum([0] + [1 + len(holes) for _, holes, _ in parts])
    polygons = shapely.from_ragged_array(GeometryType.POLYGON, np.concatenate(closed), (ring_offsets, part_offsets))
    valid = shapely.is_valid(polygons)
    out = []
    for part, polygon, ok in zip(parts, polygons, valid):
        if ok:
            out.append(part)
            continue
        for piece in _polygonal(shapely.make_valid(polygon)):
            if piece.area < min(min_area, 1.0):
                continue
            piece = orient(piece, sign=1.0)
            rings = tuple(np.asarray(r.coords)[:-1] for r in piece.interiors)
            out.append((np.asarray(piece.exterior.coords)[:-1], rings, piece.area))
    return out


def _polygonal(geom) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygonal(g)]
    return []


def remove_specks(mask: np.ndarray, min_fraction: float = 0.002, min_pixels: int = 9) -> np.ndarray:
    """``(H, W)`` bool ``mask`` without the islands and holes smaller than
    ``max(min_pixels, min_fraction * largest island)`` pixels (:func:`despeckle`'s rules).

    SAM masks often carry single-pixel specks; tracing each one as a polygon part is slow
    and useless. Returns a new ``(H, W)`` bool array.
    """
    full = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(full, connectivity=8)
    out = np.zeros(full.shape, bool)
    if count <= 1:
        return out
    limit = max(min_pixels, int(min_fraction * stats[1:, cv2.CC_STAT_AREA].max()))
    x0, y0, w, h = cv2.boundingRect(full)  # despeckle works in the mask's box
    kept, _ = despeckle(np.ascontiguousarray(full[y0 : y0 + h, x0 : x0 + w]), limit)
    out[y0 : y0 + h, x0 : x0 + w] = kept.view(bool)
    return out


def count_regions(mask: np.ndarray) -> int:
    """Number of 8-connected foreground regions of ``mask``."""
    n, _ = cv2.connectedComponents(np.ascontiguousarray(mask, dtype=np.uint8), connectivity=8)
    return n - 1


#: ``mask_to_polygons``' ``min_area`` for a mask :func:`remove_specks` has cleaned: 1 px
#: keeps every pixel (:func:`despeckle` then only labels components), so the specks are
#: not looked for a second time; every region and hole left is at least ``min_pixels``.
CLEANED_MIN_AREA = 1.0


def trace_shape(mask: np.ndarray, origin, label: str, tolerance: float, progress=None, cancel=None):
    """A polygon ``Shape`` (holes, parts) labelled ``label`` tracing ``mask``, whose top-left
    pixel is image pixel ``origin`` ``(x0, y0)``; ``AnnotationError`` if nothing is left.

    ``mask`` is an accepted mask *already cleaned* by :func:`remove_specks` (the SAM
    controller's ``accepted_mask``): it is traced as it is, every region kept, without a
    second speck removal. ``progress`` and ``cancel`` are accepted (and unused) so that a
    GUI task can run it.
    """
    from samlabel.annotations.errors import AnnotationError
    from samlabel.annotations.geometry import PolygonWithHoles, mask_to_polygons
    from samlabel.annotations.shapes import Shape

    x0, y0 = origin
    polys = mask_to_polygons(mask, tolerance=tolerance, min_area=CLEANED_MIN_AREA)
    polys = tuple(PolygonWithHoles(p.exterior + (x0, y0), tuple(h + (x0, y0) for h in p.holes)) for p in polys)
    if not polys:
        raise AnnotationError("the mask is too small")
    return Shape.from_polygons(label, polys)
