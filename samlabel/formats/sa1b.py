"""SA-1B: Segment Anything's dataset format (export and import).

Layout (flat, as SA-1B's tar files and SAM fine-tuning code have it)::

    OUT/<file>            the image
    OUT/<stem>.json       {"image": {"image_id", "width", "height", "file_name"},
                           "annotations": [{"id", "segmentation", "bbox", "area",
                                            "predicted_iou", "stability_score",
                                            "point_coords", "crop_box", ...}]}

One annotation per instance (shapes sharing a label and group id are merged into one
mask): ``segmentation`` is COCO compressed RLE (``{"size": [H, W], "counts": str}``,
pycocotools), ``bbox`` ``[x, y, w, h]`` and ``area`` from it; ``predicted_iou`` and
``stability_score`` are 1.0 (a person drew it), ``point_coords`` the mask pixel farthest
from its border (OpenCV's distance transform), ``crop_box`` the whole image. SA-1B has no
classes: the label and group id go into added ``label`` and ``group_id`` keys that SA-1B
readers (Datumaro's ``segment_anything`` importer among them) ignore. Rectangles are
written as masks, points left out (noted). An image without shapes gets a JSON with no
annotations.

Import: every ``*.json`` of the folder that has ``image`` and ``annotations`` is an image;
its ``file_name`` is looked up beside the JSON (refused if absolute or climbing out with
``..``). Each annotation becomes a polygon traced with its holes, labelled by its
``label`` key, else ``object`` (SA-1B's own files have none), with its ``group_id``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from samlabel.annotations import ImageAnnotation, LabelSet, mask_to_rle
from samlabel.annotations.sidecar import dumps
from samlabel.formats.common import (
    BaseWriter,
    FormatError,
    ImportItem,
    Reading,
    confined_path,
    group_instances,
    load_json,
    shapes_from_mask,
)
from samlabel.formats.images import export_image, image_size

DEFAULT_LABEL = "object"
"""The label of an annotation without a ``label`` key (SA-1B has no classes)."""


def _inner_point(mask: np.ndarray) -> list[float]:
    """``[x, y]``: the centre of the mask pixel farthest from the mask's border."""
    padded = np.pad(mask.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return [float(x) + 0.5, float(y) + 0.5]


class Writer(BaseWriter):
    def __init__(self, out_dir: Path, labels: LabelSet, simplify: float | None = None):
        super().__init__(out_dir, labels, simplify)
        self.next_id = 1

    def add(self, image: Path, annotation: ImageAnnotation) -> list[str]:
        self.check(image, annotation)
        h, w = annotation.size
        notes: list[str] = []
        records = []
        for instance in group_instances(annotation):
            if not instance.has_area:
                notes.append(f"{image}: point {instance.label!r} left out (SA-1B has only masks)")
                continue
            mask = instance.mask(h, w)
            if not mask.any():
                notes.append(f"{image}: {instance.label!r} has no pixels inside the image, left out")
                continue
            rle = mask_to_rle(mask)
            coco = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
            record = {
                "id": self.next_id,
                "segmentation": rle,
                "bbox": [float(v) for v in mask_utils.toBbox(coco)],
                "area": int(mask_utils.area(coco)),
                "predicted_iou": 1.0,
                "stability_score": 1.0,
                "point_coords": [_inner_point(mask)],
                "crop_box": [0.0, 0.0, float(w), float(h)],
                "label": instance.label,
            }
            if instance.group_id is not None:
                record["group_id"] = instance.group_id
            records.append(record)
            self.next_id += 1
        export_image(image, self.out_dir / image.name)
        data = {
            "image": {"image_id": len(self.stems) + 1, "width": w, "height": h, "file_name": image.name},
            "annotations": records,
        }
        (self.out_dir / f"{image.stem}.json").write_text(dumps(data), encoding="utf-8")
        self.written(image)
        return notes

    def finish(self) -> None:
        pass


# --- import -----------------------------------------------------------------------
def read(src: Path, labels: LabelSet | None = None, progress=None) -> Reading:
    """Read a folder of SA-1B JSON files (see the module docstring)."""
    root = Path(src)
    if not root.is_dir():
        raise FormatError(root, "an SA-1B dataset is a folder of <image>.json files")
    reading = Reading()
    files = []
    for path in sorted(root.glob("*.json")):
        data = load_json(path) if path.is_file() else None
        if isinstance(data, dict) and "image" in data and "annotations" in data:
            files.append((path, data))
    if not files:
        raise FormatError(root, "no SA-1B JSON file (with 'image' and 'annotations') in the folder")
    reading.read_each(files, lambda f: _read_one(*f, labels, reading.notes), lambda f: str(f[0]), progress)
    return reading


def _read_one(path: Path, data: dict, labels: LabelSet | None, notes: list[str]) -> ImportItem:
    info, anns = data["image"], data["annotations"]
    if not isinstance(info, dict) or not isinstance(info.get("file_name"), str) or not isinstance(anns, list):
        raise FormatError(path, "'image' must be an object with a 'file_name', 'annotations' a list")
    confined = confined_path(info["file_name"])
    if confined is None:
        raise FormatError(path, f"image {info['file_name']!r}: the path is absolute or leaves the dataset folder; not read")
    image = path.parent / confined
    if not image.is_file():
        raise FormatError(path, f"image {info['file_name']!r} not found beside the JSON file")
    h, w = image_size(image)
    if (info.get("height"), info.get("width")) != (h, w):
        raise FormatError(path, f"the image is {w}x{h} but the JSON says width {info.get('width')!r}, height {info.get('height')!r}")
    shapes = []
    for n, ann in enumerate(anns, start=1):
        if not isinstance(ann, dict) or not isinstance(ann.get("segmentation"), dict):
            raise FormatError(path, f"annotation #{n} has no 'segmentation' RLE")
        label = ann.get("label") if isinstance(ann.get("label"), str) and ann["label"].strip() else DEFAULT_LABEL
        if labels is not None and label not in labels:
            raise FormatError(path, f"annotation #{n}: label {label!r} is not in the label file")
        seg = ann["segmentation"]
        try:
            rle = {"size": list(seg["size"]), "counts": seg["counts"]}
            if [int(v) for v in rle["size"]] != [h, w]:
                raise FormatError(path, f"annotation #{n}: the mask is {rle['size']} (HxW) but the image is [{h}, {w}]")
            if isinstance(rle["counts"], list):
                rle = mask_utils.frPyObjects(rle, h, w)
            elif isinstance(rle["counts"], str):
                rle["counts"] = rle["counts"].encode("ascii")
            mask = mask_utils.decode(rle).astype(bool)
        except FormatError:
            raise
        except Exception as exc:  # pycocotools raises plain exceptions on garbage
            raise FormatError(path, f"annotation #{n}: the RLE cannot be decoded ({exc})") from exc
        group_id = ann.get("group_id")
        group_id = group_id if isinstance(group_id, int) and not isinstance(group_id, bool) else None
        shape = shapes_from_mask(label, mask, group_id=group_id)
        if shape is None:
            notes.append(f"{path}: annotation #{n} has an empty mask, left out")
            continue
        shapes.append(shape)
    return ImportItem(image, ImageAnnotation(image_path=image.name, image_height=h, image_width=w, shapes=tuple(shapes)))


__all__ = ["DEFAULT_LABEL", "Writer", "read"]
