"""Render one candidate's low-res logits for the displayed region, fast (no Qt here).

The hover preview has a few milliseconds per frame. ``Prediction.mask(region=, out_size=)``
reproduces the reference's two bilinear passes exactly, which is what accepting a mask
uses. For *display* one bilinear resize of a crop of the ``(256, 256)`` logits straight to
the screen pixels of the region is enough: it samples the same bilinear surface (up to the
reference's intermediate rounding), and OpenCV does it in one pass over the region's pixels
(figures: docs/performance.md, "Hover overlay: crop + one `cv2.resize`").

Accepting is geometry and lives in ``samlabel.annotations.mask_tracing``: ``remove_specks``
cleans the full-resolution mask (the one speck removal of an accepted mask, in
``SamController.accepted_mask``), ``trace_shape`` turns the clean mask into a polygon
``Shape`` without cleaning it again (run in a background task when ``count_regions`` says
the mask is fragmented enough to take a while).

Coordinates: the low-res grid covers the padded square model input (``input_side``
pixels, the image occupying the top-left ``input_size``), so original pixel ``x`` sits at
low-res coordinate ``x * (input_w / W) * (256 / input_side)``.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np



def region_mask(
    logits: np.ndarray,
    original_size: tuple[int, int],
    input_size: tuple[int, int],
    input_side: int,
    region: Sequence[int],
    out_size: tuple[int, int],
    threshold: float = 0.0,
) -> np.ndarray:
    """``(h, w)`` bool mask of ``region`` ``(x0, y0, x1, y1)`` sampled at ``out_size`` ``(w, h)``.

    Args:
        logits: ``(256, 256)`` low-res logits of one candidate.
        original_size: ``(H, W)`` of the image; input_size: ``(h, w)`` of the resized image.

    The map from screen pixels to low-res coordinates is a scale and an offset per axis, so
    a crop of the logits and one ``cv2.resize`` (separable, ~8x cheaper than the equivalent
    ``warpAffine``) sample it. The crop starts on a whole low-res pixel, so the result may sit
    up to half a screen pixel off the exact warp; it is exact when the region is the whole
    image. Falls back to ``warpAffine`` when the view shrinks the logits (fewer than 256
    screen pixels across the image) or the crop cannot cover it.
    """
    H, W = original_size
    ih, iw = input_size
    side = logits.shape[-1]
    x0, y0, x1, y1 = (float(v) for v in region)
    ow, oh = int(out_size[0]), int(out_size[1])
    # low-res units per original pixel (x and y differ only by rounding of input_size)
    sx = iw / W * side / input_side
    sy = ih / H * side / input_side
    # output pixel centre (u + 0.5) -> original x0 + (u + 0.5) * (x1 - x0) / ow
    # -> low-res coordinate (that * s) - 0.5 (pixel centres at .5 in OpenCV's convention)
    ax = (x1 - x0) / ow * sx
    ay = (y1 - y0) / oh * sy
    bx = (x0 + 0.5 * (x1 - x0) / ow) * sx - 0.5
    by = (y0 + 0.5 * (y1 - y0) / oh) * sy - 0.5
    src = np.ascontiguousarray(logits, dtype=np.float32)
    cols = _resize_window(ax, bx, ow, src.shape[1])
    rows = _resize_window(ay, by, oh, src.shape[0])
    if cols is not None and rows is not None:
        (c0, c1, u0), (r0, r1, v0) = cols, rows
        big = cv2.resize(src[r0:r1, c0:c1], None, fx=1.0 / ax, fy=1.0 / ay, interpolation=cv2.INTER_LINEAR)
        if big.shape[0] >= v0 + oh and big.shape[1] >= u0 + ow:
            return big[v0 : v0 + oh, u0 : u0 + ow] > threshold
    m = np.array([[ax, 0.0, bx], [0.0, ay, by]], dtype=np.float64)
    out = cv2.warpAffine(src, m, (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    return out > threshold


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(c0, r0, c1, r1)`` (half-open) of the true pixels of ``(h, w)`` ``mask``; None if none.

    The overlay repaints only the union of the old and new boxes: a hover mask of an object
    covers a fraction of the view, and the repaint (background blit and blend) costs in
    proportion to the area.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _resize_window(a: float, b: float, n: int, length: int):
    """Crop ``[c0, c1)`` of a ``length``-long axis and first output index ``t0`` such that
    ``cv2.resize(crop, fx=1/a)[t0 + u]`` samples source coordinate ``a * u + b`` (to within
    half an output pixel), for ``u`` in ``[0, n)``. ``None`` unless the axis is magnified
    (``a < 1``: half an output pixel is then less than half a low-res pixel).

    ``cv2.resize`` maps output ``t`` to crop coordinate ``(t + 0.5) * a - 0.5``, clamping at
    the crop's ends like the image border (hence the margin kept around the samples).
    """
    if not (0 < a < 1 and np.isfinite(b)) or n <= 0:  # a >= 1: shrinking, where the shift could alias
        return None
    margin = 2
    c0 = max(0, int(np.floor(b)) - margin)
    c1 = min(length, int(np.floor(a * (n - 1) + b)) + 1 + margin)
    if c1 <= c0:
        return None
    t0 = int(round((b + 0.5 - c0) / a - 0.5))
    if t0 < 0:
        return None
    return c0, c1, t0
