"""Helpers shared by the format readers and writers.

An *instance* is what a dataset format calls one object: the shapes of an image that
share a label and a ``group_id`` (labelme's convention), or a single shape without a
``group_id``.

Bad inputs that the libraries refuse with their own exceptions (Pillow's
``DecompressionBombError`` for an image over its pixel limit, ``OverflowError`` for a number
too large for a float, ``RecursionError`` for JSON nested thousands of levels deep) are
turned into a :class:`FormatError` naming the file (:data:`INPUT_ERRORS`,
:func:`input_error`), so one such file is reported and the batch goes on.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image
from shapely import make_valid
from shapely.geometry import box

from samlabel.annotations import (
    AnnotationError,
    AnnotationFileError,
    GeometryError,
    ImageAnnotation,
    LabelSet,
    PolygonWithHoles,
    Shape,
)
from samlabel.annotations import sidecar_json
from samlabel.annotations.image_limits import ImageTooLargeError
from samlabel.annotations.geometry import polygons_from_geometry, to_shapely


class FormatError(AnnotationFileError):
    """A dataset file is unusable (named by ``path``); raised per image by readers and
    writers so that a batch can report it and go on."""


INPUT_ERRORS = (Image.DecompressionBombError, OverflowError, RecursionError)
"""What Pillow, json and numpy raise for hostile or absurd inputs (see the module doc)."""


def input_error(exc: BaseException, where: str | os.PathLike) -> FormatError:
    """The FormatError naming ``where`` for one of :data:`INPUT_ERRORS`."""
    if isinstance(exc, Image.DecompressionBombError):
        reason = ImageTooLargeError.from_pillow(where, exc).reason
    elif isinstance(exc, RecursionError):
        reason = "the file is nested too deeply to read (thousands of nested lists or objects)"
    else:
        reason = f"a number in the file is too large ({exc})"
    return FormatError(where, reason)


def load_json(path: Path):
    """Parse a JSON file (UTF-8, a BOM is ignored); FormatError naming it if it cannot be
    read, is not UTF-8, is malformed, has a key twice in one object or is nested too deeply."""
    text = read_utf8_text(path)
    try:
        # a key twice in one object is refused, as the sidecar reader refuses it
        return sidecar_json.load_json(text, path)
    except AnnotationFileError as exc:
        raise FormatError(path, exc.reason) from exc
    except RecursionError as exc:
        raise input_error(exc, path) from exc


_DRIVE = re.compile(r"^[A-Za-z]:")


def confined_path(relative: str, base: str = "") -> str | None:
    """``base/relative`` (``\\`` read as ``/``) normalised, if it stays inside the folder it
    is joined to; None if ``relative`` is absolute, has a drive or climbs out with ``..``.
    Paths read from a dataset go through this before any file is opened, so an import
    reads only inside the dataset."""
    path = relative.replace("\\", "/")
    if not path or path.startswith("/") or _DRIVE.match(path):
        return None
    norm = posixpath.normpath(posixpath.join(base, path) if base else path)
    if norm == ".." or norm.startswith("../"):
        return None
    return norm


@dataclass
class ImportItem:
    """One image found in a dataset and its annotation (``image_path`` is its file name)."""

    image: Path
    annotation: ImageAnnotation


@dataclass
class Reading:
    """What a reader found: the images it could read, a message per one it could not
    (each naming the file and the problem), notes (repairs), and the dataset's labels."""

    items: list[ImportItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    labels: LabelSet = field(default_factory=LabelSet)

    def read_each(self, things: Sequence, read_one: Callable, name_of: Callable = str, progress=None) -> None:
        """``read_one(thing) -> ImportItem`` for each thing (image, file, entry): items that
        read are kept (their labels added, in order of use), each AnnotationError (or one of
        :data:`INPUT_ERRORS` a reader did not name more precisely) becomes a problem;
        ``progress(i, total, name_of(thing))`` before each."""
        for i, thing in enumerate(things):
            report_progress(progress, i, len(things), name_of(thing))
            try:
                item = read_one(thing)
            except AnnotationError as exc:
                self.problems.append(str(exc))
                continue
            except INPUT_ERRORS as exc:
                self.problems.append(str(input_error(exc, name_of(thing))))
                continue
            self.items.append(item)
            for name in item.annotation.labels_used():
                self.labels.add(name)


@dataclass
class Instance:
    """The shapes of one object: same label, same group id (or one ungrouped shape)."""

    label: str
    group_id: int | None
    shapes: list[Shape] = field(default_factory=list)

    def mask(self, height: int, width: int) -> np.ndarray:
        """``(H, W)`` bool union of the shapes (points contribute nothing)."""
        out = np.zeros((height, width), dtype=bool)
        for shape in self.shapes:
            if shape.kind != "point":
                out |= shape.to_mask(height, width)
        return out

    def polygons(self, simplify: float | None = None, size: tuple[int, int] | None = None) -> tuple[PolygonWithHoles, ...]:
        """All parts of all shapes (masks traced, rectangles as 4 corners), optionally
        simplified by ``simplify`` pixels and clipped to an image of ``size`` ``(H, W)``."""
        tolerance = 1.0 if simplify is None else simplify
        parts: list[PolygonWithHoles] = []
        for shape in self.shapes:
            if shape.kind == "mask":
                parts.extend(shape.to_polygons(tolerance=tolerance))
            elif shape.kind in ("polygon", "rectangle"):
                polys = shape.to_polygons()
                if simplify and shape.kind == "polygon":
                    geom = make_valid(to_shapely(polys).simplify(simplify, preserve_topology=True))
                    polys = polygons_from_geometry(geom) or polys
                parts.extend(polys)
        return clip_to_image(parts, *size) if size is not None else tuple(parts)

    @property
    def has_area(self) -> bool:
        return any(s.kind != "point" for s in self.shapes)


def clip_to_image(polygons: Sequence[PolygonWithHoles], height: int, width: int) -> tuple[PolygonWithHoles, ...]:
    """The parts cut to the image ``(0, 0)-(W, H)``; parts already inside are returned as
    they are, parts entirely outside are dropped. Formats with normalised coordinates
    (YOLO rejects a label file with a value outside 0..1) need this; a shape drawn past
    the border is common."""
    bounds = box(0, 0, width, height)
    out: list[PolygonWithHoles] = []
    for poly in polygons:
        ext = poly.exterior
        if ext[:, 0].min() >= 0 and ext[:, 1].min() >= 0 and ext[:, 0].max() <= width and ext[:, 1].max() <= height:
            out.append(poly)
        else:
            out.extend(polygons_from_geometry(make_valid(poly.to_shapely()).intersection(bounds)))
    return tuple(out)


class BaseWriter:
    """What every format's ``Writer`` shares.

    ``DIRS``: folders made in ``out_dir``; ``MAX_CLASSES``: how many labels the format can
    index (None: any); ``NAMED_BY_STEM``: the format names its files after the image's
    stem, so ``a.png`` and ``a.jpg`` would overwrite each other (the second is refused).
    ``SUBSETS``: the format has subsets (train, val...); the batch sets ``subset`` before
    each ``add`` (``DEFAULT_SUBSET`` when the export is not split).
    A writer's ``add`` starts with :meth:`check` (raises FormatError, nothing written) and
    ends with :meth:`written`. ``labels`` may grow during a batch (labels in order of use).
    """

    DIRS: tuple[str, ...] = ("",)
    MAX_CLASSES: int | None = None
    NAMED_BY_STEM = True
    SUBSETS = False
    DEFAULT_SUBSET = "default"

    def __init__(self, out_dir: Path, labels: LabelSet, simplify: float | None = None):
        self.out_dir = out_dir
        self.labels = labels
        self.simplify = simplify
        self.stems: list[str] = []  # the names files were written under, in order
        self.subset = self.DEFAULT_SUBSET  # the subset of the image being added
        self._source_stems: set[str] = set()  # the stems of the images written
        self._check_class_count(out_dir, "the label set has")
        for folder in self.DIRS:
            (out_dir / folder).mkdir(parents=True, exist_ok=True)

    def _check_class_count(self, where: Path, what: str) -> None:
        if self.MAX_CLASSES is not None and len(self.labels) > self.MAX_CLASSES:
            raise FormatError(where, f"this format holds at most {self.MAX_CLASSES} classes; {what} {len(self.labels)}")

    def check(self, image: Path, annotation: ImageAnnotation) -> None:
        """FormatError naming ``image`` if it cannot be exported (nothing is written)."""
        check_labels(annotation, self.labels, image)
        check_mask_sizes(annotation, image)
        self._check_class_count(image, "with this image's labels there are")
        if self.NAMED_BY_STEM and image.stem in self._source_stems:
            raise FormatError(image, f"another image is also named {image.stem!r}; this format names files by stem")

    def written(self, image: Path, name: str | None = None) -> None:
        """Record that ``image`` was exported (its files named ``name``, default its stem)."""
        self.stems.append(image.stem if name is None else name)
        self._source_stems.add(image.stem)


def group_instances(annotation: ImageAnnotation) -> list[Instance]:
    """Shapes grouped into instances, in order of first appearance."""
    instances: list[Instance] = []
    by_key: dict[tuple[str, int], Instance] = {}
    for shape in annotation.shapes:
        if shape.group_id is None:
            instances.append(Instance(shape.label, None, [shape]))
            continue
        key = (shape.label, shape.group_id)
        if key not in by_key:
            by_key[key] = Instance(shape.label, shape.group_id)
            instances.append(by_key[key])
        by_key[key].shapes.append(shape)
    return instances


def report_progress(progress, done: int, total: int | None, message: str = "") -> None:
    """Call ``progress(done, total, message)`` if a callback was given."""
    if progress is not None:
        progress(done, total, message)


def check_labels(annotation: ImageAnnotation, labels: LabelSet, where: str | os.PathLike) -> None:
    """FormatError naming ``where`` if a shape's label is not in ``labels``."""
    missing = [name for name in annotation.labels_used() if name not in labels]
    if missing:
        raise FormatError(where, f"label(s) {', '.join(repr(m) for m in missing)} not in the label file ({', '.join(labels.names)})")


def check_mask_sizes(annotation: ImageAnnotation, where: str | os.PathLike) -> None:
    for i, shape in enumerate(annotation.shapes):
        if shape.kind == "mask" and shape.mask_size != annotation.size:
            mh, mw = shape.mask_size  # type: ignore[misc]
            raise FormatError(
                where,
                f"shape #{i + 1} ({shape.label!r}): the mask is {mw}x{mh} but the image is "
                f"{annotation.image_width}x{annotation.image_height} (WxH)",
            )


def write_class_names(path: Path, labels: LabelSet) -> None:
    """labelme2voc's ``class_names.txt``: ``_background_`` then one label per line."""
    path.write_text("_background_\n" + "".join(name + "\n" for name in labels.names), encoding="utf-8")


def read_utf8_text(path: Path) -> str:
    """A text file's content as UTF-8 (a byte-order mark dropped); ``FormatError`` naming the file otherwise."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise FormatError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"cannot read the file (not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at offset {exc.start})") from exc


def read_class_names(path: Path) -> LabelSet:
    """Read ``class_names.txt`` (the first line, ``_background_``, is skipped)."""
    text = read_utf8_text(path)
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if names and names[0] in ("_background_", "__background__", "background"):
        names = names[1:]
    return LabelSet(names)


def dataset_class_names(
    names_file: Path, read_names: Callable[[Path], LabelSet], labels: LabelSet | None, required: bool = True
) -> LabelSet | None:
    """A dataset's class names: read from ``names_file`` if it exists (every name must be in
    ``labels`` when a label file was given), else ``labels``. FormatError naming the file
    when a name is missing, or when neither exists and ``required``."""
    if names_file.is_file():
        names = read_names(names_file)
        if labels is not None:
            missing = [n for n in names.names if n not in labels]
            if missing:
                raise FormatError(names_file, f"label(s) {', '.join(map(repr, missing))} not in the label file")
        return names
    if labels is None and required:
        raise FormatError(names_file, "the class names file does not exist; pass --labels")
    return labels


def shapes_from_mask(label: str, mask: np.ndarray, group_id: int | None = None, tolerance: float = 1.0) -> Shape | None:
    """One polygon shape (holes, parts) tracing ``mask``, or None if it is empty."""
    try:
        return Shape.polygon_from_mask(label, mask, tolerance=tolerance, min_area=1.0, group_id=group_id)
    except GeometryError:
        return None


__all__ = [
    "BaseWriter",
    "FormatError",
    "INPUT_ERRORS",
    "ImportItem",
    "Instance",
    "Reading",
    "check_labels",
    "check_mask_sizes",
    "clip_to_image",
    "confined_path",
    "dataset_class_names",
    "group_instances",
    "input_error",
    "load_json",
    "read_class_names",
    "report_progress",
    "shapes_from_mask",
    "write_class_names",
]
