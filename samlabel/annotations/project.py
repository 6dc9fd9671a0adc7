"""A project: a folder of images, each with a labelme-compatible sidecar JSON beside it.

``photo.jpg`` is annotated in ``photo.json`` in the same folder (labelme's layout), so a
labelme dataset opens as a project directly. A single image opened alone is a project of
one image in its folder. The project's labels come from ``labels.json`` or ``labels.txt``
in the folder when present, else from the bundled default set.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from PIL import Image, UnidentifiedImageError

from samlabel.annotations.document import Document
from samlabel.annotations.errors import AnnotationError, AnnotationFileError, AnnotationWarning, LabelError
from samlabel.annotations.image_limits import ImageTooLargeError, check_pixels
from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.atomic import atomic_write_bytes, atomic_write_text
from samlabel.annotations.labels import LabelSet, default_color
from samlabel.annotations.sidecar import annotation_from_dict, annotation_to_dict, dumps, read_sidecar
from samlabel.annotations.sidecar_guard import SidecarGuard, SidecarStamp
from samlabel.annotations.sidecar_json import load_json

#: The one list of image file extensions (lower case) that samlabel opens: projects, the
#: formats' readers and the GUI all use it.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
LABEL_FILE_NAMES = ("labels.json", "labels.txt")
_EXIF_ORIENTATION = 0x0112


def natural_key(path: Path) -> list:
    """Sort key that orders ``img2`` before ``img10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder``, sorted naturally."""
    folder = Path(folder)
    return sorted((p for p in folder.iterdir() if p.is_file() and is_image_file(p)), key=natural_key)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image as displayed, i.e. after its EXIF rotation (reads the header only)."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            width, height = img.size
            check_pixels(path, width, height)
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except FileNotFoundError as exc:
        raise AnnotationFileError(path, "the image does not exist") from exc
    except UnidentifiedImageError as exc:
        raise AnnotationFileError(path, f"cannot read the image ({_unidentified_reason(path)})") from exc
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError.from_pillow(path, exc) from exc
    except OSError as exc:
        raise AnnotationFileError(path, f"cannot read the image ({exc})") from exc
    if orientation in (5, 6, 7, 8):  # rotated by 90 degrees
        width, height = height, width
    return height, width


def _unidentified_reason(path: Path) -> str:
    try:
        if path.stat().st_size == 0:
            return "the file is empty (0 bytes)"
    except OSError:
        pass
    return "not an image in a format samlabel can read"


def check_image_decodes(path: str | os.PathLike) -> None:
    """Decode the whole image once, so a truncated or corrupt file is caught (the header
    alone, which :func:`image_size` reads, can look fine). JPEGs decode at 1/8 scale, which
    still reads every byte of the stream but costs a fraction of a full decode.

    Raises:
        AnnotationFileError: naming the image and the problem.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            check_pixels(path, *img.size)
            if img.format == "JPEG":
                img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    except FileNotFoundError as exc:
        raise AnnotationFileError(path, "the image does not exist") from exc
    except UnidentifiedImageError as exc:
        raise AnnotationFileError(path, f"cannot read the image ({_unidentified_reason(path)})") from exc
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError.from_pillow(path, exc) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise AnnotationFileError(path, f"the image is truncated or corrupt ({exc})") from exc


def sidecar_path_for(image: str | os.PathLike) -> Path:
    """``folder/name.json`` for ``folder/name.ext``."""
    return Path(image).with_suffix(".json")


@dataclass
class RenameReport:
    """What :meth:`Project.rename_label` did: the sidecars it rewrote, how many shapes it
    relabelled, and one message per sidecar it could not read (left unchanged)."""

    files: list[Path] = field(default_factory=list)
    shapes: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LoadedAnnotation:
    """An image's annotation as :meth:`Project.load_stamped` read it: ``notes`` are the
    repairs made on load, ``stamp`` is the exact sidecar bytes parsed (for a
    :class:`~samlabel.annotations.sidecar_guard.SidecarGuard`)."""

    image: Path
    sidecar: Path
    annotation: ImageAnnotation
    notes: tuple[str, ...]
    stamp: SidecarStamp

    def guard(self) -> SidecarGuard:
        """A guard that refuses to save over the sidecar once another program changed it."""
        return SidecarGuard(self.sidecar, self.stamp)


