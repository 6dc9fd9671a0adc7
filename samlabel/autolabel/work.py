"""The per-image work, engine-independent: ``compute_image(runner, image, annotation, spec)
-> ImageResult`` (model work, no writes) and ``apply_result(annotation, result, spec) ->
ImageAnnotation`` (the merge, no model).

An :class:`ImageResult` is plain data (JSON-able, :meth:`ImageResult.to_json`), so the
Ray engine ships it from an actor to the driver; both engines then merge it the same way,
into the sidecar as it is at that moment, so a rectangle converted meanwhile (an earlier
run, another worker) is never converted twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from samlabel.annotations.errors import AnnotationFileError
from samlabel.annotations.geometry import PolygonWithHoles, mask_to_polygons
from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.shapes import Shape
from samlabel.autolabel.provenance import PROPOSALS_KEY, PROVENANCE_KEY, has_proposals, pending_boxes
from samlabel.autolabel.spec import AutolabelSpec

_MASK_BYTES_PER_BATCH = 256 * 1024 * 1024  # full-size bool masks decoded at once, at most


@dataclass(frozen=True)
class BoxOutcome:
    """One rectangle's mask, traced: ``parts`` is ``[(exterior (N, 2) list, [hole (M, 2)
    list, ...]), ...]`` in pixel-edge coordinates, largest part first; empty when the mask
    traced to nothing. ``box`` is the rectangle ``[x0, y0, x1, y1]``, ``score`` SAM's
    predicted IoU."""

    key: str
    box: tuple[float, float, float, float]
    score: float
    parts: tuple = ()


@dataclass(frozen=True)
class ImageResult:
    """What the model made for one image: ``boxes`` (boxes mode) or ``proposals``
    (everything mode: the stored form, see :mod:`samlabel.autolabel.provenance`)."""

    image: str  # file name in the project
    mode: str
    model: str
    boxes: tuple[BoxOutcome, ...] = ()
    proposals: dict | None = None
    seconds: dict = field(default_factory=dict)  # where the time went: encoder, decoder, tracing

    def to_json(self) -> str:
        return json.dumps({
            "image": self.image, "mode": self.mode, "model": self.model, "seconds": self.seconds,
            "proposals": self.proposals,
            "boxes": [{"key": b.key, "box": list(b.box), "score": b.score, "parts": b.parts} for b in self.boxes],
        })

    @classmethod
    def from_json(cls, text: str) -> "ImageResult":
        d = json.loads(text)
        boxes = tuple(BoxOutcome(b["key"], tuple(b["box"]), b["score"], _tuple_parts(b["parts"])) for b in d["boxes"])
        return cls(d["image"], d["mode"], d["model"], boxes, d["proposals"], d.get("seconds") or {})


def _tuple_parts(parts) -> tuple:
    return tuple((tuple(map(tuple, ext)), tuple(tuple(map(tuple, h)) for h in holes)) for ext, holes in parts)


def _parts(polygons: Sequence[PolygonWithHoles]) -> tuple:
    return tuple(
        (tuple((float(x), float(y)) for x, y in p.exterior),
         tuple(tuple((float(x), float(y)) for x, y in h) for h in p.holes))
        for p in polygons
    )


def load_rgb(image: Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB as displayed (EXIF rotation applied).

    Raises:
        AnnotationFileError: naming the image (unreadable, truncated, too large).
    """
    from samlabel.annotations.image_source import ImageLoadError, load_image

    try:
        return load_image(image).rgb
    except ImageLoadError as exc:
        raise AnnotationFileError(image, str(exc).replace(f" {image}", "")) from exc


