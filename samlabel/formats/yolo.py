"""YOLO segmentation (Ultralytics) export and import.

Layout: ``OUT/images/<file>``, ``OUT/labels/<stem>.txt`` and ``OUT/data.yaml`` (``train``
and ``val`` both ``images``, relative to the yaml's folder, and the ``names`` map). Each
line is ``class x1 y1 x2 y2 ...`` with coordinates normalised by the image width and height. One line per instance; an instance with several parts or with holes is
joined into one polygon by zero-width bridges between the closest points of consecutive
rings, the way Ultralytics' ``merge_multi_segment`` joins COCO segments (holes are
oriented against their exterior, so the joined polygon still rasterises with its holes).
Unlike Ultralytics, a reversed middle ring is entered at the right vertex. Polygons are
clipped to the image (Ultralytics drops a whole label file with a coordinate outside
0..1). Points are left out (noted). Import accepts polygon lines and ``class xc yc w h`` box lines
(rectangles); joined polygons are split back into parts and holes with shapely.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from shapely import make_valid
from shapely.geometry import Polygon
from shapely.geometry.polygon import orient

from samlabel.annotations import ImageAnnotation, LabelSet, Shape
from samlabel.annotations.geometry import polygons_from_geometry
from samlabel.formats.common import (
    FormatError,
    ImportItem,
    Reading,
    BaseWriter,
    dataset_class_names,
    group_instances,
)
from samlabel.formats.images import export_image, find_image, image_size
from samlabel.formats.data_yaml import dump_data_yaml, read_names

IMAGES_DIR, LABELS_DIR, YAML_NAME = "images", "labels", "data.yaml"


def _closest(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Indices of the closest pair of points between rings ``a (N, 2)`` and ``b (M, 2)``."""
    d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    return int(i), int(j)


def merge_multi_segment(segments: list[np.ndarray]) -> np.ndarray:
    """Join rings ``[(N_k, 2), ...]`` into one ``(M, 2)`` polygon, Ultralytics style.

    Consecutive rings are linked at their closest points. A forward pass walks each
    ring from its entry link around to its exit link; a backward pass walks the rest of
    the middle rings on the way back, so every bridge is traversed twice (zero width).
    """
    segs = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in segments]
    if len(segs) == 1:
        return segs[0]
    links: list[list[int]] = [[] for _ in segs]
    for k in range(1, len(segs)):
        i, j = _closest(segs[k - 1], segs[k])
        links[k - 1].append(i)
        links[k].append(j)
    last = len(segs) - 1
    forward, backward = [], []
    for k, (seg, link) in enumerate(zip(segs, links)):
        n = len(seg)
        if k in (0, last):
            start = link[0]
            rolled = np.roll(seg, -start, axis=0)
            forward.append(np.concatenate([rolled, rolled[:1]]))
            continue
        entry, exit_ = link
        if entry > exit_:  # walk the ring the other way so that exit comes after entry
            seg = seg[::-1]
            entry, exit_ = n - 1 - entry, n - 1 - exit_
        rolled = np.roll(seg, -entry, axis=0)
        closed = np.concatenate([rolled, rolled[:1]])
        span = exit_ - entry
        forward.append(closed[: span + 1])
        backward.append(closed[span:])
    return np.concatenate(forward + backward[::-1], axis=0)


def _instance_rings(polygons) -> list[np.ndarray]:
    """Exterior and hole rings of every part, holes oriented against the exterior."""
    rings = []
    for poly in polygons:
        p = orient(poly.to_shapely(), sign=1.0)
        rings.append(np.asarray(p.exterior.coords)[:-1])
        rings.extend(np.asarray(r.coords)[:-1] for r in p.interiors)
    return rings


