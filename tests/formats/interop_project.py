"""The small project the interoperability tests (Datumaro, CVAT, SA-1B) share, with each
object's mask computed here analytically (never by samlabel), and the checks they make.

Three 96x72 images: ``street 1.png`` (a space in the name) with a square ring (a hole),
a two-part ``road sign`` whose parts share group id 5, and a rectangle; ``b.png`` with a
``café`` annulus drawn as a mask shape, a ``road sign`` that is one shape in two slanted
parts (no group id), and a point; ``empty.png`` without shapes. Labels with a space and
an accent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from samlabel.annotations import ImageAnnotation, LabelSet, PolygonWithHoles, Project, Shape

H, W = 72, 96
_K3 = np.ones((3, 3), np.uint8)


def dilate(mask: np.ndarray) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), _K3).astype(bool)


def erode(mask: np.ndarray) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), _K3, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
YY, XX = np.mgrid[:H, :W]
CX, CY = XX + 0.5, YY + 0.5  # pixel centres: a pixel is inside a polygon when its centre is
LABELS = ["car", "road sign", "café", "person"]


def box_mask(x0, y0, x1, y1) -> np.ndarray:
    return (CX > x0) & (CX < x1) & (CY > y0) & (CY < y1)


def convex_mask(points) -> np.ndarray:
    """Pixels whose centre is inside the convex polygon ``points`` (counter-clockwise
    in image coordinates, y down: each edge has the inside on its left... either way)."""
    pts = np.asarray(points, dtype=float)
    signs = []
    for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0)):
        signs.append((x1 - x0) * (CY - y0) - (y1 - y0) * (CX - x0))
    signs = np.array(signs)
    return np.all(signs > 0, axis=0) | np.all(signs < 0, axis=0)


@dataclass
class Obj:
    """One object: its label, group id, kind, mask, the pixels of its holes (those outside
    the one-pixel band), and the polygon parts (exterior rings) it was drawn with (None for
    masks and boxes)."""

    label: str
    group_id: int | None
    kind: str  # polygon / mask / rectangle
    mask: np.ndarray
    hole: np.ndarray | None = None
    parts: list | None = None
    box: tuple | None = None


@dataclass
class ImageSpec:
    name: str
    shapes: list[Shape]
    objects: list[Obj]
    points: list[tuple[str, tuple[float, float]]] = field(default_factory=list)


RING_OUT, RING_IN = (8, 8, 40, 40), (18, 18, 30, 30)
SIGN_A, SIGN_B = (50, 6, 62, 18), (70, 6, 84, 20)
PERSON = (45, 35, 60, 65)
TRI = [(20, 6), (50, 6), (35, 24)]
DIAMOND = [(70, 40), (85, 52), (70, 66), (55, 52)]


def _corners(b):
    x0, y0, x1, y1 = b
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def specs() -> list[ImageSpec]:
    ring = box_mask(*RING_OUT) & ~box_mask(*RING_IN)
    a = ImageSpec(
        "street 1.png",
        [
            Shape.polygon("car", _corners(RING_OUT), holes=[_corners(RING_IN)], group_id=3),
            Shape.polygon("road sign", _corners(SIGN_A), group_id=5),
            Shape.polygon("road sign", _corners(SIGN_B), group_id=5),
            Shape.rectangle("person", PERSON[:2], PERSON[2:]),
        ],
        [
            Obj("car", 3, "polygon", ring, hole=erode(box_mask(*RING_IN)), parts=None),
            Obj("road sign", 5, "polygon", box_mask(*SIGN_A) | box_mask(*SIGN_B), parts=[_corners(SIGN_A), _corners(SIGN_B)]),
            Obj("person", None, "rectangle", box_mask(*PERSON), box=PERSON),
        ],
    )
    d2 = (CX - 28) ** 2 + (CY - 48) ** 2  # clear of the triangle: no overlap to paint over
    annulus, inner = (d2 <= 20**2) & (d2 > 8**2), d2 <= 8**2
    b = ImageSpec(
        "b.png",
        [
            Shape.from_mask("café", annulus),
            Shape.from_polygons("road sign", [PolygonWithHoles(TRI), PolygonWithHoles(DIAMOND)]),
            Shape.point("person", (5, 5)),
        ],
        [
            Obj("café", None, "mask", annulus, hole=erode(inner)),
            Obj("road sign", None, "polygon", convex_mask(TRI) | convex_mask(DIAMOND), parts=[TRI, DIAMOND]),
        ],
        points=[("person", (5.0, 5.0))],
    )
    return [a, b, ImageSpec("empty.png", [], [])]


def make_project(root: Path) -> list[ImageSpec]:
    """Write the project (images, sidecars, labels.txt) into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(27)
    out = specs()
    for spec in out:
        Image.fromarray((rng.random((H, W, 3)) * 255).astype(np.uint8)).save(root / spec.name)
        if spec.shapes:
            Project(root).save(ImageAnnotation(spec.name, H, W, tuple(spec.shapes)))
    LabelSet(LABELS).save(root / "labels.txt")
    return out


