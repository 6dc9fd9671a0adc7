"""COCO instances JSON (export and import).

Export layout (the one pycocotools, Detectron2/mmdet configs, CVAT and Datumaro take)::

    OUT/annotations/instances_<subset>.json
    OUT/images/<subset>/<file>

``<subset>`` is ``default`` unless the export is split (one JSON per subset); ``file_name``
is the image's file name (relative to ``images/<subset>/``). One annotation per instance
(shapes sharing a label and group id are merged). Segmentation is a list of polygons
(clipped to the image), or compressed RLE when an instance has a hole, is a mask or is a
crowd region (COCO wants crowd regions as RLE); ``area`` and ``bbox`` are computed from
that segmentation by pycocotools, so they agree with ``COCO.annToMask``. The instance's
group id is kept in an added ``group_id`` key that other tools ignore. Points cannot be
expressed and are left out (noted).

Import: ``SRC`` is a JSON file, or a folder holding ``annotations/*.json`` (every
``instances_*.json`` in it, else every JSON there) or ``annotations.json`` (samlabel's
older single-file layout). The dataset folder is the parent of ``annotations/`` when the
JSON is in a folder of that name, else the JSON's folder; images are looked up only
inside it, in the layouts CVAT, Datumaro and Roboflow write: ``images/<subset>/``,
``images/``, beside the JSON, and the dataset folder itself (``<subset>`` from
``instances_<subset>.json`` or ``<task>_<subset>.json``). A ``file_name`` that is absolute
or climbs out with ``..`` is refused (named with the JSON) before anything is opened: an
import reads only inside the dataset. Polygons become polygon shapes (one part per COCO
polygon), RLE becomes a polygon traced with holes (``iscrowd`` is kept in the shape's
extra keys).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from samlabel.annotations import (
    AnnotationError,
    AnnotationWarning,
    ImageAnnotation,
    LabelSet,
    PolygonWithHoles,
    Shape,
    mask_to_rle,
    repair_polygons,
)
from samlabel.annotations.sidecar import dumps
from samlabel.formats.common import (
    FormatError,
    ImportItem,
    Reading,
    BaseWriter,
    confined_path,
    group_instances,
    load_json,
    shapes_from_mask,
)
from samlabel.formats.images import export_image, image_size

JSON_NAME = "annotations.json"  # the older single-file layout, still imported
ANNOTATIONS_DIR = "annotations"
IMAGES_DIR = "images"


def json_name(subset: str) -> str:
    """``annotations/instances_<subset>.json``, relative to the dataset folder."""
    return f"{ANNOTATIONS_DIR}/instances_{subset}.json"


def category_ids(labels: LabelSet) -> dict[str, int]:
    """Label name -> COCO category id: the label's own id if set, else its position + 1."""
    ids: dict[str, int] = {}
    used: set[int] = {label.id for label in labels if label.id is not None}  # type: ignore[misc]
    next_id = 1
    for label in labels:
        if label.id is not None:
            ids[label.name] = label.id
            continue
        while next_id in used:
            next_id += 1
        ids[label.name] = next_id
        used.add(next_id)
    return ids


class Writer(BaseWriter):
    DIRS = (ANNOTATIONS_DIR, IMAGES_DIR)
    NAMED_BY_STEM = False  # images keep their file names
    SUBSETS = True

    def __init__(self, out_dir: Path, labels: LabelSet, simplify: float | None = None):
        super().__init__(out_dir, labels, simplify)
        self.cat_ids = category_ids(labels)
        self.images: list[dict] = []  # every subset's (ids are unique across subsets)
        self.annotations: list[dict] = []
        self.subset_of: dict[int, str] = {}  # image id -> subset

    def add(self, image: Path, annotation: ImageAnnotation) -> list[str]:
        """Add one image; raises (writing nothing) if it cannot be exported."""
        self.check(image, annotation)
        self.cat_ids = category_ids(self.labels)  # the batch may have added labels
        h, w = annotation.size
        image_id = len(self.images) + 1
        notes: list[str] = []
        records = []
        for instance in group_instances(annotation):
            if not instance.has_area:
                notes.append(f"{image}: point {instance.label!r} left out (COCO instances have no points)")
                continue
            record = self._annotation(instance, h, w)
            if record is None:
                notes.append(f"{image}: {instance.label!r} has no area, left out")
                continue
            records.append(record)
        export_image(image, self.out_dir / IMAGES_DIR / self.subset / image.name)
        self.images.append({"id": image_id, "file_name": image.name, "height": h, "width": w})
        self.subset_of[image_id] = self.subset
        for record in records:
            record.update(id=len(self.annotations) + 1, image_id=image_id)
            self.annotations.append(record)
        self.written(image)
        return notes

    def _annotation(self, instance, h: int, w: int) -> dict | None:
        shapes = [s for s in instance.shapes if s.kind != "point"]
        iscrowd = int(any(s.extra.get("iscrowd") for s in shapes))
        use_rle = (
            iscrowd  # COCO: crowd regions are RLE
            or any(s.kind == "mask" for s in shapes)
            or any(p.holes for s in shapes if s.kind == "polygon" for p in s.polygons)
        )
        if use_rle:
            segmentation: list | dict = mask_to_rle(instance.mask(h, w))
            rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode("ascii")}
        else:
            segmentation = [
                [round(float(v), 3) for v in p.exterior.ravel()]
                for p in instance.polygons(self.simplify, size=(h, w))
                if len(p.exterior) >= 3
            ]
            if not segmentation:
                return None
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
        area = float(mask_utils.area(rle))
        if area <= 0:
            return None
        record = {
            "id": 0,
            "image_id": 0,
            "category_id": self.cat_ids[instance.label],
            "segmentation": segmentation,
            "area": area,
            "bbox": [round(float(v), 3) for v in mask_utils.toBbox(rle)],
            "iscrowd": iscrowd,
        }
        if instance.group_id is not None:
            record["group_id"] = instance.group_id
        return record

    def finish(self) -> None:
        self.cat_ids = category_ids(self.labels)
        categories = [{"id": self.cat_ids[label.name], "name": label.name, "supercategory": ""} for label in self.labels]
        subsets = list(dict.fromkeys(self.subset_of.values())) or [self.subset]
        for subset in subsets:
            data = {
                "info": {"description": "exported by samlabel"},
                "licenses": [],
                "images": [e for e in self.images if self.subset_of[e["id"]] == subset],
                "annotations": [a for a in self.annotations if self.subset_of[a["image_id"]] == subset],
                "categories": categories,
            }
            (self.out_dir / json_name(subset)).write_text(dumps(data), encoding="utf-8")


