"""Multi-part polygons in labelme files: one labelme shape per part.

labelme's way to draw one object in several pieces is several shapes sharing ``label`` and
``group_id``. samlabel writes each part of a multi-part polygon like that, so labelme shows
(and can edit) every part, and marks each with ``samlabel_part``: ``{"index": k, "count":
n}`` (1-based). A shape without a group id gets one no other shape of the file uses, noted
as ``"auto_group_id"`` in the marker so it reads back as no group id. Each part keeps its
own ``holes``. Only the first part carries the shape's unknown keys.

Reading joins a shape marked ``index > 1`` to the last shape before it with the same label
and group id when that one is marked too, flags and description still agree and it has no
keys of its own; otherwise (changed in labelme) it stays a shape of its own, still grouped
with the others by its group id. Older files kept the further
parts in one shape's ``parts`` key; they are still read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from samlabel.annotations.errors import GeometryError
from samlabel.annotations.shapes import Shape

PART_KEY = "samlabel_part"


@dataclass
class Piece:
    """One labelme shape as read: the shape, where it is (for messages), its part marker."""

    shape: Shape
    where: str
    index: int | None = None  # the marker's 1-based part index; None without a marker
    auto_group_id: int | None = None


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_marker(raw: dict) -> tuple[int | None, int | None]:
    """``(index, auto_group_id)`` from a shape's ``samlabel_part`` (``(None, None)`` if none)."""
    marker = raw.get(PART_KEY)
    if marker is None:
        return None, None
    if not isinstance(marker, dict) or not _integer(marker.get("index")) or marker["index"] < 1:
        raise GeometryError(f"{PART_KEY} must be a JSON object with a positive integer 'index'")
    auto = marker.get("auto_group_id")
    if auto is not None and not _integer(auto):
        raise GeometryError(f"{PART_KEY} 'auto_group_id' must be an integer")
    return marker["index"], auto


def part_marker(index: int, count: int, auto_group_id: int | None) -> dict:
    """The ``samlabel_part`` value written on part ``index`` (1-based) of ``count``."""
    out: dict[str, Any] = {"index": index, "count": count}
    if auto_group_id is not None:
        out["auto_group_id"] = auto_group_id
    return out


def allocate_group_ids(shapes: Sequence[Shape], other_shapes: Iterable[Any] = ()) -> dict[str, int]:
    """``{uid: group_id}`` for each multi-part polygon without a group id: the smallest
    positive ids that no shape of the file (``other_shapes``: raw dicts kept as is) uses."""
    used = {s.group_id for s in shapes if s.group_id is not None}
    used |= {raw.get("group_id") for raw in other_shapes if isinstance(raw, dict) and _integer(raw.get("group_id"))}
    out: dict[str, int] = {}
    candidate = 1
    for shape in shapes:
        if shape.kind == "polygon" and len(shape.polygons) > 1 and shape.group_id is None:
            while candidate in used:
                candidate += 1
            out[shape.uid] = candidate
            used.add(candidate)
    return out


def _continues(chain: Piece, piece: Piece) -> bool:
    a, b = chain.shape, piece.shape
    return (
        chain.index is not None
        and piece.index is not None
        and piece.index > 1
        and a.kind == b.kind == "polygon"
        and (a.label, a.group_id, a.flags, a.description) == (b.label, b.group_id, b.flags, b.description)
        and not b.extra
    )


def join_parts(pieces: Iterable[Piece]) -> list[Piece]:
    """Join the parts samlabel wrote as separate labelme shapes back into one shape each."""
    out: list[Piece] = []
    auto: list[bool] = []  # per output piece: its group id was allocated by samlabel
    for piece in pieces:
        own_auto = piece.auto_group_id is not None and piece.auto_group_id == piece.shape.group_id
        key = (piece.shape.label, piece.shape.group_id)
        last = next((i for i in range(len(out) - 1, -1, -1) if (out[i].shape.label, out[i].shape.group_id) == key), None)
        if last is not None and _continues(out[last], piece):
            chain = out[last]
            chain.shape = chain.shape.replace(polygons=chain.shape.polygons + piece.shape.polygons)
            auto[last] = auto[last] and own_auto
            continue
        out.append(Piece(piece.shape, piece.where, piece.index, piece.auto_group_id))
        auto.append(own_auto)
    for piece, allocated in zip(out, auto):
        if allocated:
            piece.shape = piece.shape.replace(group_id=None)
    return out
