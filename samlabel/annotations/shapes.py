"""Shapes: immutable annotation objects (polygon with holes / multi-part, rectangle, point, mask).

Every edit returns a new :class:`Shape` that keeps the same ``uid`` (so the document can
replace it in place and undo can restore the old one). Coordinates are image pixels, pixel
edges on integers (see :mod:`samlabel.annotations.geometry`).

Vertices are addressed by ``(part, ring, index)``: ``part`` indexes ``polygons``, ring 0 is
the exterior and ring ``k`` the ``k-1``-th hole. Rectangles and points use ``(0, 0, index)``
into ``points``.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
from shapely.ops import unary_union

from samlabel.annotations.errors import GeometryError
from samlabel.annotations.geometry import (
    PolygonWithHoles,
    mask_to_polygons,
    mask_to_rle,
    polygons_to_mask,
    rle_area,
    rle_bbox,
    rle_to_mask,
    validate_rle,
)

SHAPE_KINDS = ("polygon", "rectangle", "point", "mask")
VertexRef = tuple[int, int, int]


def new_uid() -> str:
    return uuid.uuid4().hex


def _points(value: Any, count: int, kind: str) -> np.ndarray:
    arr = np.array(value, dtype=np.float64, copy=True).reshape(-1, 2) if value is not None else np.zeros((0, 2))
    if arr.shape != (count, 2):
        raise GeometryError(f"a {kind} needs exactly {count} point(s), got {len(arr)}")
    if not np.all(np.isfinite(arr)):
        raise GeometryError(f"a {kind} has NaN or infinite coordinates")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class Shape:
    """One annotated object.

    Attributes:
        label: class name.
        kind: ``"polygon"``, ``"rectangle"``, ``"point"`` or ``"mask"``.
        polygons: for polygons: one :class:`PolygonWithHoles` per part (largest first).
        points: for rectangles: ``(2, 2)`` two opposite corners; for points: ``(1, 2)``.
        rle: for masks: COCO RLE ``{"size": [H, W], "counts": str}`` of the whole image.
        group_id: instance / group id (shapes sharing a label and group id are one object).
        flags: ``{name: bool}`` shape flags (labelme semantics).
        description: free text.
        uid: stable identity within a session (kept by every ``with_*`` edit).
        extra: keys found in a file that samlabel does not know, written back unchanged.
    """

    label: str
    kind: str = "polygon"
    polygons: tuple[PolygonWithHoles, ...] = ()
    points: np.ndarray | None = None
    rle: dict | None = None
    group_id: int | None = None
    flags: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    uid: str = field(default_factory=new_uid)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise GeometryError(f"a shape needs a non-empty label, got {self.label!r}")
        if self.kind not in SHAPE_KINDS:
            raise GeometryError(f"unknown shape kind {self.kind!r} (expected one of {', '.join(SHAPE_KINDS)})")
        if self.group_id is not None and not isinstance(self.group_id, (int, np.integer)):
            raise GeometryError(f"group_id must be an integer or None, got {self.group_id!r}")
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("flags", dict(self.flags))
        set_("extra", dict(self.extra))
        set_("description", self.description or "")
        if self.group_id is not None:
            set_("group_id", int(self.group_id))
        if self.kind == "polygon":
            polys = tuple(p if isinstance(p, PolygonWithHoles) else PolygonWithHoles(p) for p in self.polygons)
            if not polys:
                raise GeometryError("a polygon shape needs at least one polygon")
            for p in polys:
                for ring in p.rings:
                    if len(ring) < 3:
                        raise GeometryError(f"a polygon needs at least 3 points, got {len(ring)}")
            set_("polygons", polys)
            set_("points", None)
            set_("rle", None)
        elif self.kind in ("rectangle", "point"):
            set_("points", _points(self.points, 2 if self.kind == "rectangle" else 1, self.kind))
            set_("polygons", ())
            set_("rle", None)
        else:
            set_("rle", validate_rle(self.rle))
            set_("polygons", ())
            set_("points", None)

    # --- identity -----------------------------------------------------------------
    def same_content(self, other: "Shape") -> bool:
        """Equal in everything but ``uid``."""
        if not isinstance(other, Shape):
            return False
        return (
            self.label == other.label
            and self.kind == other.kind
            and self.polygons == other.polygons
            and (np.array_equal(self.points, other.points) if self.points is not None else other.points is None)
            and self.rle == other.rle
            and self.group_id == other.group_id
            and self.flags == other.flags
            and self.description == other.description
            and self.extra == other.extra
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Shape):
            return NotImplemented
        return self.uid == other.uid and self.same_content(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Shape({self.kind} {self.label!r}, group_id={self.group_id}, uid={self.uid[:8]})"

    # --- constructors -------------------------------------------------------------
    @classmethod
    def polygon(cls, label: str, exterior: Sequence, holes: Sequence = (), **kw: Any) -> "Shape":
        return cls(label, "polygon", polygons=(PolygonWithHoles(exterior, tuple(holes)),), **kw)

    @classmethod
    def from_polygons(cls, label: str, polygons: Sequence[PolygonWithHoles], **kw: Any) -> "Shape":
        return cls(label, "polygon", polygons=tuple(polygons), **kw)

    @classmethod
    def rectangle(cls, label: str, corner1: Sequence[float], corner2: Sequence[float], **kw: Any) -> "Shape":
        return cls(label, "rectangle", points=np.array([corner1, corner2], dtype=np.float64), **kw)

    @classmethod
    def point(cls, label: str, xy: Sequence[float], **kw: Any) -> "Shape":
        return cls(label, "point", points=np.array([xy], dtype=np.float64), **kw)

    @classmethod
    def from_mask(cls, label: str, mask: np.ndarray, **kw: Any) -> "Shape":
        """A ``mask`` shape storing the ``(H, W)`` mask as RLE."""
        return cls(label, "mask", rle=mask_to_rle(mask), **kw)

    @classmethod
    def polygon_from_mask(
        cls, label: str, mask: np.ndarray, tolerance: float = 1.0, min_area: float = 4.0, **kw: Any
    ) -> "Shape":
        """A polygon shape tracing a mask (holes and parts kept); GeometryError if empty."""
        polygons = mask_to_polygons(mask, tolerance=tolerance, min_area=min_area)
        if not polygons:
            raise GeometryError("the mask is empty (nothing larger than min_area)")
        return cls(label, "polygon", polygons=polygons, **kw)

    # --- measures -----------------------------------------------------------------
    @property
    def mask_size(self) -> tuple[int, int] | None:
        """``(H, W)`` of a mask shape's RLE, else None."""
        return (int(self.rle["size"][0]), int(self.rle["size"][1])) if self.rle else None

    def bbox(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` bounding box in pixel-edge coordinates."""
        if self.kind == "polygon":
            pts = np.vstack([p.exterior for p in self.polygons])
        elif self.kind == "mask":
            x, y, w, h = rle_bbox(self.rle)  # type: ignore[arg-type]
            return (x, y, x + w, y + h)
        else:
            pts = self.points  # type: ignore[assignment]
        return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))

    def area(self) -> float:
        """Area in square pixels (polygon area with holes; pixel count for masks)."""
        if self.kind == "polygon":
            return float(unary_union([p.to_shapely() for p in self.polygons]).area)
        if self.kind == "rectangle":
            (x0, y0), (x1, y1) = self.points  # type: ignore[misc]
            return float(abs(x1 - x0) * abs(y1 - y0))
        if self.kind == "mask":
            return float(rle_area(self.rle))  # type: ignore[arg-type]
        return 0.0

    def to_polygons(self, tolerance: float = 1.0) -> tuple[PolygonWithHoles, ...]:
        """The shape as polygons (rectangles: 4 corners; masks: traced; points: none)."""
        if self.kind == "polygon":
            return self.polygons
        if self.kind == "rectangle":
            x0, y0, x1, y1 = self.bbox()
            return (PolygonWithHoles([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]),)
        if self.kind == "mask":
            return mask_to_polygons(rle_to_mask(self.rle), tolerance=tolerance)  # type: ignore[arg-type]
        return ()

    def to_mask(self, height: int, width: int) -> np.ndarray:
        """``(H, W)`` bool mask. Points give an empty mask. GeometryError when a mask
        shape's size differs from ``(height, width)``."""
        if self.kind == "mask":
            if self.mask_size != (height, width):
                raise GeometryError(f"the mask is {self.mask_size[0]}x{self.mask_size[1]} (HxW) but the image is {height}x{width}")  # type: ignore[index]
            return rle_to_mask(self.rle)  # type: ignore[arg-type]
        return polygons_to_mask(self.to_polygons(), height, width)

    # --- edits (each returns a new Shape with the same uid) -------------------------
    def replace(self, **changes: Any) -> "Shape":
        return dataclasses.replace(self, **changes)

    def with_label(self, label: str) -> "Shape":
        return self.replace(label=label)

    def with_group_id(self, group_id: int | None) -> "Shape":
        return self.replace(group_id=group_id)

    def with_flags(self, flags: Mapping[str, Any]) -> "Shape":
        return self.replace(flags=dict(flags))

    def with_description(self, description: str) -> "Shape":
        return self.replace(description=description)

    def with_new_uid(self) -> "Shape":
        return self.replace(uid=new_uid())

    def translated(self, dx: float, dy: float) -> "Shape":
        if self.kind == "polygon":
            return self.replace(polygons=tuple(p.translated(dx, dy) for p in self.polygons))
        if self.kind == "mask":
            raise GeometryError("a mask shape cannot be moved; convert it to a polygon first")
        return self.replace(points=self.points + np.array([dx, dy]))

    def vertices(self) -> Iterator[tuple[VertexRef, tuple[float, float]]]:
        """Every editable vertex with its ``(part, ring, index)`` address."""
        if self.kind == "polygon":
            for part, poly in enumerate(self.polygons):
                for ring_no, ring in enumerate(poly.rings):
                    for i, (x, y) in enumerate(ring):
                        yield (part, ring_no, i), (float(x), float(y))
        elif self.points is not None:
            for i, (x, y) in enumerate(self.points):
                yield (0, 0, i), (float(x), float(y))

    def _with_ring(self, part: int, ring_no: int, ring: np.ndarray) -> "Shape":
        poly = self.polygons[part]
        rings = list(poly.rings)
        rings[ring_no] = ring
        new_poly = PolygonWithHoles(rings[0], tuple(rings[1:]))
        polygons = self.polygons[:part] + (new_poly,) + self.polygons[part + 1 :]
        return self.replace(polygons=polygons)

    def _ring(self, ref: VertexRef) -> np.ndarray:
        part, ring_no, index = ref
        if self.kind != "polygon":
            raise GeometryError(f"a {self.kind} has no polygon rings")
        try:
            return self.polygons[part].rings[ring_no]
        except IndexError:
            raise GeometryError(f"no ring {ring_no} in part {part} of this shape") from None

    def with_vertex_moved(self, ref: VertexRef, xy: Sequence[float]) -> "Shape":
        part, ring_no, index = ref
        if self.kind in ("rectangle", "point"):
            pts = np.array(self.points)
            pts[index] = xy
            return self.replace(points=pts)
        ring = np.array(self._ring(ref))
        ring[index] = xy
        return self._with_ring(part, ring_no, ring)

    def with_vertex_inserted(self, ref: VertexRef, xy: Sequence[float]) -> "Shape":
        """Insert a vertex at position ``index`` of the ring (before the vertex there;
        ``index == len(ring)`` appends)."""
        part, ring_no, index = ref
        ring = self._ring(ref)
        return self._with_ring(part, ring_no, np.insert(ring, index, np.asarray(xy, dtype=np.float64), axis=0))

    def with_vertex_deleted(self, ref: VertexRef) -> "Shape":
        """Delete one vertex; GeometryError if the ring would keep fewer than 3 points."""
        part, ring_no, index = ref
        ring = self._ring(ref)
        if len(ring) <= 3:
            raise GeometryError("a polygon ring needs at least 3 points; delete the shape (or hole) instead")
        return self._with_ring(part, ring_no, np.delete(ring, index, axis=0))

    def with_part_deleted(self, part: int, hole: int | None = None) -> "Shape":
        """Remove one part, or one hole of a part. GeometryError if it is the last part."""
        if self.kind != "polygon":
            raise GeometryError(f"a {self.kind} has no parts")
        poly = self.polygons[part]
        if hole is not None:
            holes = poly.holes[:hole] + poly.holes[hole + 1 :]
            return self.replace(polygons=self.polygons[:part] + (PolygonWithHoles(poly.exterior, holes),) + self.polygons[part + 1 :])
        if len(self.polygons) == 1:
            raise GeometryError("cannot delete the only part of a polygon; delete the shape instead")
        return self.replace(polygons=self.polygons[:part] + self.polygons[part + 1 :])