# --- import -----------------------------------------------------------------------
def _load_json(src: Path) -> dict:
    data = load_json(src)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        raise FormatError(src, "not a COCO instances file (needs 'images', 'annotations' and 'categories' lists)")
    return data


def dataset_root(src: Path) -> Path:
    """The folder a COCO JSON file belongs to: the parent of ``annotations/``, else its own."""
    return src.parent.parent if src.parent.name == ANNOTATIONS_DIR else src.parent


def subset_name(src: Path) -> str:
    """The subset a JSON file holds: ``instances_train.json`` -> ``train``,
    ``person_keypoints_val.json`` -> ``val``; Roboflow's ``train/_annotations.coco.json``
    -> ``train``; else the file's stem."""
    stem = src.name[: -len(".json")] if src.name.endswith(".json") else src.stem
    if stem in ("annotations", "_annotations.coco", "_annotations"):
        return src.parent.name if src.parent.name != ANNOTATIONS_DIR else "default"
    return stem.rsplit("_", 1)[-1] if "_" in stem else stem


def image_folders(src: Path) -> list[Path]:
    """Where the images of JSON ``src`` may be, in order; all inside its dataset folder."""
    root, subset = dataset_root(src), subset_name(src)
    folders = [root / IMAGES_DIR / subset, root / IMAGES_DIR, src.parent, root]
    return list(dict.fromkeys(folders))


def _find_image(src: Path, file_name: str) -> Path | None:
    """The image ``file_name`` (already confined) in the folders COCO datasets use."""
    for folder in image_folders(src):
        candidate = folder / file_name
        if candidate.is_file():
            return candidate
    return None


def json_files(src: Path) -> list[Path]:
    """The COCO JSON files a dataset ``src`` (a file or a folder) is made of."""
    if not src.is_dir():
        return [src]
    folder = src / ANNOTATIONS_DIR
    if not folder.is_dir() and src.name == ANNOTATIONS_DIR:
        folder = src
    if folder.is_dir():
        found = sorted(folder.glob("instances_*.json")) or sorted(p for p in folder.glob("*.json") if p.is_file())
        if found:
            return found
    for name in (JSON_NAME, "_annotations.coco.json"):
        if (src / name).is_file():
            return [src / name]
    raise FormatError(src, f"no COCO JSON found (looked for {ANNOTATIONS_DIR}/instances_*.json, {ANNOTATIONS_DIR}/*.json and {JSON_NAME})")


def read(src: Path, labels: LabelSet | None = None, progress=None) -> Reading:
    """Read a COCO dataset: a JSON file or a folder of them (see module docstring)."""
    reading = Reading()
    for path in json_files(Path(src)):
        _read_json(path, labels, reading, progress)
    return reading


def _read_json(src: Path, labels: LabelSet | None, reading: Reading, progress=None) -> None:
    """Add what the COCO JSON file ``src`` holds to ``reading``."""
    data = _load_json(src)
    names: dict[int, str] = {}
    for cat in data["categories"]:
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) or not isinstance(cat.get("name"), str) or not cat["name"].strip():
            raise FormatError(src, f"category {_short(cat)} needs an integer 'id' and a non-empty 'name'")
        names[cat["id"]] = cat["name"]
        reading.labels.add(cat["name"])
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        if isinstance(ann, dict) and _is_key(ann.get("image_id")):
            by_image.setdefault(ann["image_id"], []).append(ann)
    entries = []
    for i, entry in enumerate(data["images"]):
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            reading.problems.append(f"{src}: image entry #{i + 1} is not a JSON object")
    reading.read_each(
        entries,
        lambda entry: _read_image(src, entry, by_image.get(entry.get("id"), []) if _is_key(entry.get("id")) else [], names, labels, reading.notes),
        lambda entry: str(entry.get("file_name", "")),
        progress,
    )