@contextlib.contextmanager
def _collected_notes() -> Iterator[list[str]]:
    """Collect ``AnnotationWarning`` messages (repairs) into the yielded list; pass on others."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AnnotationWarning)
        yield notes
    notes.extend(str(w.message) for w in caught if issubclass(w.category, AnnotationWarning))
    for w in caught:  # pass on anything that is not ours
        if not issubclass(w.category, AnnotationWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _fits_text_file(labels: LabelSet) -> bool:
    """True when a names-only text file gives back the same labels (colours and ids)."""
    return all(label.id is None and tuple(label.color) == default_color(i) for i, label in enumerate(labels))


def _plain_sidecar_owner(plain: Path, names: list[str]) -> str:
    """Which of ``names`` (images sharing a stem) ``plain`` (``stem.json``) annotates."""
    try:
        image_path = json.loads(plain.read_text(encoding="utf-8")).get("imagePath")
        owner = Path(str(image_path).replace("\\", "/")).name
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        owner = ""
    return owner if owner in names else names[0]


def _rename_in_label_set(labels: LabelSet, old: str, new: str, used: bool) -> bool:
    """Rename ``old`` (merging into ``new`` if both exist); returns whether ``labels`` changed."""
    if old in labels:
        if new in labels:
            labels.remove(old)
        else:
            labels.rename(old, new)
        return True
    if used and new not in labels:  # a label only files used: adopt it under its new name
        labels.add(new)
        return True
    return False


def _rename_in_sidecar(path: Path, old: str, new: str) -> int:
    """Relabel ``old`` shapes ``new`` in one sidecar, keeping everything else; returns the count."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationFileError(path, f"cannot read the file ({getattr(exc, 'strerror', None) or exc})") from exc
    data = load_json(text, path)  # a key twice would lose the first when written back
    if not isinstance(data, dict) or not isinstance(data.get("shapes", []), list):
        raise AnnotationFileError(path, "not a labelme annotation (no 'shapes' list)")
    count = 0
    for shape in data.get("shapes", []):
        if isinstance(shape, dict) and shape.get("label") == old:
            shape["label"] = new
            count += 1
    if count:
        atomic_write_text(path, dumps(data))
    return count


