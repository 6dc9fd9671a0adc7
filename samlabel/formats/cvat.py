"""CVAT for images 1.1 XML (export and import).

Export layout (a CVAT project's dataset export, which CVAT and Datumaro import)::

    OUT/annotations.xml
    OUT/images/<subset>/<file>

``<meta><project>`` lists the labels (name, colour, the attributes their shapes use) and
one task per subset (``default`` unless the export is split); each image is an
``<image id name subset width height>`` holding its shapes:

- a polygon without holes: one ``<polygon>`` per part (clipped to the image);
- a polygon with holes or a mask shape: one ``<mask>`` in CVAT's RLE (:mod:`cvat_rle`),
  CVAT's way of holding holes;
- a rectangle: a ``<box>``; a point: a ``<points>``.

A shape's ``group_id`` is the elements' ``group_id`` (CVAT's group). The parts of an
ungrouped shape written as several elements get a group id no other shape of the image
uses, and a group id CVAT cannot hold (0 or below) is replaced by one (both noted).
Shape flags become ``checkbox`` attributes, a description a ``text`` attribute named
``description``.

Import: ``SRC`` is an XML file or a folder of them (CVAT's ``annotations.xml``, Datumaro's
``<subset>.xml``); images are looked up by their ``name`` in ``images/<subset>/``,
``images/`` and beside the XML, never outside that folder (a name that is absolute or
climbs out with ``..`` is refused). Polygons and boxes (a rotated box as a 4-corner
polygon) and points come back as they are, a mask as a polygon traced with its holes,
``group_id`` as the shape's group id; image ``<tag>`` labels become image flags. Tracks
(CVAT for video) and polylines are left out (noted).
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from samlabel.annotations import (
    AnnotationError,
    AnnotationWarning,
    ImageAnnotation,
    LabelSet,
    PolygonWithHoles,
    Shape,
    repair_polygons,
)
from samlabel.formats import cvat_rle
from samlabel.formats.common import (
    BaseWriter,
    FormatError,
    ImportItem,
    Instance,
    Reading,
    confined_path,
    shapes_from_mask,
)
from samlabel.formats.images import export_image, image_size

XML_NAME = "annotations.xml"
IMAGES_DIR = "images"


def _num(value: float) -> str:
    return f"{float(value):.2f}"


class Writer(BaseWriter):
    DIRS = (IMAGES_DIR,)
    NAMED_BY_STEM = False  # images keep their file names
    SUBSETS = True

    def __init__(self, out_dir: Path, labels: LabelSet, simplify: float | None = None):
        super().__init__(out_dir, labels, simplify)
        self.images: list[ET.Element] = []
        self.subset_sizes: dict[str, int] = {}
        self.attributes: dict[str, dict[str, str]] = {}  # label -> attribute name -> input type

    def add(self, image: Path, annotation: ImageAnnotation) -> list[str]:
        self.check(image, annotation)
        h, w = annotation.size
        notes: list[str] = []
        element = ET.Element(
            "image", id=str(len(self.images)), name=image.name, subset=self.subset, width=str(w), height=str(h)
        )
        used = {s.group_id for s in annotation.shapes if s.group_id is not None and s.group_id > 0}
        fresh = iter(range(max(used, default=0) + 1, 1 << 31))
        remapped: dict[int, int] = {}
        attributes: dict[str, dict[str, str]] = {}
        for shape in annotation.shapes:
            gid = shape.group_id
            if gid is not None and gid <= 0:
                if gid not in remapped:
                    remapped[gid] = next(fresh)
                    notes.append(f"{image}: group id {gid} written as CVAT group {remapped[gid]} (CVAT's groups are 1 and up)")
                gid = remapped[gid]
            elements = self._elements(shape, h, w)
            if not elements:
                notes.append(f"{image}: {shape.label!r} {shape.kind} has no area inside the image, left out")
                continue
            if len(elements) > 1 and gid is None:
                gid = next(fresh)
                notes.append(f"{image}: the {len(elements)} parts of a {shape.label!r} polygon written as CVAT group {gid}")
            for tag, attrs in elements:
                child = ET.SubElement(element, tag, label=shape.label, source="manual", occluded="0", **attrs)
                child.set("z_order", "0")
                if gid is not None:
                    child.set("group_id", str(gid))
                self._attributes(child, shape, attributes.setdefault(shape.label, {}))
        export_image(image, self.out_dir / IMAGES_DIR / self.subset / image.name)
        self.images.append(element)
        self.subset_sizes[self.subset] = self.subset_sizes.get(self.subset, 0) + 1
        for label, found in attributes.items():
            self.attributes.setdefault(label, {}).update(found)
        self.written(image)
        return notes

    def _elements(self, shape: Shape, h: int, w: int) -> list[tuple[str, dict[str, str]]]:
        """``[(tag, attributes), ...]`` CVAT elements holding ``shape``."""
        if shape.kind == "point":
            x, y = shape.points[0]  # type: ignore[index]
            return [("points", {"points": f"{_num(x)},{_num(y)}"})]
        if shape.kind == "rectangle":
            (x0, y0), (x1, y1) = np.sort(shape.points, axis=0)  # type: ignore[arg-type]
            return [("box", {"xtl": _num(x0), "ytl": _num(y0), "xbr": _num(x1), "ybr": _num(y1)})]
        if shape.kind == "polygon" and not any(p.holes for p in shape.polygons):
            parts = Instance(shape.label, None, [shape]).polygons(self.simplify, size=(h, w))
            if not any(p.holes for p in parts):
                return [
                    ("polygon", {"points": ";".join(f"{_num(x)},{_num(y)}" for x, y in p.exterior)})
                    for p in parts
                    if len(p.exterior) >= 3
                ]
        attrs = cvat_rle.encode(shape.to_mask(h, w))
        return [("mask", attrs)] if attrs is not None else []

    @staticmethod
    def _attributes(element: ET.Element, shape: Shape, declared: dict[str, str]) -> None:
        for name, value in shape.flags.items():
            if isinstance(value, bool):
                ET.SubElement(element, "attribute", name=str(name)).text = "true" if value else "false"
                declared[str(name)] = "checkbox"
        if shape.description:
            ET.SubElement(element, "attribute", name="description").text = shape.description
            declared["description"] = "text"

    def finish(self) -> None:
        root = ET.Element("annotations")
        ET.SubElement(root, "version").text = "1.1"
        project = ET.SubElement(ET.SubElement(root, "meta"), "project")
        ET.SubElement(project, "name").text = "samlabel export"
        labels = ET.SubElement(project, "labels")
        for label in self.labels:
            node = ET.SubElement(labels, "label")
            ET.SubElement(node, "name").text = label.name
            ET.SubElement(node, "color").text = "#{:02x}{:02x}{:02x}".format(*label.color)
            ET.SubElement(node, "type").text = "any"
            attrs = ET.SubElement(node, "attributes")
            for name, input_type in self.attributes.get(label.name, {}).items():
                attr = ET.SubElement(attrs, "attribute")
                ET.SubElement(attr, "name").text = name
                ET.SubElement(attr, "mutable").text = "True"
                ET.SubElement(attr, "input_type").text = input_type
                ET.SubElement(attr, "default_value").text = "false" if input_type == "checkbox" else ""
                ET.SubElement(attr, "values").text = "false\ntrue" if input_type == "checkbox" else ""
        tasks = ET.SubElement(project, "tasks")
        for n, (subset, size) in enumerate((self.subset_sizes or {self.subset: 0}).items()):
            task = ET.SubElement(tasks, "task")
            for tag, text in (("id", str(n + 1)), ("name", subset), ("size", str(size)), ("mode", "annotation"), ("subset", subset)):
                ET.SubElement(task, tag).text = text
        root.extend(self.images)
        ET.indent(root)
        data = ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
        (self.out_dir / XML_NAME).write_bytes(data)


# --- import -----------------------------------------------------------------------
def xml_files(src: Path) -> list[Path]:
    """The CVAT XML files of ``src`` (a file, or the ``*.xml`` files of a folder)."""
    if not src.is_dir():
        return [src]
    found = sorted(p for p in src.glob("*.xml") if p.is_file())
    if not found:
        raise FormatError(src, "no CVAT XML file (*.xml) in the folder")
    return found


def read(src: Path, labels: LabelSet | None = None, progress=None) -> Reading:
    """Read a CVAT for images 1.1 dataset (see the module docstring)."""
    reading = Reading()
    for path in xml_files(Path(src)):
        root = _parse(path)
        for name, color in _meta_labels(path, root):
            if labels is not None and name not in labels:
                raise FormatError(path, f"label {name!r} is not in the label file")
            if name not in reading.labels:
                reading.labels.add(name, color=color)
        if root.find("track") is not None:
            reading.notes.append(f"{path}: tracks (CVAT for video) are not read")
        reading.read_each(
            root.findall("image"),
            lambda el, path=path: _read_image(path, el, labels, reading.notes),
            lambda el, path=path: f"{path} (image {el.get('name')!r})",
            progress,
        )
    return reading


def _parse(path: Path) -> ET.Element:
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise FormatError(path, f"malformed XML ({exc})") from exc
    if root.tag != "annotations":
        raise FormatError(path, f"not a CVAT XML file (the root element is <{root.tag}>, not <annotations>)")
    return root


def _meta_labels(path: Path, root: ET.Element) -> list[tuple[str, tuple[int, int, int] | None]]:
    """``[(name, colour or None), ...]`` of the ``<meta>``'s labels, each once."""
    found: dict[str, tuple[int, int, int] | None] = {}
    meta = root.find("meta")
    for label in meta.iter("label") if meta is not None else ():
        name = (label.findtext("name") or "").strip()
        if not name:
            raise FormatError(path, "a <label> in <meta> has no <name>")
        text = (label.findtext("color") or "").strip()
        color = None
        if len(text) == 7 and text.startswith("#"):
            try:
                color = (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16))
            except ValueError:
                color = None
        found.setdefault(name, color)
    return list(found.items())


