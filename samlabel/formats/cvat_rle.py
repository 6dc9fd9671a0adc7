"""CVAT's mask encoding: a ``<mask>`` element's ``rle``, ``left``, ``top``, ``width`` and
``height`` attributes.

``left, top, width, height`` is the mask's box in image pixels (``width = right - left +
1``); ``rle`` is a comma-separated list of run lengths over that box in row-major order,
alternating background and foreground and starting with background (a first run of 0 when
the box's first pixel is set). This is what CVAT 2.x writes and what Datumaro's CVAT
importer reads.
"""

from __future__ import annotations

import numpy as np

from samlabel.formats.common import FormatError


def encode(mask: np.ndarray) -> dict[str, str] | None:
    """The ``<mask>`` attributes ``{"rle", "left", "top", "width", "height"}`` of an
    ``(H, W)`` bool mask, or None when it is empty."""
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return None
    top, left, bottom, right = int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max())
    flat = np.asarray(mask[top : bottom + 1, left : right + 1], dtype=bool).ravel()
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts.insert(0, 0)
    return {
        "rle": ", ".join(str(c) for c in counts),
        "left": str(left),
        "top": str(top),
        "width": str(right - left + 1),
        "height": str(bottom - top + 1),
    }


def decode(attrs: dict, height: int, width: int, where) -> np.ndarray:
    """The ``(height, width)`` bool mask of a ``<mask>`` element's attributes;
    FormatError naming ``where`` when they are missing, not numbers, outside the image or
    do not add up to the box."""
    try:
        left, top, bw, bh = (int(str(attrs[k]).strip()) for k in ("left", "top", "width", "height"))
        counts = [int(c) for c in str(attrs["rle"]).replace(" ", "").split(",") if c != ""]
    except KeyError as exc:
        raise FormatError(where, f"a <mask> has no {exc.args[0]!r} attribute") from exc
    except ValueError as exc:
        raise FormatError(where, f"a <mask> has an attribute that is not an integer ({exc})") from exc
    if bw <= 0 or bh <= 0 or left < 0 or top < 0 or left + bw > width or top + bh > height:
        raise FormatError(where, f"a <mask> box {left},{top} {bw}x{bh} is not inside the {width}x{height} image")
    if any(c < 0 for c in counts) or sum(counts) != bw * bh:
        raise FormatError(where, f"a <mask>'s rle covers {sum(counts)} pixels, but its box has {bw * bh}")
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    out = np.zeros((height, width), dtype=bool)
    out[top : top + bh, left : left + bw] = flat.reshape(bh, bw)
    return out


__all__ = ["decode", "encode"]
