"""Where an auto-labelled shape came from, and how a rerun finds what is done.

Every shape the job makes carries, in an added shape key (kept by labelme and by the app,
through every edit and undo), its provenance::

    "samlabel_autolabel": {"model": "vit_t", "prompt": "box", "score": 0.93,
                           "box": [x0, y0, x1, y1], "source": "box-3f2a...-0"}

``source`` is the key of the rectangle it was made from (:func:`box_keys`: a hash of the
rectangle's label, group id and corners, plus its rank among identical rectangles). A
rectangle the job kept (``--keep-boxes``), or whose mask came out empty, is marked done
with the same key ``{"source": key, "done": true, "empty": bool, ...}``. A rectangle is
*pending* when it has no such mark and no shape names it as its source, so a rerun after
any interruption converts exactly the rectangles not yet converted.

Everything mode stores the generator's masks as proposals in an added top-level key of the
sidecar (:data:`PROPOSALS_KEY`), not as shapes: ``{"model", "params", "records": [{"rle",
"area", "bbox", "predicted_iou", "stability_score", "point_coords"}]}``; an image with that
key is done.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Sequence

from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.shapes import Shape

PROVENANCE_KEY = "samlabel_autolabel"
PROPOSALS_KEY = "samlabel_proposals"


def _box_hash(shape: Shape) -> str:
    x0, y0, x1, y1 = shape.bbox()
    text = f"{shape.label}|{shape.group_id}|{x0:.3f},{y0:.3f},{x1:.3f},{y1:.3f}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def box_keys(shapes: Sequence[Shape]) -> dict[str, str]:
    """``{shape uid: key}`` for every rectangle of ``shapes`` (identical rectangles get
    ``-0``, ``-1``... in document order). A marked rectangle keeps the key it was marked with."""
    keys: dict[str, str] = {}
    seen: dict[str, int] = {}
    for shape in shapes:
        if shape.kind != "rectangle":
            continue
        mark = provenance(shape)
        if mark is not None and isinstance(mark.get("source"), str):
            keys[shape.uid] = mark["source"]
            continue
        h = _box_hash(shape)
        rank = seen.get(h, 0)
        seen[h] = rank + 1
        keys[shape.uid] = f"box-{h}-{rank}"
    return keys


def provenance(shape: Shape) -> Mapping[str, Any] | None:
    """The shape's provenance mark, or None (a shape a person drew)."""
    value = shape.extra.get(PROVENANCE_KEY)
    return value if isinstance(value, Mapping) else None


def is_auto(shape: Shape) -> bool:
    """True for a shape the auto-labeller made (not a marked source rectangle)."""
    mark = provenance(shape)
    return mark is not None and not mark.get("done")


def done_sources(shapes: Sequence[Shape]) -> set[str]:
    """The rectangle keys some shape names as done (made from it, or a done mark)."""
    return {str(m["source"]) for s in shapes if (m := provenance(s)) is not None and "source" in m}


def pending_boxes(annotation: ImageAnnotation) -> list[tuple[str, Shape]]:
    """``[(key, rectangle)]`` of the rectangles not yet converted, in document order."""
    keys = box_keys(annotation.shapes)
    done = done_sources(annotation.shapes)
    return [(keys[s.uid], s) for s in annotation.shapes
            if s.kind == "rectangle" and provenance(s) is None and keys[s.uid] not in done]


def has_proposals(annotation: ImageAnnotation) -> bool:
    return isinstance(annotation.extra.get(PROPOSALS_KEY), Mapping)


def stored_proposal_records(annotation: ImageAnnotation) -> list[dict]:
    """The generator records stored in ``annotation`` (what :class:`ProposalSet.from_records`
    takes: ``segmentation`` a COCO RLE with str counts), or ``[]``."""
    stored = annotation.extra.get(PROPOSALS_KEY)
    if not isinstance(stored, Mapping):
        return []
    out = []
    for record in stored.get("records") or []:
        if not isinstance(record, Mapping) or not isinstance(record.get("rle"), Mapping):
            continue
        out.append({
            "segmentation": dict(record["rle"]),
            "area": int(record.get("area", 0)),
            "bbox": list(record.get("bbox", [0, 0, 0, 0])),
            "predicted_iou": float(record.get("predicted_iou", 0.0)),
            "stability_score": float(record.get("stability_score", 0.0)),
            "point_coords": record.get("point_coords"),
        })
    return out
