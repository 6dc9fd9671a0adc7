"""Mask PNGs, semantic and instance (export and import).

Layout::

    OUT/images/<file>               the images
    OUT/semantic/<stem>.png         palette PNG (VOC colours), value = class index (0 background)
    OUT/instance/<stem>.png         16-bit greyscale PNG, value = instance id (0 background)
    OUT/class_names.txt             ``_background_`` then the labels; class index = line number

An instance's id is its group id when it has one (1..65535, not already taken), else the
next free id, so group ids survive a round trip. Instances are painted in shape order:
where they overlap, the later one wins. Points are left out. Import makes one polygon
shape per instance id (its label is the majority class under it); without an instance
PNG, one shape per class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from samlabel.annotations import ImageAnnotation, LabelSet, Shape
from samlabel.annotations.project import list_images
from samlabel.formats.common import (
    FormatError,
    ImportItem,
    Reading,
    BaseWriter,
    dataset_class_names,
    group_instances,
    read_class_names,
    shapes_from_mask,
    write_class_names,
)
from samlabel.formats.images import export_image, image_size, read_index_png, save_palette_png

IMAGES_DIR, SEMANTIC_DIR, INSTANCE_DIR = "images", "semantic", "instance"
MAX_ID = 65535


class Writer(BaseWriter):
    DIRS = (IMAGES_DIR, SEMANTIC_DIR, INSTANCE_DIR)
    MAX_CLASSES = 255  # the 8-bit semantic PNG

    def add(self, image: Path, annotation: ImageAnnotation) -> list[str]:
        self.check(image, annotation)
        h, w = annotation.size
        semantic = np.zeros((h, w), dtype=np.uint8)
        instance_png = np.zeros((h, w), dtype=np.uint16)
        notes: list[str] = []
        instances = [i for i in group_instances(annotation) if i.has_area]
        if len(instances) < len(group_instances(annotation)):
            notes.append(f"{image}: points left out (mask PNGs have no points)")
        ids = _instance_ids([i.group_id for i in instances])
        if ids and max(ids) > MAX_ID:
            raise FormatError(image, f"more than {MAX_ID} instances")
        for inst, inst_id in zip(instances, ids):
            mask = inst.mask(h, w)
            semantic[mask] = self.labels.index(inst.label) + 1
            instance_png[mask] = inst_id
        export_image(image, self.out_dir / IMAGES_DIR / image.name)
        save_palette_png(self.out_dir / SEMANTIC_DIR / f"{image.stem}.png", semantic)
        Image.fromarray(instance_png).save(self.out_dir / INSTANCE_DIR / f"{image.stem}.png")
        self.written(image)
        return notes

    def finish(self) -> None:
        write_class_names(self.out_dir / "class_names.txt", self.labels)


def _instance_ids(group_ids: list[int | None]) -> list[int]:
    """Each instance's id: its group id if usable and not taken, else the next free one."""
    taken: set[int] = set()
    ids: list[int | None] = []
    for gid in group_ids:
        if gid is not None and 1 <= gid <= MAX_ID and gid not in taken:
            taken.add(gid)
            ids.append(gid)
        else:
            ids.append(None)
    next_id = 1
    out = []
    for value in ids:
        if value is None:
            while next_id in taken:
                next_id += 1
            value = next_id
            taken.add(value)
        out.append(value)
    return out


def read(src: Path, labels: LabelSet | None = None, progress=None) -> Reading:
    root = Path(src)
    images_dir = root / IMAGES_DIR
    if not images_dir.is_dir() or not ((root / SEMANTIC_DIR).is_dir() or (root / INSTANCE_DIR).is_dir()):
        raise FormatError(root, f"expected '{IMAGES_DIR}/' and '{SEMANTIC_DIR}/' or '{INSTANCE_DIR}/' folders")
    class_names = dataset_class_names(root / "class_names.txt", read_class_names, labels)
    reading = Reading(labels=class_names.copy())
    images = list_images(images_dir)
    reading.read_each(images, lambda image: _read_one(root, image, class_names), lambda image: image.name, progress)
    return reading


def _png(path: Path, h: int, w: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    arr = read_index_png(path)
    if arr.shape != (h, w):
        raise FormatError(path, f"the mask is {arr.shape[1]}x{arr.shape[0]} but the image is {w}x{h} (WxH)")
    return arr


def _label(class_names: LabelSet, value: int, where: Path) -> str:
    if not 1 <= value <= len(class_names):
        raise FormatError(where, f"class value {value} has no name in class_names.txt")
    return class_names[value - 1].name


def _read_one(root: Path, image: Path, class_names: LabelSet) -> ImportItem:
    h, w = image_size(image)
    sem_path, inst_path = root / SEMANTIC_DIR / f"{image.stem}.png", root / INSTANCE_DIR / f"{image.stem}.png"
    semantic, instance = _png(sem_path, h, w), _png(inst_path, h, w)
    shapes: list[Shape] = []
    if instance is not None:
        for value in np.unique(instance).tolist():
            if value == 0:
                continue
            mask = instance == value
            if semantic is None:
                raise FormatError(sem_path, "the semantic PNG (for the instance labels) does not exist")
            classes, counts = np.unique(semantic[mask], return_counts=True)
            label = _label(class_names, int(classes[np.argmax(counts)]), sem_path)
            shape = shapes_from_mask(label, mask, group_id=int(value))
            if shape is not None:
                shapes.append(shape)
    elif semantic is not None:
        for value in np.unique(semantic).tolist():
            if value in (0, 255):
                continue
            shape = shapes_from_mask(_label(class_names, int(value), sem_path), semantic == value)
            if shape is not None:
                shapes.append(shape)
    annotation = ImageAnnotation(image_path=image.name, image_height=h, image_width=w, shapes=tuple(shapes))
    return ImportItem(image, annotation)


__all__ = ["Writer", "read"]
