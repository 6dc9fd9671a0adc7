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
import shutil
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
from samlabel.annotations.image_limits import ImageTooLargeError, check_pixels
from samlabel.annotations.geometry import polygons_from_geometry, to_shapely
from samlabel.annotations.project import image_size as _header_size


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


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image as displayed (``project.image_size``); an image over Pillow's
    decompression-bomb limit is a FormatError naming it."""
    try:
        return _header_size(path)
    except Image.DecompressionBombError as exc:
        raise input_error(exc, path) from exc


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
    A writer's ``add`` starts with :meth:`check` (raises FormatError, nothing written) and
    ends with :meth:`written`. ``labels`` may grow during a batch (labels in order of use).
    """

    DIRS: tuple[str, ...] = ("",)
    MAX_CLASSES: int | None = None
    NAMED_BY_STEM = True

    def __init__(self, out_dir: Path, labels: LabelSet, simplify: float | None = None):
        self.out_dir = out_dir
        self.labels = labels
        self.simplify = simplify
        self.stems: list[str] = []  # the names files were written under, in order
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


def copy_image(src: Path, dst: Path) -> None:
    """Copy an image file (metadata too); FormatError if it cannot be read."""
    if not src.is_file():
        raise FormatError(src, "the image does not exist")
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copy2(src, dst)
    except OSError as exc:
        raise FormatError(src, f"cannot copy the image ({exc.strerror or exc})") from exc


def export_image(src: Path, dst: Path, force_jpeg: bool = False) -> Path:
    """Put the image into a dataset as the annotations see it.

    The file is copied byte for byte unless it carries an EXIF rotation (annotations are
    in the rotated frame, so the rotated pixels are written instead, EXIF dropped) or
    ``force_jpeg`` asks for a ``.jpg`` and it is another format. Returns the written path.
    """
    from PIL import ImageOps, UnidentifiedImageError

    if not src.is_file():
        raise FormatError(src, "the image does not exist")
    is_jpeg = src.suffix.lower() in (".jpg", ".jpeg")
    if force_jpeg:
        dst = dst.with_suffix(".jpg")
    try:
        with Image.open(src) as img:
            check_pixels(src, *img.size)
            rotated = img.getexif().get(0x0112, 1) not in (0, 1)
            if not rotated and (is_jpeg or not force_jpeg):
                copy_image(src, dst)
                return dst
            out = ImageOps.exif_transpose(img)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.suffix.lower() in (".jpg", ".jpeg"):
                _as_8bit_rgb(out).save(dst, quality=95)
            else:
                out.save(dst)
    except (OSError, UnidentifiedImageError) as exc:
        raise FormatError(src, f"cannot read the image ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise input_error(exc, src) from exc
    return dst


_HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _as_8bit_rgb(img):
    """The image as 8-bit RGB the way the app shows it: 16-bit and float images stretched
    from their own min..max (``convert("RGB")`` clips them to white), alpha over white."""
    if img.mode in _HIGH_BIT_MODES:
        arr = np.asarray(img, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        scaled = np.nan_to_num((arr - lo) * (255.0 / (hi - lo) if hi > lo else 0.0), nan=0.0, posinf=255.0, neginf=0.0)
        return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return img.convert("RGB")


def voc_palette(n: int = 256) -> list[int]:
    """The Pascal VOC colour map as a flat ``[r0, g0, b0, r1, ...]`` PIL palette."""
    palette = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette.extend((r, g, b))
    return palette


def save_palette_png(path: Path, index: np.ndarray) -> None:
    """Write an ``(H, W)`` uint8 index image as a VOC-palette PNG."""
    img = Image.fromarray(index.astype(np.uint8), mode="P")
    img.putpalette(voc_palette())
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def read_index_png(path: Path) -> np.ndarray:
    """Index values of a palette PNG (or a grey 8/16-bit PNG) as ``(H, W)`` int array."""
    from PIL import UnidentifiedImageError

    try:
        with Image.open(path) as img:
            check_pixels(path, *img.size)
            if img.mode not in ("P", "L", "I", "I;16", "I;16B", "1"):
                raise FormatError(path, f"expected a palette or greyscale PNG, got mode {img.mode}")
            return np.array(img).astype(np.int64)
    except (OSError, UnidentifiedImageError) as exc:
        raise FormatError(path, f"cannot read the PNG ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise input_error(exc, path) from exc


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


def find_image(folder: Path, stem: str, preferred: Sequence[str] = ()) -> Path | None:
    """An image named ``stem`` + a known extension in ``folder``."""
    from samlabel.annotations.project import IMAGE_EXTENSIONS

    for ext in (*preferred, *IMAGE_EXTENSIONS, *(e.upper() for e in IMAGE_EXTENSIONS)):
        candidate = folder / f"{stem}{ext}"
        if candidate.is_file():
            return candidate
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
    "copy_image",
    "dataset_class_names",
    "export_image",
    "find_image",
    "group_instances",
    "image_size",
    "input_error",
    "load_json",
    "read_class_names",
    "read_index_png",
    "report_progress",
    "save_palette_png",
    "shapes_from_mask",
    "voc_palette",
    "write_class_names",
]
