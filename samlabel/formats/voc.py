"""Pascal VOC (export and import).

Layout::

    OUT/JPEGImages/<stem>.jpg            the images (non-JPEGs converted)
    OUT/Annotations/<stem>.xml           one <object> per instance, <bndbox> 1-based inclusive
    OUT/SegmentationClass/<stem>.png     palette PNG, value = class index (0 background)
    OUT/SegmentationObject/<stem>.png    palette PNG, value = object's position in the XML
    OUT/ImageSets/Segmentation/trainval.txt
    OUT/class_names.txt                  ``_background_`` then the labels (labelme2voc style)

``<stem>`` is the image's VOC id. VOC's image lists hold one id per line and VOC tools
split lines at whitespace, so an image whose stem has whitespace is written under the stem
with each run of whitespace replaced by ``_`` (``_2``, ``_3``... appended if that id is
taken), with a note naming both. On import, a list line that is not one id (and not
the stem of an image in ``JPEGImages/``, as older exports wrote) is reported, never
silently dropped; an id without an image is reported too.

Class index = position in the label set + 1. Instances are painted in shape order, so
where they overlap the later one wins. A rectangle-only instance is a box-only object
(in the XML, no pixels), which imports back as a rectangle; points are left out. VOC's
8-bit object PNG limits an image to 254 objects (255 is VOC's "void").
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from samlabel.annotations import ImageAnnotation, LabelSet, Shape
from samlabel.formats.common import (
    FormatError,
    ImportItem,
    Reading,
    BaseWriter,
    confined_path,
    dataset_class_names,
    group_instances,
    read_class_names,
    shapes_from_mask,
    write_class_names,
)
from samlabel.formats.images import export_image, find_image, image_size, read_index_png, save_palette_png

DIRS = ("JPEGImages", "Annotations", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation")
MAX_OBJECTS = 254
_WHITESPACE = re.compile(r"\s+")


class Writer(BaseWriter):
    DIRS = DIRS
    MAX_CLASSES = MAX_OBJECTS  # 8-bit PNGs; 255 is VOC's "void"

    def __init__(self, out_dir: Path, labels: LabelSet, simplify: float | None = None):
        super().__init__(out_dir, labels, simplify)
        self.ids: set[str] = set()

    def image_id(self, image: Path) -> str:
        """The image's VOC id: its stem, whitespace replaced by ``_`` and made unique."""
        stem = image.stem
        if not _WHITESPACE.search(stem) and stem not in self.ids:
            return stem
        base = _WHITESPACE.sub("_", stem)
        candidate, n = base, 2
        while candidate in self.ids:
            candidate, n = f"{base}_{n}", n + 1
        return candidate

    def add(self, image: Path, annotation: ImageAnnotation) -> list[str]:
        self.check(image, annotation)
        image_id = self.image_id(image)
        h, w = annotation.size
        cls = np.zeros((h, w), dtype=np.uint8)
        obj = np.zeros((h, w), dtype=np.uint8)
        objects, notes = [], []
        for instance in group_instances(annotation):
            if not instance.has_area:
                notes.append(f"{image}: point {instance.label!r} left out (VOC has no points)")
                continue
            mask = instance.mask(h, w)
            box_only = all(s.kind == "rectangle" for s in instance.shapes)
            if box_only:
                x0, y0, x1, y1 = _union_bbox(instance.shapes)
                box = (max(int(np.floor(x0)), 0) + 1, max(int(np.floor(y0)), 0) + 1, min(int(np.ceil(x1)), w), min(int(np.ceil(y1)), h))
            elif mask.any():
                ys, xs = np.nonzero(mask)
                box = (int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1)
            else:
                notes.append(f"{image}: {instance.label!r} has no pixels, left out")
                continue
            objects.append((instance.label, box))
            if len(objects) > MAX_OBJECTS:
                raise FormatError(image, f"more than {MAX_OBJECTS} objects; VOC's object PNG cannot hold them")
            if not box_only:
                cls[mask] = self.labels.index(instance.label) + 1
                obj[mask] = len(objects)
        xml = _xml(image_id, w, h, objects)
        export_image(image, self.out_dir / "JPEGImages" / f"{image_id}.jpg", force_jpeg=True)
        (self.out_dir / "Annotations" / f"{image_id}.xml").write_bytes(xml)
        save_palette_png(self.out_dir / "SegmentationClass" / f"{image_id}.png", cls)
        save_palette_png(self.out_dir / "SegmentationObject" / f"{image_id}.png", obj)
        self.written(image, image_id)
        self.ids.add(image_id)
        if image_id != image.stem:
            why = "a VOC image id cannot contain whitespace" if _WHITESPACE.search(image.stem) else f"the id {image.stem!r} was taken"
            notes.append(f"{image}: exported as VOC id {image_id!r} ({why})")
        return notes

    def finish(self) -> None:
        lists = self.out_dir / "ImageSets" / "Segmentation"
        (lists / "trainval.txt").write_text("".join(s + "\n" for s in self.stems), encoding="utf-8")
        write_class_names(self.out_dir / "class_names.txt", self.labels)


def _union_bbox(shapes: list[Shape]) -> tuple[float, float, float, float]:
    boxes = np.array([s.bbox() for s in shapes])
    return (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())