class Project:
    """A folder of images with per-image sidecar JSON (or one image alone)."""

    def __init__(self, path: str | os.PathLike, labels_file: str | os.PathLike | None = None):
        path = Path(path)
        self._folder_project = path.is_dir()
        if path.is_dir():
            self.root = path
            self.images: list[Path] = list_images(path)
        elif path.is_file():
            if not is_image_file(path):
                raise AnnotationFileError(path, f"not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)})")
            self.root = path.parent
            self.images = [path]
        else:
            raise AnnotationFileError(path, "no such file or folder")
        self._labels_file = Path(labels_file) if labels_file is not None else None
        self._labels: LabelSet | None = None
        self._stem_groups: dict[str, list[str]] | None = None

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r}, {len(self.images)} images)"

    def __len__(self) -> int:
        return len(self.images)

    # --- labels -------------------------------------------------------------------
    @property
    def labels_path(self) -> Path:
        """Where the project's labels are read from and saved to."""
        if self._labels_file is not None:
            return self._labels_file
        for name in LABEL_FILE_NAMES:
            if (self.root / name).is_file():
                return self.root / name
        return self.root / "labels.txt"

    @property
    def labels(self) -> LabelSet:
        """The project's label set (loaded once; the default set if the folder has none)."""
        if self._labels is None:
            path = self.labels_path
            self._labels = LabelSet.load(path) if path.is_file() else LabelSet.default()
        return self._labels

    def save_labels(self, labels: LabelSet | None = None) -> Path:
        """Save the label set atomically; returns the file written.

        A text label file holds names only. When the set has colours or ids a text file
        would lose (a recoloured label), the project's labels move to ``labels.json``
        beside it, which is read first from then on; an explicit ``labels_file`` is
        always written in its own format.
        """
        if labels is not None:
            self._labels = labels
        path = self.labels_path
        if self._labels_file is None and path.suffix.lower() != ".json" and not _fits_text_file(self.labels):
            path = self.root / "labels.json"
        self.labels.save(path)
        return path

    def rename_label(
        self,
        old: str,
        new: str,
        progress: Callable[..., None] | None = None,
        exclude: Iterable[str | os.PathLike] = (),
        update_labels: bool = True,
    ) -> "RenameReport":
        """Rename label ``old`` to ``new`` in the label set and in every sidecar of the project.

        Each sidecar is edited as raw JSON: only the ``label`` of matching shapes changes,
        every other key (unknown keys, shape types samlabel cannot edit) is written back as
        it was, atomically. Sidecars that cannot be read are reported in
        ``RenameReport.problems`` (file and problem) and left unchanged; the others are
        still renamed. ``new`` may be an existing label (the two are merged). ``exclude``
        lists images whose sidecar is left alone (the GUI relabels the open image through
        its undoable Document instead). ``progress(done, total, file_name)`` is called per
        image; if it raises (a cancelled task), files already written keep the new name
        and running the rename again finishes the rest. The label file is saved when the
        label set changed.
        """
        new = new.strip()
        if not new:
            raise LabelError("a label name must not be empty")
        report = RenameReport()
        if new == old:
            return report
        excluded = {Path(p).resolve() for p in exclude}
        images = [image for image in self.images if image.resolve() not in excluded]
        for i, image in enumerate(images):
            if progress is not None:
                progress(i, len(images), image.name)
            sidecar = self.sidecar_path(image)
            if not sidecar.is_file():
                continue
            try:
                count = _rename_in_sidecar(sidecar, old, new)
            except AnnotationFileError as exc:
                report.problems.append(str(exc))
                continue
            if count:
                report.files.append(sidecar)
                report.shapes += count
        if update_labels and _rename_in_label_set(self.labels, old, new, used=report.shapes > 0):
            self.save_labels()
        if progress is not None:
            progress(len(images), len(images), "done")
        return report

    # --- annotations --------------------------------------------------------------
    def index_of(self, image: str | os.PathLike) -> int:
        image = Path(image)
        for i, candidate in enumerate(self.images):
            if candidate == image or candidate.resolve() == image.resolve():
                return i
        raise KeyError(str(image))

    def sidecar_path(self, image: str | os.PathLike) -> Path:
        """``name.json`` beside ``name.ext`` (labelme's layout).

        When several images share a stem (``a.png`` and ``a.jpg``), ``a.json`` belongs to
        the one its ``imagePath`` names (else the first in sorted order) and each other one
        is annotated in ``<file name>.json`` (``a.jpg.json``), so saving one never
        overwrites the other's annotations.
        """
        image = Path(image)
        plain = sidecar_path_for(image)
        group = self._same_stem(image)
        if len(group) < 2 or _plain_sidecar_owner(plain, group) == image.name:
            return plain
        return image.with_name(image.name + ".json")

    def _same_stem(self, image: Path) -> list[str]:
        """Names of the images in the project folder with ``image``'s stem, sorted."""
        if image.parent != self.root and image.parent.resolve() != self.root.resolve():
            return [image.name]
        if self._stem_groups is None:
            groups: dict[str, list[str]] = {}
            for path in self.images if self._folder_project else list_images(self.root):
                groups.setdefault(path.stem, []).append(path.name)
            self._stem_groups = groups
        return self._stem_groups.get(image.stem, [image.name])

    def has_annotations(self, image: str | os.PathLike) -> bool:
        return self.sidecar_path(image).is_file()

    def load(self, image: str | os.PathLike) -> ImageAnnotation:
        """The image's annotation: read from its sidecar, or empty if it has none.

        Raises:
            AnnotationFileError: the image does not exist or cannot be read, or the sidecar
            is broken (the message names the file and the problem; nothing is changed).
        """
        image = Path(image)
        size = image_size(image)
        sidecar = self.sidecar_path(image)
        if sidecar.is_file():
            annotation = read_sidecar(sidecar, image_size=size)
            if not annotation.image_path:
                annotation = annotation.replace(image_path=image.name)
            return annotation
        return ImageAnnotation(image_path=image.name, image_height=size[0], image_width=size[1])

    def load_with_notes(self, image: str | os.PathLike) -> tuple[ImageAnnotation, list[str]]:
        """Like :meth:`load`, but repairs (self-intersecting polygons fixed, shape types kept
        unedited) come back as messages to show instead of as ``AnnotationWarning``."""
        with _collected_notes() as notes:
            annotation = self.load(image)
        return annotation, notes

    def load_stamped(self, image: str | os.PathLike) -> LoadedAnnotation:
        """Like :meth:`load_with_notes`, plus the stamp of the very bytes parsed, so that a
        :class:`~samlabel.annotations.sidecar_guard.SidecarGuard` can tell when another
        program changes the sidecar afterwards. Safe to call on a worker thread (it reads
        no mutable project state but the stem groups, built once), except that its
        warnings capture, like any ``warnings.catch_warnings``, is process-wide.

        Raises:
            AnnotationFileError: as :meth:`load`.
        """
        image = Path(image)
        size = image_size(image)
        sidecar = self.sidecar_path(image)
        stamp, data = SidecarStamp.read(sidecar) if sidecar.is_file() else (SidecarStamp.missing(), None)
        with _collected_notes() as notes:
            if data is None:
                annotation = ImageAnnotation(image_path=image.name, image_height=size[0], image_width=size[1])
            else:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise AnnotationFileError(sidecar, f"cannot read the file ({exc})") from exc
                annotation = annotation_from_dict(load_json(text, sidecar), sidecar, image_size=size)
                if not annotation.image_path:
                    annotation = annotation.replace(image_path=image.name)
        return LoadedAnnotation(image, sidecar, annotation, tuple(notes), stamp)

    def encode(self, annotation: ImageAnnotation, image: str | os.PathLike | None = None) -> tuple[Path, bytes]:
        """The sidecar path and the bytes :meth:`save` writes there. ``image`` defaults to
        ``annotation.image_path`` in the root.

        The sidecar sits beside its image, so its ``imagePath`` is written as the image's
        file name (a stale ``../images/a.jpg`` from another tool would send labelme astray).
        """
        if image is None and not annotation.image_path:
            raise AnnotationError("cannot save an annotation without an image path: pass the image")
        image = Path(image) if image is not None else self.root / annotation.image_path
        if annotation.image_path != image.name:
            annotation = annotation.replace(image_path=image.name)
        return self.sidecar_path(image), dumps(annotation_to_dict(annotation)).encode("utf-8")

    def save(
        self, annotation: ImageAnnotation, image: str | os.PathLike | None = None, guard: SidecarGuard | None = None
    ) -> Path:
        """Write the annotation to the image's sidecar atomically (SaveError on failure,
        previous file intact); see :meth:`encode`.

        With a ``guard`` (of that sidecar) the file is written only if no other program
        changed it since it was read or last saved: else ``OutsideEditError`` and nothing
        is written.
        """
        path, data = self.encode(annotation, image)
        if guard is None:
            atomic_write_bytes(path, data)
        elif guard.path != path:
            raise AnnotationError(f"the guard is for {guard.path}, not for {path}")
        else:
            guard.save(data)
        return path

    def open_document(self, image: str | os.PathLike) -> Document:
        return Document(self.load(image))

    def autosave(
        self, document: Document, image: str | os.PathLike | None = None, guard: SidecarGuard | None = None
    ) -> bool:
        """Save the document if it has unsaved changes; returns whether it wrote.

        On failure raises SaveError (or, with a ``guard``, ``OutsideEditError``) and the
        document stays dirty, so the next autosave tries again.
        """
        if not document.is_dirty:
            return False
        self.save(document.annotation, image, guard=guard)
        document.mark_saved()
        return True
