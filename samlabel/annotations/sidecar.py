"""labelme-compatible sidecar JSON: read and write one image's annotation.

The file is labelme's: ``version``, ``flags``, ``shapes`` (``label``, ``points``,
``group_id``, ``description``, ``shape_type``, ``flags``, ``mask``), ``imagePath``,
``imageData`` (null), ``imageHeight``, ``imageWidth``. What labelme cannot express goes into
added keys that labelme keeps untouched and ignores:

- ``holes``: the hole rings of a polygon (``points`` stays its exterior, so labelme shows,
  and can edit, the outline);
- a multi-part polygon is written as one labelme shape per part, sharing label and
  ``group_id`` (labelme's convention), each marked ``samlabel_part`` and read back as one
  shape (:mod:`samlabel.annotations.sidecar_parts`); older files' ``parts`` key
  (``[{"points": ..., "holes": [...]}, ...]``, the further parts) is still read;
- ``rle``: a mask shape's COCO RLE of the whole image (labelme's own ``mask`` field, a PNG
  of the box ``points``, is written too, so labelme >= 5.3 shows the mask);
- ``samlabel_fingerprint`` beside ``holes`` and ``rle``: what labelme saw, so a shape moved
  or reshaped in labelme is read as labelme left it
  (:mod:`samlabel.annotations.sidecar_fingerprint`).

Unknown top-level and shape keys are kept and written back; shape types samlabel cannot
edit (circle, line, linestrip...) are kept and written back unchanged. A key twice in one
object and coordinates that are not finite JSON numbers are refused
(:mod:`samlabel.annotations.sidecar_json`).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from samlabel.annotations.atomic import atomic_write_text
from samlabel.annotations.errors import AnnotationError, AnnotationFileError, AnnotationWarning, GeometryError
from samlabel.annotations.geometry import PolygonWithHoles, mask_to_rle, repair_polygons, rle_to_mask
from samlabel.annotations.image_annotation import LABELME_VERSION, ImageAnnotation
from samlabel.annotations.shapes import Shape
from samlabel.annotations.sidecar_fingerprint import (
    FINGERPRINT_KEY,
    fingerprint,
    mask_edited_in_labelme,
    reconcile_polygon,
)
from samlabel.annotations.sidecar_json import load_json, ring
from samlabel.annotations.sidecar_parts import PART_KEY, Piece, allocate_group_ids, join_parts, part_marker, read_marker

TOP_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth")
SHAPE_KEYS = (
    "label", "points", "group_id", "description", "shape_type", "flags", "mask",
    "holes", "parts", "rle", FINGERPRINT_KEY, PART_KEY,
)  # fmt: skip
UNSUPPORTED_KEY = "__samlabel_unsupported_shapes__"  # in ImageAnnotation.extra: [(index, raw shape dict)]


# --- reading ----------------------------------------------------------------------
def read_sidecar(path: str | os.PathLike, image_size: tuple[int, int] | None = None) -> ImageAnnotation:
    """Read a labelme / samlabel JSON file.

    Args:
        path: the JSON file.
        image_size: ``(H, W)`` of the actual image if known; it is used when the file has
            no size, and a mask of another size is an error.

    Raises:
        AnnotationFileError: naming the file (and the shape) and the problem: malformed
        JSON, a key twice in one object, a coordinate that is not a finite number...

    Warns:
        AnnotationWarning: a self-intersecting polygon was repaired, a shape type that
        samlabel cannot edit is kept as is, or holes were dropped because the outline
        was reshaped in labelme.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationFileError(path, f"cannot read the file ({getattr(exc, 'strerror', None) or exc})") from exc
    return annotation_from_dict(load_json(text, path), path, image_size=image_size)


