"""Pascal VOC (export and import).

Layout::

    OUT/JPEGImages/<stem>.jpg            the images (non-JPEGs converted)
    OUT/Annotations/<stem>.xml           one <object> per instance, <bndbox> 1-based inclusive
    OUT/SegmentationClass/<stem>.png     palette PNG, value = class index (0 background)
    OUT/SegmentationObject/<stem>.png    palette PNG, value = object's position in the XML
    OUT/ImageSets/Segmentation/<subset>.txt   the image ids of each subset
    OUT/ImageSets/Main/<subset>.txt           the same (VOC's detection lists)
    OUT/class_names.txt                  ``_background_`` then the labels (labelme2voc style)
    OUT/labelmap.txt                     background then each label with its colour in the
                                         PNGs' palette (CVAT's and Datumaro's label map)

``<subset>`` is ``trainval`` unless the export is split. ``<stem>`` is the image's VOC id.
VOC's image lists hold one id per line and VOC tools split lines at whitespace, so an image
whose stem has whitespace is written under the stem with each run of whitespace replaced by
``_`` (``_2``, ``_3``... appended if that id is taken), with a note naming both. A label
that ``labelmap.txt`` cannot hold (one with ``:``) makes its image a problem.

Import reads what samlabel, labelme2voc, CVAT and Datumaro write: the image ids of the
``ImageSets/Segmentation`` lists (else ``ImageSets/Main``; else every XML, object PNG or
image), a line being the id as a whole (spaces kept, surrounding quotes removed); a line
that is neither one id nor the name of an image in ``JPEGImages/`` is reported, never
silently dropped, as is an id without an image. The classes come from ``labelmap.txt``,
else ``class_names.txt``, else ``--labels``. The PNGs may be palette, greyscale or
RGB-coloured (colours mapped by ``labelmap.txt``; object colours are VOC's colour map).
Each object of ``SegmentationObject`` becomes a traced polygon labelled by the class most
of its pixels have in ``SegmentationClass`` (the XML's object order is used only when
there is no class PNG). An XML object whose box no object mask of its label fills is a
box-only object, read as a rectangle. An image listed with neither XML nor PNGs has no
objects (CVAT and Datumaro write neither for an image without shapes).

Class index = position in the label set + 1. Instances are painted in shape order, so
where they overlap the later one wins. A rectangle-only instance is a box-only object
(in the XML, no pixels), which imports back as a rectangle; points are left out. VOC's
8-bit object PNG limits an image to 254 objects (255 is VOC's "void"). VOC has no group
ids: an object in several parts is one object.
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
from samlabel.formats.images import (
    export_image,
    find_image,
    image_size,
    read_label_png,
    save_palette_png,
    voc_colors,
    voc_palette,
)
from samlabel.formats.labelmap import FILE_NAME as LABELMAP, labelmap_classes, unwritable_name, write_labelmap

DIRS = ("JPEGImages", "Annotations", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation", "ImageSets/Main")
VOID = 255
MAX_OBJECTS = 254
_WHITESPACE = re.compile(r"\s+")


class Writer(BaseWriter):
    DIRS = DIRS
    MAX_CLASSES = MAX_OBJECTS  # 8-bit PNGs; 255 is VOC's "void"
    SUBSETS = True
    DEFAULT_SUBSET = "trainval"

    def __init__(self, out_dir: Path, labels: LabelSet, simplify: float | None = None):
        super().__init__(out_dir, labels, simplify)
        self.ids: set[str] = set()
        self.subset_ids: dict[str, list[str]] = {}  # subset -> image ids, in order

    def check(self, image: Path, annotation: ImageAnnotation) -> None:
        super().check(image, annotation)
        for name in annotation.labels_used():
            problem = unwritable_name(name)
            if problem is not None:
                raise FormatError(image, f"label {name!r} {problem}; VOC's labelmap.txt cannot hold it")

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
        self.subset_ids.setdefault(self.subset, []).append(image_id)
        if image_id != image.stem:
            why = "a VOC image id cannot contain whitespace" if _WHITESPACE.search(image.stem) else f"the id {image.stem!r} was taken"
            notes.append(f"{image}: exported as VOC id {image_id!r} ({why})")
        return notes

    def finish(self) -> None:
        for subset, ids in (self.subset_ids or {self.subset: []}).items():
            for folder in ("Segmentation", "Main"):
                path = self.out_dir / "ImageSets" / folder / f"{subset}.txt"
                path.write_text("".join(i + "\n" for i in ids), encoding="utf-8")
        write_class_names(self.out_dir / "class_names.txt", self.labels)
        palette = voc_palette(len(self.labels) + 1)
        colors = [tuple(palette[3 * i : 3 * i + 3]) for i in range(1, len(self.labels) + 1)]
        write_labelmap(self.out_dir / LABELMAP, self.labels.names, colors)  # type: ignore[arg-type]


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
    class_colors = None
    if (root / LABELMAP).is_file():
        names, class_colors = labelmap_classes(root / LABELMAP)
        class_colors.setdefault(tuple(voc_palette()[3 * VOID : 3 * VOID + 3]), VOID)  # type: ignore[arg-type]
        class_names = dataset_class_names(root / LABELMAP, lambda _p: names, labels, required=False)
    else:
        class_names = dataset_class_names(root / "class_names.txt", read_class_names, labels, required=False)
    reading = Reading(labels=class_names.copy() if class_names is not None else LabelSet())
    stems = _stems(root, reading.problems)
    reading.read_each(stems, lambda stem: _read_one(root, stem, class_names, class_colors, labels), str, progress)
    return reading


def _list_files(root: Path) -> list[Path]:
    """The image lists: ``ImageSets/Segmentation/*.txt`` and ``ImageSets/Main/*.txt``
    (CVAT and Datumaro list an image without masks only in ``Main``), without Main's
    per-class lists (``car_train.txt`` beside ``train.txt``)."""
    found = []
    for name in ("Segmentation", "Main"):
        folder = root / "ImageSets" / name
        files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
        subsets = {p.stem for p in files}
        found += [p for p in files if not any(p.stem.endswith("_" + s) for s in subsets if s != p.stem)]
    return found


def _list_id(entry: str) -> str:
    """A list line's image id: the whole line, without the quotes some tools put around
    an id with spaces."""
    if len(entry) >= 2 and entry[0] == entry[-1] == '"':
        return entry[1:-1].strip()
    return entry


def _stems(root: Path, problems: list[str]) -> list[str]:
    """The image ids of the image lists (in order, once each), else of ``Annotations/``,
    ``SegmentationObject/`` or ``JPEGImages/``; a line that is not an id goes to
    ``problems``."""
    ids: dict[str, None] = {}  # ordered set
    for txt in _list_files(root):
        try:
            text = txt.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise FormatError(txt, f"cannot read the image list ({exc})") from exc
        for n, line in enumerate(text.splitlines(), start=1):
            entry = _list_id(line.strip())
            if not entry or entry.startswith("#"):
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
        for folder, pattern in (("Annotations", "*.xml"), ("SegmentationObject", "*.png"), ("JPEGImages", "*")):
            if (root / folder).is_dir():
                stems = sorted({p.stem for p in (root / folder).glob(pattern) if p.is_file()})
                if stems:
                    break
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


def _pixel_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The 1-based inclusive VOC box of a non-empty ``(H, W)`` mask."""
    ys, xs = np.nonzero(mask)
    return (int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1)


def _read_one(
    root: Path, stem: str, class_names: LabelSet | None, class_colors: dict | None, labels: LabelSet | None
) -> ImportItem:
    image = find_image(root / "JPEGImages", stem, preferred=(".jpg",))
    if image is None:
        raise FormatError(root / "JPEGImages" / f"{stem}.jpg", "the image does not exist")
    h, w = image_size(image)
    xml = root / "Annotations" / f"{stem}.xml"
    objects = _parse_xml(xml) if xml.is_file() else []
    for name, _box in objects:
        if labels is not None and name not in labels:
            raise FormatError(xml, f"label {name!r} is not in the label file")
    obj_png, cls_png = root / "SegmentationObject" / f"{stem}.png", root / "SegmentationClass" / f"{stem}.png"
    obj = _index_png(obj_png, h, w, voc_colors()) if obj_png.is_file() else None
    cls = _index_png(cls_png, h, w, class_colors) if cls_png.is_file() and obj is not None else None
    shapes: list[Shape] = []
    masks: list[tuple[str, np.ndarray]] = []
    if obj is not None:
        if cls is None and not objects:
            raise FormatError(obj_png, "without Annotations XML, SegmentationClass and class_names.txt are needed for the labels")
        for value in sorted(set(np.unique(obj).tolist()) - {0, VOID}):
            mask = obj == value
            name = _instance_label(mask, value, cls, cls_png, class_names, objects, xml)
            masks.append((name, mask))
            shape = shapes_from_mask(name, mask)
            if shape is not None:
                shapes.append(shape)
    boxes = {(name, _pixel_box(mask)) for name, mask in masks}
    for name, box in objects:
        if box is None:
            continue
        if any(n == name and all(abs(a - b) <= 1 for a, b in zip(box, pb)) for n, pb in boxes):
            continue  # the box of an object read from the PNGs
        x0, y0, x1, y1 = box
        shapes.append(Shape.rectangle(name, (x0 - 1, y0 - 1), (x1, y1)))
    annotation = ImageAnnotation(image_path=image.name, image_height=h, image_width=w, shapes=tuple(shapes))
    return ImportItem(image, annotation)


def _instance_label(mask, value: int, cls, cls_png: Path, class_names: LabelSet | None, objects, xml: Path) -> str:
    """The label of the object ``value`` of the object PNG: the class most of its pixels
    have in the class PNG, else (no class PNG) the XML's ``value``-th object."""
    if cls is not None:
        if class_names is None:
            raise FormatError(cls_png, "no class names: labelmap.txt or class_names.txt is needed, or --labels")
        values, counts = np.unique(cls[mask], return_counts=True)
        keep = values != VOID
        values, counts = values[keep], counts[keep]
        if len(values):
            c = int(values[np.argmax(counts)])
            if not 1 <= c <= len(class_names):
                raise FormatError(cls_png, f"class value {c} has no name in the class names")
            return class_names[c - 1].name
    if 1 <= value <= len(objects):
        return objects[value - 1][0]
    raise FormatError(xml, f"object {value} of the object PNG has no class: not in SegmentationClass and not in the XML")


def _index_png(path: Path, h: int, w: int, colors: dict | None) -> np.ndarray:
    arr = read_label_png(path, colors)
    if arr.shape != (h, w):
        raise FormatError(path, f"the PNG is {arr.shape[1]}x{arr.shape[0]} but the image is {w}x{h} (WxH)")
    return arr


__all__ = ["Writer", "read"]