def _xml(stem: str, w: int, h: int, objects: list[tuple[str, tuple[int, int, int, int]]]) -> bytes:
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = f"{stem}.jpg"
    size = ET.SubElement(root, "size")
    for tag, value in (("width", w), ("height", h), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "1"
    for label, (x0, y0, x1, y1) in objects:
        o = ET.SubElement(root, "object")
        ET.SubElement(o, "name").text = label
        ET.SubElement(o, "pose").text = "Unspecified"
        ET.SubElement(o, "truncated").text = "0"
        ET.SubElement(o, "difficult").text = "0"
        b = ET.SubElement(o, "bndbox")
        for tag, value in (("xmin", x0), ("ymin", y0), ("xmax", x1), ("ymax", y1)):
            ET.SubElement(b, tag).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"


# --- import -----------------------------------------------------------------------
def read(src: Path, labels: LabelSet | None = None, progress=None) -> Reading:
    root = Path(src)
    if not (root / "JPEGImages").is_dir():
        raise FormatError(root, "not a Pascal VOC folder (no JPEGImages/)")
    class_names = dataset_class_names(root / "class_names.txt", read_class_names, labels, required=False)
    reading = Reading(labels=class_names.copy() if class_names is not None else LabelSet())
    stems = _stems(root, reading.problems)
    reading.read_each(stems, lambda stem: _read_one(root, stem, class_names, labels), str, progress)
    return reading


def _stems(root: Path, problems: list[str]) -> list[str]:
    """The image ids of the ``ImageSets/Segmentation`` lists (in order, once each), else
    of ``Annotations/`` or ``SegmentationObject/``; a line that is not an id goes to
    ``problems``."""
    lists = root / "ImageSets" / "Segmentation"
    ids: dict[str, None] = {}  # ordered set
    if lists.is_dir():
        for txt in sorted(lists.glob("*.txt")):
            try:
                text = txt.read_bytes().decode("utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise FormatError(txt, f"cannot read the image list ({exc})") from exc
            for n, line in enumerate(text.splitlines(), start=1):
                entry = line.strip()
                if not entry:
                    continue
                if confined_path(entry) != entry:
                    problems.append(f"{txt}: line {n}: {entry!r} is a path, not an image id; not read")
                elif len(entry.split()) == 1 or find_image(root / "JPEGImages", entry, preferred=(".jpg",)) is not None:
                    ids.setdefault(entry)
                else:
                    problems.append(
                        f"{txt}: line {n}: {entry!r} is not an image id (VOC ids have no whitespace, "
                        f"and there is no image of that name in JPEGImages/)"
                    )
    stems = list(ids)
    if not stems and not problems:
        folder = root / "Annotations" if (root / "Annotations").is_dir() else root / "SegmentationObject"
        stems = sorted(p.stem for p in folder.glob("*.xml" if folder.name == "Annotations" else "*.png"))
    return stems


def _parse_xml(path: Path) -> list[tuple[str, tuple[float, float, float, float] | None]]:
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise FormatError(path, f"malformed XML ({exc})") from exc
    objects = []
    for o in root.findall("object"):
        name = (o.findtext("name") or "").strip()
        if not name:
            raise FormatError(path, "an <object> has no <name>")
        b = o.find("bndbox")
        box = None
        if b is not None:
            try:
                box = tuple(float(b.findtext(t) or "nan") for t in ("xmin", "ymin", "xmax", "ymax"))
            except ValueError as exc:
                raise FormatError(path, f"object {name!r}: bad <bndbox> ({exc})") from exc
            if not all(math.isfinite(v) for v in box):
                raise FormatError(path, f"object {name!r}: <bndbox> needs xmin, ymin, xmax and ymax numbers")
        objects.append((name, box))
    return objects  # type: ignore[return-value]


def _read_one(root: Path, stem: str, class_names: LabelSet | None, labels: LabelSet | None) -> ImportItem:
    image = find_image(root / "JPEGImages", stem, preferred=(".jpg",))
    if image is None:
        raise FormatError(root / "JPEGImages" / f"{stem}.jpg", "the image does not exist")
    h, w = image_size(image)
    xml = root / "Annotations" / f"{stem}.xml"
    objects = _parse_xml(xml) if xml.is_file() else None
    obj_png, cls_png = root / "SegmentationObject" / f"{stem}.png", root / "SegmentationClass" / f"{stem}.png"
    obj = _index_png(obj_png, h, w) if obj_png.is_file() else None
    cls = _index_png(cls_png, h, w) if cls_png.is_file() else None
    shapes: list[Shape] = []
    if objects is not None:
        for i, (name, box) in enumerate(objects, start=1):
            if labels is not None and name not in labels:
                raise FormatError(xml, f"label {name!r} is not in the label file")
            mask = obj == i if obj is not None else None
            if mask is not None and mask.any():
                shape = shapes_from_mask(name, mask)
                if shape is not None:
                    shapes.append(shape)
            elif box is not None:
                x0, y0, x1, y1 = box
                shapes.append(Shape.rectangle(name, (x0 - 1, y0 - 1), (x1, y1)))
    elif obj is not None:
        if cls is None or class_names is None:
            raise FormatError(obj_png, "without Annotations XML, SegmentationClass and class_names.txt are needed for the labels")
        for value in sorted(set(np.unique(obj).tolist()) - {0, 255}):
            mask = obj == value
            values, counts = np.unique(cls[mask], return_counts=True)
            c = int(values[np.argmax(counts)])
            if not 1 <= c <= len(class_names):
                raise FormatError(cls_png, f"class value {c} has no name in class_names.txt")
            shape = shapes_from_mask(class_names[c - 1].name, mask)
            if shape is not None:
                shapes.append(shape)
    else:
        raise FormatError(xml, "neither Annotations XML nor SegmentationObject PNG for this image")
    annotation = ImageAnnotation(image_path=image.name, image_height=h, image_width=w, shapes=tuple(shapes))
    return ImportItem(image, annotation)


def _index_png(path: Path, h: int, w: int) -> np.ndarray:
    arr = read_index_png(path)
    if arr.shape != (h, w):
        raise FormatError(path, f"the PNG is {arr.shape[1]}x{arr.shape[0]} but the image is {w}x{h} (WxH)")
    return arr


__all__ = ["Writer", "read"]