def annotation_from_dict(data: Any, path: str | os.PathLike, image_size: tuple[int, int] | None = None) -> ImageAnnotation:
    """Build an :class:`ImageAnnotation` from parsed labelme JSON (``path`` is for messages)."""
    if not isinstance(data, dict):
        raise AnnotationFileError(path, "not a labelme annotation (the top level is not a JSON object)")
    shapes_data = data.get("shapes", [])
    if not isinstance(shapes_data, list):
        raise AnnotationFileError(path, "'shapes' must be a list")
    height, width = _image_size(data, path, image_size)
    pieces: list[Piece] = []
    unsupported: list[tuple[int, dict]] = []
    for i, raw in enumerate(shapes_data):
        where = f"shape #{i + 1}"
        if not isinstance(raw, dict):
            raise AnnotationFileError(path, f"{where} is not a JSON object")
        label = raw.get("label")
        if isinstance(label, str):
            where += f" ({label!r})"
        kind = raw.get("shape_type") or "polygon"
        if kind not in ("polygon", "rectangle", "point", "mask"):
            warnings.warn(f"{path}: {where}: shape type {kind!r} is kept but cannot be shown or edited", AnnotationWarning, stacklevel=2)
            unsupported.append((i, raw))
            continue
        with _about(path, where):
            index, auto_group_id = read_marker(raw)
            pieces.append(Piece(_shape_from_dict(raw, kind, height, width, path, where), where, index, auto_group_id))
    shapes = [_repaired(piece, path) for piece in join_parts(pieces)]
    extra = {k: v for k, v in data.items() if k not in TOP_KEYS}
    if data.get("imageData"):
        extra["imageData"] = data["imageData"]  # keep an embedded image the file had
    if unsupported:
        extra[UNSUPPORTED_KEY] = unsupported
    flags = data.get("flags") or {}
    if not isinstance(flags, dict):
        raise AnnotationFileError(path, "'flags' must be a JSON object")
    image_path = data.get("imagePath") or ""
    if not isinstance(image_path, str):
        raise AnnotationFileError(path, "'imagePath' must be a string")
    return ImageAnnotation(
        image_path=image_path,
        image_height=height,
        image_width=width,
        shapes=tuple(shapes),
        flags=flags,
        extra=extra,
        version=str(data.get("version") or LABELME_VERSION),
    )


@contextmanager
def _about(path, where: str) -> Iterator[None]:
    """Turn a shape's geometry error into an :class:`AnnotationFileError` naming the shape."""
    try:
        yield
    except AnnotationFileError:
        raise
    except (GeometryError, AnnotationError, ValueError, TypeError) as exc:
        raise AnnotationFileError(path, f"{where}: {exc}") from exc


def _repaired(piece: Piece, path) -> Shape:
    """The piece's shape with its polygons made valid (a warning when they had to be)."""
    shape = piece.shape
    if shape.kind != "polygon":
        return shape
    with _about(path, piece.where):
        fixed, repaired = repair_polygons(shape.polygons)
    if repaired:
        warnings.warn(
            f"{path}: {piece.where}: the polygon intersects itself; it was repaired (save to keep the repair)",
            AnnotationWarning,
            stacklevel=4,
        )
        shape = shape.replace(polygons=fixed)
    return shape


def _image_size(data: dict, path, image_size: tuple[int, int] | None) -> tuple[int, int]:
    h, w = data.get("imageHeight"), data.get("imageWidth")
    if h is None or w is None:
        if image_size is None:
            raise AnnotationFileError(path, "the file has no imageHeight / imageWidth and the image size is unknown")
        return image_size
    if not (isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0):
        raise AnnotationFileError(path, f"imageHeight / imageWidth must be positive integers, got {h!r} / {w!r}")
    if image_size is not None and (h, w) != tuple(image_size):
        raise AnnotationFileError(
            path, f"the file is for a {w}x{h} image but the image is {image_size[1]}x{image_size[0]} (WxH)"
        )
    return h, w


def _holes(value: Any, what: str) -> list[np.ndarray]:
    if value is not None and not isinstance(value, list):
        raise GeometryError(f"{what} must be a list of rings")
    out = []
    for j, hole in enumerate(value or []):
        hole_ring = ring(hole, f"hole #{j + 1}")
        if len(hole_ring) < 3:
            raise GeometryError(f"hole #{j + 1} needs at least 3 points, got {len(hole_ring)}")
        out.append(hole_ring)
    return out


def _exterior(points: Any, what: str) -> np.ndarray:
    exterior = ring(points, what)
    if len(exterior) < 3:
        raise GeometryError(f"a polygon needs at least 3 points, got {len(exterior)}")
    return exterior