def _image_folders(xml: Path, subset: str) -> list[Path]:
    folders = [xml.parent / IMAGES_DIR / subset, xml.parent / IMAGES_DIR, xml.parent]
    return list(dict.fromkeys(folders))


def _read_image(xml: Path, element: ET.Element, labels: LabelSet | None, notes: list[str]) -> ImportItem:
    name = element.get("name")
    if not name:
        raise FormatError(xml, f"<image id={element.get('id')!r}> has no name")
    confined = confined_path(name)
    if confined is None:
        raise FormatError(xml, f"image {name!r}: the path is absolute or leaves the dataset folder; not read")
    subset = element.get("subset") or xml.stem
    folders = _image_folders(xml, confined_path(subset) or "")
    image = next((f / confined for f in folders if (f / confined).is_file()), None)
    if image is None:
        raise FormatError(xml, f"image {name!r} not found (looked in images/{subset}/, images/ and beside the XML)")
    h, w = image_size(image)
    where = f"{xml} (image {name!r})"
    if element.get("width") is not None and (element.get("width"), element.get("height")) != (str(w), str(h)):
        raise FormatError(where, f"the image is {w}x{h} but the XML says width {element.get('width')!r}, height {element.get('height')!r}")
    shapes: list[Shape] = []
    flags: dict[str, bool] = {}
    for child in element:
        label = child.get("label")
        if child.tag == "tag" and label:
            flags[label] = True
            continue
        if child.tag not in ("polygon", "box", "points", "mask"):
            if child.tag == "polyline":
                notes.append(f"{where}: a polyline {label!r} left out (samlabel has no polylines)")
            continue
        if not label:
            raise FormatError(where, f"a <{child.tag}> has no label")
        if labels is not None and label not in labels:
            raise FormatError(where, f"label {label!r} is not in the label file")
        try:
            shapes.extend(_shapes(child, label, h, w, where, notes))
        except FormatError:
            raise
        except (AnnotationError, ValueError, TypeError, OverflowError) as exc:
            raise FormatError(where, f"a <{child.tag}> {label!r}: {exc}") from exc
    annotation = ImageAnnotation(image_path=image.name, image_height=h, image_width=w, shapes=tuple(shapes), flags=flags)
    return ImportItem(image, annotation)