def _is_key(value) -> bool:
    """An id a JSON file can use to link entries (a number or a string, not a list)."""
    return isinstance(value, (int, str))


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_image(src: Path, entry: dict, anns: list[dict], names: dict[int, str], labels: LabelSet | None, notes: list[str]) -> ImportItem:
    file_name = entry.get("file_name")
    if not isinstance(file_name, str):
        raise FormatError(src, f"image {_short(entry.get('id'))} has no file_name")
    confined = confined_path(file_name)
    if confined is None:
        raise FormatError(src, f"image {file_name!r}: the path is absolute or leaves the dataset folder; not read")
    image = _find_image(src, confined)
    if image is None:
        where = ", ".join(str(p.relative_to(dataset_root(src))) + "/" if p != dataset_root(src) else "the dataset folder" for p in image_folders(src))
        raise FormatError(src, f"image {file_name!r} not found (looked in {where})")
    h, w = image_size(image)
    if (entry.get("height"), entry.get("width")) != (h, w):
        raise FormatError(src, f"image {file_name!r} is {w}x{h} but the JSON says width {entry.get('width')!r}, height {entry.get('height')!r}")
    where = f"{src} (image {file_name!r})"
    shapes = []
    for ann in anns:
        label = names.get(ann.get("category_id")) if _is_key(ann.get("category_id")) else None  # type: ignore[arg-type]
        if label is None:
            raise FormatError(where, f"annotation {_short(ann.get('id'))} has unknown category_id {_short(ann.get('category_id'))}")
        if labels is not None and label not in labels:
            raise FormatError(where, f"label {label!r} is not in the label file")
        try:
            shape = _shape(ann, label, h, w, where, notes)
        except FormatError:
            raise
        except (AnnotationError, ValueError, TypeError, OverflowError) as exc:  # numbers that are not numbers, NaN, 10**400...
            raise FormatError(where, f"annotation {_short(ann.get('id'))}: {exc}") from exc
        if shape is not None:
            shapes.append(shape)
    annotation = ImageAnnotation(image_path=image.name, image_height=h, image_width=w, shapes=tuple(shapes))
    return ImportItem(image, annotation)


def _shape(ann: dict, label: str, h: int, w: int, where: str, notes: list[str]) -> Shape | None:
    seg = ann.get("segmentation")
    group_id = ann.get("group_id")
    group_id = group_id if isinstance(group_id, int) and not isinstance(group_id, bool) else None
    extra = {"iscrowd": 1} if ann.get("iscrowd") else {}
    if isinstance(seg, list) and seg:
        parts = []
        for k, flat in enumerate(seg):
            if not isinstance(flat, list) or len(flat) < 6 or len(flat) % 2:
                raise FormatError(where, f"annotation {ann.get('id')}: polygon #{k + 1} has fewer than 3 points")
            parts.append(PolygonWithHoles(np.array(flat, dtype=np.float64).reshape(-1, 2)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AnnotationWarning)
            try:
                fixed, repaired = repair_polygons(parts)
            except AnnotationError as exc:
                raise FormatError(where, f"annotation {ann.get('id')}: {exc}") from exc
        if repaired:
            notes.append(f"{where}: annotation {ann.get('id')}: self-intersecting polygon repaired")
        return Shape.from_polygons(label, fixed, group_id=group_id, extra=extra)
    if isinstance(seg, dict):
        try:
            rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg.get("counts"), list) else dict(seg)
            if isinstance(rle.get("counts"), str):
                rle["counts"] = rle["counts"].encode("ascii")
            if list(rle.get("size", [])) != [h, w]:
                raise FormatError(where, f"annotation {ann.get('id')}: the mask is {rle.get('size')} (HxW) but the image is [{h}, {w}]")
            mask = mask_utils.decode(rle).astype(bool)
        except FormatError:
            raise
        except Exception as exc:
            raise FormatError(where, f"annotation {ann.get('id')}: the RLE cannot be decoded ({exc})") from exc
        shape = shapes_from_mask(label, mask, group_id=group_id)
        if shape is None:
            notes.append(f"{where}: annotation {ann.get('id')} has an empty mask, left out")
            return None
        return shape.replace(extra=extra)
    bbox = ann.get("bbox")
    if isinstance(bbox, list) and len(bbox) == 4:  # a detection-only annotation
        x, y, bw, bh = (float(v) for v in bbox)
        return Shape.rectangle(label, (x, y), (x + bw, y + bh), group_id=group_id, extra=extra)
    raise FormatError(where, f"annotation {ann.get('id')} has neither a segmentation nor a bbox")


__all__ = ["ANNOTATIONS_DIR", "JSON_NAME", "Writer", "category_ids", "dataset_root", "image_folders", "json_files", "json_name", "read", "subset_name"]
