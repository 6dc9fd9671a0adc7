"""Objects of a frame, the propagation marks, and who owns a frame (a person or propagation).

**Objects.** The shapes of the source frame grouped by ``(label, group_id)`` (labelme's
convention for one object); a shape without ``group_id`` is an object of its own. Polygons,
rectangles and masks are rasterised (their union) to the object's mask; points are not
objects (they carry no area) and are left out.

**Marks.** Every shape propagation makes carries, in an added shape key (kept by labelme
and by the app through edits, like the auto-labeller's ``samlabel_autolabel``)::

    "samlabel_propagation": {"run": "3f2a...", "source": "frame_000000.jpg", "object": "car#3",
                             "model": "sam2.1_hiera_tiny", "digest": "9c1e..."}

``digest`` is a hash of the shape as written (label, group id, every vertex), so a marked
shape that a person moved, reshaped or relabelled no longer matches it. Each frame written
also gets a top-level key (:data:`FRAME_KEY`): ``{"run", "source", "model", "objects":
[keys written], "lost": [keys the model lost on that frame]}``.

**Edited by a person** (:func:`person_owned`). A frame is kept as it is (unless
``overwrite``) when any of:

- its image flag ``reviewed`` is true (labelme's image-level ``flags``), or its top-level
  ``samlabel_reviewed`` key is true;
- it has a shape propagation did not make (no mark: drawn by a person, imported,
  auto-labelled) -- the source frame's own shapes are such shapes;
- a marked shape no longer matches its ``digest`` (edited after propagation wrote it);
- the shapes of :data:`FRAME_KEY`'s ``objects`` are not all there any more (a person
  deleted one).

Any other frame (no sidecar, an empty one, or only untouched propagated shapes) is free:
propagation replaces its propagated shapes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.shapes import Shape

PROPAGATION_KEY = "samlabel_propagation"  # on a shape: its mark
FRAME_KEY = "samlabel_propagation"  # top level of a frame's sidecar: what propagation wrote there
REVIEWED_FLAG = "reviewed"  # labelme image flag
REVIEWED_KEY = "samlabel_reviewed"  # top-level sidecar key (True: reviewed)


@dataclass(frozen=True)
class VideoObject:
    """One object of the source frame: ``key`` (``"label#group_id"``, or ``"label@n"`` for
    the n-th shape of that label without group id), its label and group id, and its mask."""

    key: str
    label: str
    group_id: Optional[int]
    mask: np.ndarray  # (H, W) bool

    def to_json(self) -> dict:
        return {"key": self.key, "label": self.label, "group_id": self.group_id}


def frame_objects(annotation: ImageAnnotation) -> list[VideoObject]:
    """The objects of a frame, in document order of their first shape; objects whose mask
    is empty (points only, shapes outside the image) are left out."""
    h, w = annotation.size
    groups: dict[str, list[Shape]] = {}
    keys: list[tuple[str, str, Optional[int]]] = []
    ungrouped: dict[str, int] = {}
    for shape in annotation.shapes:
        if shape.kind == "point":
            continue
        if shape.group_id is None:
            n = ungrouped.get(shape.label, 0)
            ungrouped[shape.label] = n + 1
            key = f"{shape.label}@{n}"
        else:
            key = f"{shape.label}#{shape.group_id}"
        if key not in groups:
            groups[key] = []
            keys.append((key, shape.label, shape.group_id))
        groups[key].append(shape)
    out = []
    for key, label, group_id in keys:
        mask = np.zeros((h, w), dtype=bool)
        for shape in groups[key]:
            mask |= shape.to_mask(h, w)
        if mask.any():
            out.append(VideoObject(key, label, group_id, mask))
    return out


def objects_digest(objects: Sequence[VideoObject]) -> str:
    """A hash of the objects (keys and masks): what a run is made from."""
    h = hashlib.sha1()
    for obj in objects:
        h.update(json.dumps(obj.to_json(), sort_keys=True).encode("utf-8"))
        h.update(np.packbits(obj.mask).tobytes())
        h.update(repr(obj.mask.shape).encode("ascii"))
    return h.hexdigest()[:16]


def shape_digest(shape: Shape) -> str:
    """A hash of a shape's label, group id, kind and every vertex (rounded to 0.01 px)."""
    h = hashlib.sha1(f"{shape.label}|{shape.group_id}|{shape.kind}".encode("utf-8"))
    if shape.kind == "polygon":
        for poly in shape.polygons:
            for ring in poly.rings:
                h.update(b"|")
                h.update(np.round(np.asarray(ring, np.float64), 2).tobytes())
    elif shape.kind == "mask":
        h.update(json.dumps(shape.rle, sort_keys=True).encode("utf-8"))
    elif shape.points is not None:
        h.update(np.round(np.asarray(shape.points, np.float64), 2).tobytes())
    return h.hexdigest()[:16]


def mark(shape: Shape) -> Mapping[str, Any] | None:
    """The shape's propagation mark, or None (a shape propagation did not make)."""
    value = shape.extra.get(PROPAGATION_KEY)
    return value if isinstance(value, Mapping) else None


def is_propagated(shape: Shape) -> bool:
    """Made by propagation and not edited since (its mark's digest still matches)."""
    m = mark(shape)
    return m is not None and m.get("digest") == shape_digest(shape)


def marked_shape(shape: Shape, run: str, source: str, key: str, model: str) -> Shape:
    """``shape`` with its propagation mark (the digest of the shape as it is)."""
    return shape.replace(extra={**shape.extra, PROPAGATION_KEY: {
        "run": run, "source": source, "object": key, "model": model, "digest": shape_digest(shape)}})


def frame_record(annotation: ImageAnnotation) -> Mapping[str, Any] | None:
    """What propagation recorded on the frame (:data:`FRAME_KEY`), or None."""
    value = annotation.extra.get(FRAME_KEY)
    return value if isinstance(value, Mapping) else None


def is_reviewed(annotation: ImageAnnotation) -> bool:
    return annotation.flags.get(REVIEWED_FLAG) is True or annotation.extra.get(REVIEWED_KEY) is True


def person_owned(annotation: ImageAnnotation) -> Optional[str]:
    """Why the frame belongs to a person (``"reviewed"`` or ``"edited"``), or None (free).
    See the module docstring for the rule."""
    if is_reviewed(annotation):
        return "reviewed"
    if any(not is_propagated(s) for s in annotation.shapes):
        return "edited"
    record = frame_record(annotation)
    if record is not None and isinstance(record.get("objects"), list):
        present = {str(m.get("object")) for s in annotation.shapes if (m := mark(s)) is not None}
        if not {str(k) for k in record["objects"]} <= present:
            return "edited"  # a propagated shape was deleted
    return None


def written_by(annotation: ImageAnnotation, run: str) -> bool:
    """True when run ``run`` already wrote this frame (a resumed run skips it)."""
    record = frame_record(annotation)
    return record is not None and record.get("run") == run