def _polygons(raw: dict, path, where: str) -> list[PolygonWithHoles]:
    """A polygon shape's parts (its own and old-style ``parts``), adjusted to labelme's edits."""
    exterior = _exterior(raw.get("points"), "points")
    holes = _holes(raw.get("holes"), "holes")
    parts = []
    parts_data = raw.get("parts") or []
    if not isinstance(parts_data, list):
        raise GeometryError("parts must be a list")
    for j, part in enumerate(parts_data):
        if not isinstance(part, dict):
            raise GeometryError(f"part #{j + 2} must be a JSON object")
        parts.append((_exterior(part.get("points"), f"part #{j + 2}"), _holes(part.get("holes"), f"part #{j + 2} holes")))
    holes, parts, dropped = reconcile_polygon(raw, exterior, holes, parts)
    if dropped:
        warnings.warn(
            f"{path}: {where}: the outline was reshaped in another program; {dropped} hole(s) no longer "
            "inside it were dropped (save to keep the change)",
            AnnotationWarning,
            stacklevel=5,
        )
    return [PolygonWithHoles(exterior, tuple(holes))] + [PolygonWithHoles(e, tuple(hs)) for e, hs in parts]


def _shape_from_dict(raw: dict, kind: str, height: int, width: int, path, where: str) -> Shape:
    """One labelme shape; polygons are not repaired yet (parts are joined first)."""
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        raise GeometryError(f"the label must be a non-empty string, got {label!r}")
    group_id = raw.get("group_id")
    if group_id is not None and (not isinstance(group_id, int) or isinstance(group_id, bool)):
        raise GeometryError(f"group_id must be an integer or null, got {group_id!r}")
    flags = raw.get("flags") or {}
    if not isinstance(flags, dict):
        raise GeometryError("flags must be a JSON object")
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise GeometryError("description must be a string")
    common = dict(
        group_id=group_id,
        flags=flags,
        description=description,
        extra={k: v for k, v in raw.items() if k not in SHAPE_KEYS},
    )
    points = raw.get("points")
    if kind == "polygon":
        return Shape(label, "polygon", polygons=tuple(_polygons(raw, path, where)), **common)
    if kind == "rectangle":
        pts = ring(points, "points") if points else np.zeros((0, 2))
        if len(pts) == 4:  # some tools write all four corners
            pts = np.array([pts.min(0), pts.max(0)])
        if len(pts) != 2:
            raise GeometryError(f"a rectangle needs 2 points, got {len(pts)}")
        return Shape(label, "rectangle", points=pts, **common)
    if kind == "point":
        pts = ring(points, "points") if points else np.zeros((0, 2))
        if len(pts) != 1:
            raise GeometryError(f"a point needs 1 point, got {len(pts)}")
        return Shape(label, "point", points=pts, **common)
    # mask: samlabel's rle unless labelme changed the mask or its box since samlabel wrote it
    if raw.get("rle") is not None and not mask_edited_in_labelme(raw):
        shape = Shape(label, "mask", rle=raw["rle"], **common)
    elif raw.get("mask"):
        shape = Shape(label, "mask", rle=mask_to_rle(_labelme_mask(raw["mask"], points, height, width)), **common)
    else:
        raise GeometryError("a mask shape has neither 'rle' nor 'mask' data")
    if shape.mask_size != (height, width):
        mh, mw = shape.mask_size  # type: ignore[misc]
        raise GeometryError(f"the mask is {mw}x{mh} but the image is {width}x{height} (WxH)")
    return shape


def _labelme_mask(b64: str, points: Any, height: int, width: int) -> np.ndarray:
    """labelme's mask: a PNG of the box from ``points[0]`` (inclusive pixel indices)."""
    try:
        crop = np.array(Image.open(io.BytesIO(base64.b64decode(b64)))).astype(bool)
    except Exception as exc:
        raise GeometryError(f"the mask image cannot be decoded ({exc})") from exc
    if crop.ndim == 3:
        crop = crop.any(axis=2)
    pts = ring(points, "points")
    x0, y0 = int(math.floor(pts[:, 0].min())), int(math.floor(pts[:, 1].min()))
    ch, cw = crop.shape
    if x0 < 0 or y0 < 0 or y0 + ch > height or x0 + cw > width:
        raise GeometryError(f"the {cw}x{ch} mask at ({x0}, {y0}) does not fit in the {width}x{height} image (WxH)")
    full = np.zeros((height, width), dtype=bool)
    full[y0 : y0 + ch, x0 : x0 + cw] = crop
    return full


# --- writing ----------------------------------------------------------------------
def _points(arr: np.ndarray) -> list[list[float]]:
    return [[float(x), float(y)] for x, y in arr]


