"""What labelme saw: detect edits made in labelme to shapes that carry samlabel's keys.

labelme rewrites only a shape's ``points`` (and, for masks, its own ``mask`` PNG) and keeps
samlabel's ``holes`` / ``parts`` / ``rle`` as they were. So beside those keys samlabel
writes ``samlabel_fingerprint``: a copy of the ``points`` it wrote and, for masks, a digest
of the ``mask`` it wrote. When a file is read and the labelme-visible part no longer
matches, labelme's version wins:

- a polygon whose outline was only moved (same number of points, one constant offset) gets
  its holes (and any old-style ``parts``) moved by the same offset;
- otherwise the holes that no longer lie inside the new outline are dropped, with a note;
  old-style ``parts`` are separate pieces and are kept;
- a mask shape is decoded from labelme's ``mask`` and box instead of the stale ``rle``.

A file without a fingerprint (older samlabel) is read as before.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from shapely.geometry import Polygon
from shapely import make_valid

from samlabel.annotations.errors import GeometryError
from samlabel.annotations.sidecar_json import ring

FINGERPRINT_KEY = "samlabel_fingerprint"
_TOLERANCE = 1e-6  # pixels; far below anything a person can move, far above float rounding


def mask_digest(b64: str) -> str:
    """A short digest of labelme's base64 ``mask`` text."""
    return hashlib.sha1(b64.encode("ascii", "replace")).hexdigest()


def fingerprint(points: list[list[float]], mask_b64: str | None = None) -> dict:
    """The fingerprint to store beside samlabel's keys for a shape written with ``points``."""
    out: dict[str, Any] = {"points": [list(p) for p in points]}
    if mask_b64:
        out["mask"] = mask_digest(mask_b64)
    return out


def _stored_points(raw: dict) -> np.ndarray | None:
    """The fingerprint's points, or None when the shape has no fingerprint."""
    fp = raw.get(FINGERPRINT_KEY)
    if fp is None:
        return None
    if not isinstance(fp, dict):
        raise GeometryError(f"{FINGERPRINT_KEY} must be a JSON object")
    return ring(fp.get("points"), f"{FINGERPRINT_KEY} points")


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= _TOLERANCE))


def translation(old: np.ndarray, new: np.ndarray) -> tuple[float, float] | None:
    """``(dx, dy)`` when ``new`` is ``old`` moved by one constant offset, else None."""
    if old.shape != new.shape or len(old) == 0:
        return None
    offset = new[0] - old[0]
    if not _same(new - offset, old):
        return None
    return float(offset[0]), float(offset[1])


def _fits(outline: Polygon, hole: np.ndarray) -> bool:
    return len(hole) >= 3 and outline.contains(Polygon(hole))


def reconcile_polygon(
    raw: dict, exterior: np.ndarray, holes: list[np.ndarray], parts: list[tuple[np.ndarray, list[np.ndarray]]]
) -> tuple[list[np.ndarray], list[tuple[np.ndarray, list[np.ndarray]]], int]:
    """Holes and old-style parts adjusted to an outline labelme may have changed.

    Returns ``(holes, parts, dropped)``, ``dropped`` being the number of holes removed
    because the outline changed beyond a move and they no longer fit inside it.
    """
    old = _stored_points(raw)
    if old is None or _same(old, exterior) or not (holes or parts):
        return holes, parts, 0
    shift = translation(old, exterior)
    if shift is not None:
        d = np.array(shift)
        return [h + d for h in holes], [(e + d, [h + d for h in hs]) for e, hs in parts], 0
    outline = Polygon(exterior)
    if not outline.is_valid:
        outline = make_valid(outline)
    kept = [h for h in holes if _fits(outline, h)]
    return kept, parts, len(holes) - len(kept)


def mask_edited_in_labelme(raw: dict) -> bool:
    """True when a mask shape's ``points`` or ``mask`` differ from what samlabel wrote."""
    old = _stored_points(raw)
    mask = raw.get("mask")
    if old is None or not isinstance(mask, str) or not mask:
        return False
    if not _same(old, ring(raw.get("points"), "points")):
        return True
    return raw[FINGERPRINT_KEY].get("mask") != mask_digest(mask)