def predict_box_masks(predictor: Any, boxes: np.ndarray, batch: int = 64) -> tuple[list[np.ndarray], np.ndarray]:
    """SAM's single mask for each box, decoded in batches (all of an image's boxes, ``batch``
    at a time and fewer when full-size masks would not fit :data:`_MASK_BYTES_PER_BATCH`).

    Args:
        predictor: a ``SamPredictor`` with the image set.
        boxes: ``(B, 4)`` xyxy in image pixels.
    Returns:
        ``masks``: B ``(H, W)`` bool arrays; ``scores``: ``(B,)`` predicted IoU.
    """
    import torch

    h, w = predictor.original_size
    step = max(1, min(batch, _MASK_BYTES_PER_BATCH // max(1, h * w)))
    masks: list[np.ndarray] = []
    scores = []
    for start in range(0, len(boxes), step):
        chunk = torch.as_tensor(np.asarray(boxes[start:start + step], dtype=np.float32), device=predictor.device)
        chunk = predictor.transform.apply_boxes_torch(chunk, (h, w))
        out, iou, _ = predictor.predict_torch(None, None, boxes=chunk, multimask_output=False)
        masks.extend(m for m in out[:, 0].cpu().numpy())
        scores.append(iou[:, 0].float().cpu().numpy())
    return masks, (np.concatenate(scores) if scores else np.zeros(0, np.float32))


def compute_image(runner: Any, image: Path, annotation: ImageAnnotation, spec: AutolabelSpec) -> ImageResult:
    """The model's output for one image (nothing written). ``annotation`` is the image's
    current annotation: boxes mode decodes its pending rectangles (all in one batch per
    image); everything mode runs the generator unless proposals are stored already.

    Raises:
        AnnotationFileError: the image cannot be read (naming it).
    """
    import time

    image = Path(image)
    name = image.name
    if spec.mode == "boxes":
        pending = pending_boxes(annotation)
        if not pending:
            return ImageResult(name, spec.mode, runner.model_label)
        rgb = load_rgb(image)
        t0 = time.perf_counter()
        runner.predictor.set_image(rgb)
        t1 = time.perf_counter()
        boxes = np.array([shape.bbox() for _, shape in pending], dtype=np.float64)
        masks, scores = predict_box_masks(runner.predictor, boxes, spec.box_batch)
        t2 = time.perf_counter()
        outcomes = []
        for (key, _), box, mask, score in zip(pending, boxes, masks, scores):
            polygons = mask_to_polygons(mask, tolerance=spec.tolerance, min_area=spec.min_area)
            outcomes.append(BoxOutcome(key, tuple(float(v) for v in box), float(score), _parts(polygons)))
        t3 = time.perf_counter()
        runner.predictor.reset_image()
        seconds = {"encoder": t1 - t0, "decoder": t2 - t1, "tracing": t3 - t2}
        return ImageResult(name, spec.mode, runner.model_label, tuple(outcomes), seconds=seconds)
    if has_proposals(annotation):
        return ImageResult(name, spec.mode, runner.model_label)
    rgb = load_rgb(image)
    t0 = time.perf_counter()
    records = runner.generator(spec).generate(rgb)
    t1 = time.perf_counter()
    stored = [{
        "rle": {"size": [int(v) for v in r["segmentation"]["size"]], "counts": _text(r["segmentation"]["counts"])},
        "area": int(r["area"]),
        "bbox": [float(v) for v in r["bbox"]],
        "predicted_iou": float(r["predicted_iou"]),
        "stability_score": float(r["stability_score"]),
        "point_coords": [[float(x), float(y)] for x, y in r["point_coords"]],
    } for r in records]
    proposals = {"model": runner.model_label, "params": spec.everything.as_kwargs(), "records": stored}
    return ImageResult(name, spec.mode, runner.model_label, proposals=proposals, seconds={"everything": t1 - t0})


def _text(counts: Any) -> str:
    return counts.decode("ascii") if isinstance(counts, bytes) else str(counts)


@dataclass
class MergeCounts:
    """What one merge changed: shapes made, rectangles removed / kept, empty masks, proposals."""

    made: int = 0
    removed: int = 0
    kept: int = 0
    empty: int = 0
    proposals: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.made or self.removed or self.kept or self.empty or self.proposals)


def apply_result(annotation: ImageAnnotation, result: ImageResult, spec: AutolabelSpec
                 ) -> tuple[ImageAnnotation, MergeCounts]:
    """Merge ``result`` into ``annotation`` (as it is now): each still-pending rectangle
    becomes its polygon shape (label, group id, flags and description kept, provenance
    added) in the rectangle's place, or beside it with ``keep_boxes`` (the rectangle then
    marked done); an empty mask leaves the rectangle, marked done and empty. Shapes that
    are not pending rectangles, a person's or earlier runs', are never touched. Proposals
    are stored unless some are already. Returns the new annotation and what changed."""
    counts = MergeCounts()
    if result.mode == "everything":
        if result.proposals is None or has_proposals(annotation):
            return annotation, counts
        counts.proposals = len(result.proposals.get("records", []))
        extra = dict(annotation.extra)
        extra[PROPOSALS_KEY] = result.proposals
        return annotation.replace(extra=extra), counts
    pending = dict(pending_boxes(annotation))
    outcomes = {o.key: o for o in result.boxes if o.key in pending}
    if not outcomes:
        return annotation, counts
    by_uid = {pending[key].uid: outcomes[key] for key in outcomes}
    shapes: list[Shape] = []
    for shape in annotation.shapes:
        outcome = by_uid.get(shape.uid)
        if outcome is None:
            shapes.append(shape)
            continue
        mark = {"model": result.model, "prompt": "box", "source": outcome.key}
        if not outcome.parts:
            counts.empty += 1
            shapes.append(shape.replace(extra={**shape.extra, PROVENANCE_KEY: {**mark, "done": True, "empty": True}}))
            continue
        polygons = tuple(PolygonWithHoles(np.array(ext, np.float64), tuple(np.array(h, np.float64) for h in holes))
                         for ext, holes in outcome.parts)
        made = Shape.from_polygons(
            shape.label, polygons, group_id=shape.group_id, flags=dict(shape.flags), description=shape.description,
            extra={PROVENANCE_KEY: {**mark, "score": round(outcome.score, 6), "box": list(outcome.box)}},
        )
        counts.made += 1
        if spec.keep_boxes:
            counts.kept += 1
            shapes.append(shape.replace(extra={**shape.extra, PROVENANCE_KEY: {**mark, "done": True, "empty": False}}))
        else:
            counts.removed += 1
        shapes.append(made)
    return annotation.with_shapes(shapes), counts