# --- what a reader found, and the checks ------------------------------------------
@dataclass
class Found:
    """An object a reader (Datumaro or samlabel) found: label, group id, mask."""

    label: str | None
    group_id: int | None
    mask: np.ndarray


def rle_mask(rle: dict) -> np.ndarray:
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)


def polygon_mask(flat: list[float]) -> np.ndarray:
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([flat], H, W))).astype(bool)


def band(mask: np.ndarray) -> np.ndarray:
    """The pixels within one pixel of ``mask``'s outline (where conventions may differ)."""
    return dilate(mask) & ~erode(mask)


def iou_outside_band(expected: np.ndarray, got: np.ndarray) -> float:
    keep = ~band(expected)
    a, b = expected & keep, got & keep
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


@dataclass
class Check:
    """The result of matching what a reader found against the expected objects."""

    expected: int = 0
    matched: int = 0
    min_iou: float = 1.0
    holes_kept: bool = True
    labels_exact: bool = True
    groups_exact: bool = True
    extra: int = 0
    problems: list[str] = field(default_factory=list)


def match(expected: list[Obj], found: list[Found], check: Check, where: str, groups: bool, label_of=None) -> None:
    """Match each expected object to the found object of the same label with the best
    IoU outside the one-pixel band (one to one), recording the worst IoU, holes, labels and
    (``groups``) group ids in ``check``; ``label_of(obj)`` is the label the format can hold."""
    label_of = label_of or (lambda obj: obj.label)
    left = list(found)
    check.expected += len(expected)
    for obj in expected:
        candidates = [f for f in left if f.label == label_of(obj)]
        if not candidates:
            check.labels_exact = False
            check.problems.append(f"{where}: no {label_of(obj)!r} object (found labels {[f.label for f in left]})")
            continue
        best = max(candidates, key=lambda f: iou_outside_band(obj.mask, f.mask))
        iou = iou_outside_band(obj.mask, best.mask)
        left.remove(best)
        check.min_iou = min(check.min_iou, iou)
        if iou < 0.99:
            check.problems.append(f"{where}: {obj.label!r} IoU {iou:.4f} < 0.99")
            continue
        check.matched += 1
        if obj.hole is not None and best.mask[obj.hole].any():
            check.holes_kept = False
            check.problems.append(f"{where}: {obj.label!r} lost its hole ({int(best.mask[obj.hole].sum())} hole pixels set)")
        if groups and obj.group_id is not None and best.group_id != obj.group_id:
            check.groups_exact = False
            check.problems.append(f"{where}: {obj.label!r} group id {best.group_id} != {obj.group_id}")
    check.extra += len(left)
    for f in left:
        check.problems.append(f"{where}: an extra {f.label!r} object ({int(f.mask.sum())} pixels)")