class Writer(BaseWriter):
    DIRS = (IMAGES_DIR, LABELS_DIR)  # labels/<stem>.txt: named by stem

    def add(self, image: Path, annotation: ImageAnnotation) -> list[str]:
        self.check(image, annotation)
        h, w = annotation.size
        lines, notes = [], []
        for instance in group_instances(annotation):
            polygons = instance.polygons(self.simplify, size=(h, w))
            if not polygons:
                what = "is outside the image" if instance.has_area else "has no polygon (points cannot be exported to YOLO)"
                notes.append(f"{image}: {instance.label!r} {what}, left out")
                continue
            joined = merge_multi_segment(_instance_rings(polygons))
            norm = joined / np.array([w, h], dtype=np.float64)
            coords = " ".join(f"{v:.6f}" for v in norm.ravel())
            lines.append(f"{self.labels.index(instance.label)} {coords}")
        export_image(image, self.out_dir / IMAGES_DIR / image.name)
        (self.out_dir / LABELS_DIR / f"{image.stem}.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        self.written(image)
        return notes

    def finish(self) -> None:
        # No "path:" key: Ultralytics then resolves train/val from data.yaml's own folder;
        # "path: ." would mean the working directory (or its datasets folder), not this one.
        yaml = dump_data_yaml(self.labels.names, {"train": IMAGES_DIR, "val": IMAGES_DIR})
        (self.out_dir / YAML_NAME).write_text(yaml, encoding="utf-8")


def read(src: Path, labels: LabelSet | None = None, progress=None) -> Reading:
    """Read a YOLO segmentation dataset folder (or its data.yaml)."""
    src = Path(src)
    root = src.parent if src.is_file() else src
    yaml_path = src if src.is_file() else root / YAML_NAME
    names = dataset_class_names(yaml_path, lambda path: LabelSet(read_names(path)), labels)
    images_dir, labels_dir = root / IMAGES_DIR, root / LABELS_DIR
    if not images_dir.is_dir() or not labels_dir.is_dir():
        raise FormatError(root, f"expected '{IMAGES_DIR}/' and '{LABELS_DIR}/' folders")
    reading = Reading(labels=names.copy())
    from samlabel.annotations.project import list_images

    images = list_images(images_dir)
    reading.read_each(images, lambda image: _read_one(image, labels_dir / f"{image.stem}.txt", names), lambda image: image.name, progress)
    for txt in sorted(labels_dir.glob("*.txt")):
        if find_image(images_dir, txt.stem) is None:
            reading.problems.append(f"{txt}: no image named {txt.stem}.* in {images_dir}")
    return reading


def _read_one(image: Path, txt: Path, names: LabelSet) -> ImportItem:
    h, w = image_size(image)
    shapes = []
    if txt.is_file():
        try:
            text = txt.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FormatError(txt, f"cannot read the file ({exc})") from exc
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            shapes.append(_shape(line, names, h, w, f"{txt}: line {n}"))
    annotation = ImageAnnotation(image_path=image.name, image_height=h, image_width=w, shapes=tuple(shapes))
    return ImportItem(image, annotation)


def _even_odd(points: np.ndarray):
    """A joined YOLO polygon as valid geometry: bridges vanish, holes come back.

    shapely's ``make_valid(method="structure")`` (shapely >= 2.1, GEOS >= 3.10) keeps
    holes that are reached by a bridge; older versions fall back to the default method.
    """
    try:
        return make_valid(Polygon(points), method="structure")
    except (TypeError, ValueError):  # pragma: no cover - old shapely / GEOS
        return make_valid(Polygon(points))


def _shape(line: str, names: LabelSet, h: int, w: int, where: str) -> Shape:
    fields = line.split()
    try:
        cls = int(fields[0])
        values = np.array([float(v) for v in fields[1:]], dtype=np.float64)
    except ValueError as exc:
        raise FormatError(where, f"not a YOLO label line ({exc})") from exc
    if not np.all(np.isfinite(values)):
        raise FormatError(where, "a coordinate is not a finite number")
    if not 0 <= cls < len(names):
        raise FormatError(where, f"class {cls} is not in the {len(names)} class names")
    label = names[cls].name
    scale = np.array([w, h], dtype=np.float64)
    if len(values) == 4:
        xc, yc, bw, bh = values
        return Shape.rectangle(label, ((xc - bw / 2) * w, (yc - bh / 2) * h), ((xc + bw / 2) * w, (yc + bh / 2) * h))
    if len(values) < 6 or len(values) % 2:
        raise FormatError(where, f"a polygon needs at least 3 x y pairs, got {len(values)} numbers")
    points = values.reshape(-1, 2) * scale
    polygons = polygons_from_geometry(_even_odd(points), min_area=1e-6)
    if not polygons:
        raise FormatError(where, "the polygon has no area")
    return Shape.from_polygons(label, polygons)


__all__ = ["Writer", "merge_multi_segment", "read"]