def _group_id(element: ET.Element) -> int | None:
    text = element.get("group_id")
    try:
        value = int(text) if text is not None else 0
    except ValueError:
        return None
    return value if value > 0 else None


def _keywords(element: ET.Element) -> dict:
    """``group_id``, ``flags``, ``description`` and other attributes of a shape element."""
    flags: dict[str, bool] = {}
    other: dict[str, str] = {}
    description = ""
    for attr in element.findall("attribute"):
        key, text = attr.get("name") or "", attr.text or ""
        if text in ("true", "false"):
            flags[key] = text == "true"
        elif key == "description":
            description = text
        elif key:
            other[key] = text
    return {
        "group_id": _group_id(element),
        "flags": flags,
        "description": description,
        "extra": {"attributes": other} if other else {},
    }


def _points(text: str | None) -> np.ndarray:
    values = [float(v) for pair in (text or "").split(";") if pair.strip() for v in pair.split(",")]
    if len(values) % 2 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"points {text!r} are not 'x,y;x,y;...' numbers")
    return np.array(values, dtype=np.float64).reshape(-1, 2)


def _shapes(element: ET.Element, label: str, h: int, w: int, where: str, notes: list[str]) -> list[Shape]:
    kw = _keywords(element)
    if element.tag == "points":
        return [Shape.point(label, xy, **kw) for xy in _points(element.get("points"))]
    if element.tag == "box":
        x0, y0, x1, y1 = (float(element.get(k, "nan")) for k in ("xtl", "ytl", "xbr", "ybr"))
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
            raise FormatError(where, f"a <box> {label!r} needs xtl, ytl, xbr and ybr numbers")
        angle = float(element.get("rotation", "0"))
        if angle % 360 == 0:
            return [Shape.rectangle(label, (x0, y0), (x1, y1), **kw)]
        cx, cy, t = (x0 + x1) / 2, (y0 + y1) / 2, math.radians(angle)
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) - (cx, cy)
        rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        return [Shape.polygon(label, corners @ rot.T + (cx, cy), **kw)]
    if element.tag == "polygon":
        ring = _points(element.get("points"))
        if len(ring) < 3:
            raise FormatError(where, f"a <polygon> {label!r} has fewer than 3 points")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AnnotationWarning)
            fixed, repaired = repair_polygons([PolygonWithHoles(ring)])
        if repaired:
            notes.append(f"{where}: a self-intersecting polygon {label!r} repaired")
        return [Shape.from_polygons(label, fixed, **kw)]
    mask = cvat_rle.decode(element.attrib, h, w, where)
    shape = shapes_from_mask(label, mask, group_id=kw["group_id"])
    if shape is None:
        notes.append(f"{where}: an empty <mask> {label!r} left out")
        return []
    return [shape.replace(flags=kw["flags"], description=kw["description"], extra=kw["extra"])]


__all__ = ["XML_NAME", "Writer", "read", "xml_files"]
