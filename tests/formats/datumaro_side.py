"""The Datumaro half of tests/formats/test_fmt_datumaro.py, run in Datumaro's own venv.

Datumaro 1.13.12 pins Pillow 12 and ``opencv-python`` < 5, which cannot share samlabel's
venv (Pillow 13, ``opencv-python-headless`` 5), so the test runs this script with the
interpreter of ``.venv-datumaro`` (``datumaro_env.py``). Everything here is Datumaro's own
code; it reads one JSON request on stdin and prints one JSON answer on stdout:

- ``{"op": "import", "path": DIR, "format": NAME, "options": {...}}``: ``Dataset.import_from``
  and, per item, ``{"id", "subset", "size": [H, W], "annotations": [...]}`` where each
  annotation is ``{"type", "label" (name or null), "group", "attributes", ...}`` with
  ``"rle"`` (COCO compressed RLE of the mask, pycocotools) for masks, ``"points"`` (flat
  ``x, y`` list) for polygons and points, ``"bbox"`` (``x, y, w, h``) for boxes. Import
  errors Datumaro reports are in ``"errors"``.
- ``{"op": "export", "out": DIR, "format": NAME, "options": {...}, "labels": [names],
  "items": [{"id", "subset", "image": PATH, "annotations": [...]}]}``: a dataset built with
  ``Dataset.from_iterable`` from annotations in the same form (``"label"`` an index into
  ``labels``), put through Datumaro's ``"transforms"`` (``[[name, options], ...]``) and
  exported with ``save_media=True``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from pycocotools import mask as mask_utils

from datumaro.components.annotation import AnnotationType, Bbox, LabelCategories, Mask, Points, Polygon
from datumaro.components.contexts.importer import ImportErrorPolicy
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.media import Image


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _jsonable(value):
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def dump(request: dict) -> dict:
    errors: list[str] = []

    class Recording(ImportErrorPolicy):  # records what Datumaro reports instead of failing
        def _handle_item_error(self, error):
            errors.append(f"item {error.item_id}: {error.__cause__!r}")

        def _handle_annotation_error(self, error):
            errors.append(f"annotation of {error.item_id}: {error.__cause__!r}")

    dataset = Dataset.import_from(
        request["path"], request["format"], error_policy=Recording(), **request.get("options", {})
    )
    names = [c.name for c in dataset.categories().get(AnnotationType.label, LabelCategories()).items]
    items = []
    for item in dataset:
        size = list(item.media.size) if item.media is not None and item.media.size else None
        anns = []
        for ann in item.annotations:
            out = {
                "type": ann.type.name,
                "label": names[ann.label] if getattr(ann, "label", None) is not None else None,
                "group": int(ann.group or 0),
                "id": int(ann.id or 0),
                "attributes": _jsonable(dict(ann.attributes)),
            }
            if ann.type == AnnotationType.mask:
                out["rle"] = _rle(np.asarray(ann.image) != 0)
            elif ann.type in (AnnotationType.polygon, AnnotationType.points):
                out["points"] = [float(v) for v in ann.points]
            elif ann.type == AnnotationType.bbox:
                out["bbox"] = [float(v) for v in ann.get_bbox()]
            else:
                continue
            anns.append(out)
        items.append({"id": item.id, "subset": item.subset, "size": size, "annotations": anns})
    return {"labels": names, "items": items, "errors": errors}


def export(request: dict) -> dict:
    labels = request["labels"]
    items = []
    for spec in request["items"]:
        anns = []
        for a in spec["annotations"]:
            kw = {"label": a["label"], "group": a.get("group", 0), "id": a.get("id", 0)}
            if a["type"] == "mask":
                rle = {"size": a["rle"]["size"], "counts": a["rle"]["counts"].encode("ascii")}
                anns.append(Mask(image=mask_utils.decode(rle).astype(np.uint8), **kw))
            elif a["type"] == "polygon":
                anns.append(Polygon(a["points"], **kw))
            elif a["type"] == "bbox":
                anns.append(Bbox(*a["bbox"], **kw))
            elif a["type"] == "points":
                anns.append(Points(a["points"], **kw))
        items.append(
            DatasetItem(id=spec["id"], subset=spec.get("subset", "default"), media=Image.from_file(path=spec["image"]), annotations=anns)
        )
    dataset = Dataset.from_iterable(items, categories=labels, media_type=Image)
    for name, options in request.get("transforms", []):
        dataset.transform(name, **options)
    dataset.export(request["out"], request["format"], save_media=True, **request.get("options", {}))
    return {"exported": len(items)}


def main() -> None:
    request = json.loads(sys.stdin.read())
    answer = dump(request) if request["op"] == "import" else export(request)
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