def _labelme_keys(shape: Shape, points: list, group_id: int | None) -> dict[str, Any]:
    return {
        "label": shape.label,
        "points": points,
        "group_id": group_id,
        "description": shape.description,
        "shape_type": shape.kind,
        "flags": dict(shape.flags),
        "mask": None,
    }


def _polygon_dicts(shape: Shape, auto_group_id: int | None) -> list[dict]:
    """One labelme shape per part (several only for a multi-part polygon)."""
    count = len(shape.polygons)
    group_id = shape.group_id if auto_group_id is None else auto_group_id
    out = []
    for index, poly in enumerate(shape.polygons, start=1):
        points = _points(poly.exterior)
        item = _labelme_keys(shape, points, group_id)
        if poly.holes:
            item["holes"] = [_points(h) for h in poly.holes]
            item[FINGERPRINT_KEY] = fingerprint(points)
        if count > 1:
            item[PART_KEY] = part_marker(index, count, auto_group_id)
        out.append(item)
    return out


def _mask_dict(shape: Shape) -> dict:
    full = rle_to_mask(shape.rle)  # type: ignore[arg-type]
    x0, y0, x1, y1 = (int(v) for v in shape.bbox())
    points = [[float(x0), float(y0)], [float(max(x1 - 1, x0)), float(max(y1 - 1, y0))]]
    crop = full[y0:y1, x0:x1] if x1 > x0 and y1 > y0 else np.zeros((1, 1), dtype=bool)
    buf = io.BytesIO()
    Image.fromarray(crop.astype(np.uint8)).save(buf, format="PNG")
    out = _labelme_keys(shape, points, shape.group_id)
    out["mask"] = base64.b64encode(buf.getvalue()).decode("ascii")
    out["rle"] = dict(shape.rle)  # type: ignore[arg-type]
    out[FINGERPRINT_KEY] = fingerprint(points, out["mask"])
    return out


def shape_to_dicts(shape: Shape, auto_group_id: int | None = None) -> list[dict]:
    """One shape as labelme shape dicts (plus samlabel's added keys where needed): one per
    part of a polygon, which shares ``auto_group_id`` when given (the shape has none).
    The shape's unknown keys go on the first."""
    if shape.kind == "polygon":
        out = _polygon_dicts(shape, auto_group_id)
    elif shape.kind == "mask":
        out = [_mask_dict(shape)]
    else:
        out = [_labelme_keys(shape, _points(shape.points), shape.group_id)]  # type: ignore[arg-type]
    for key, value in shape.extra.items():
        if key not in out[0]:
            out[0][key] = value
    return out


def annotation_to_dict(annotation: ImageAnnotation) -> dict:
    """The whole annotation as labelme JSON data."""
    unsupported = annotation.extra.get(UNSUPPORTED_KEY, [])
    allocated = allocate_group_ids(annotation.shapes, (raw for _, raw in unsupported))
    shapes = [item for s in annotation.shapes for item in shape_to_dicts(s, allocated.get(s.uid))]
    for index, raw in unsupported:
        shapes.insert(min(index, len(shapes)), raw)
    out: dict[str, Any] = {
        "version": annotation.version or LABELME_VERSION,
        "flags": dict(annotation.flags),
        "shapes": shapes,
        "imagePath": annotation.image_path,
        "imageData": annotation.extra.get("imageData"),
        "imageHeight": annotation.image_height,
        "imageWidth": annotation.image_width,
    }
    for key, value in annotation.extra.items():
        if key not in out and key != UNSUPPORTED_KEY:
            out[key] = value
    return out


def write_sidecar(path: str | os.PathLike, annotation: ImageAnnotation) -> None:
    """Write atomically; raises :class:`SaveError` (previous file intact) on failure."""
    atomic_write_text(path, dumps(annotation_to_dict(annotation)))


# An indented two-number list; the newlines it must contain never occur inside a JSON
# string (json.dumps escapes them), so text such as a description is left alone.
_POINT = re.compile(r"\[\n\s*(-?[\d.eE+-]+),\n\s*(-?[\d.eE+-]+)\n\s*\]")


def dumps(data: dict) -> str:
    """JSON with 2-space indents like labelme's, but each ``[x, y]`` point on one line."""
    return _POINT.sub(r"[\1, \2]", json.dumps(data, indent=2, ensure_ascii=False)) + "\n"
