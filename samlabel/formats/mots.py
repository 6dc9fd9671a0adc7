"""MOTS PNG export (Multi-Object Tracking and Segmentation), as Datumaro's ``mots`` format
and CVAT's "MOTS PNG 1.0" read it (zip ``OUT``'s content for CVAT). Export only.

A video sequence is a project folder of frames (see :mod:`samlabel.video`), so each frame
is one image of the export. Layout::

    OUT/<subset>/images/<file>               the frames (``default`` unless the export is split)
    OUT/<subset>/instances/<stem>.png        16-bit greyscale PNG, one per frame
    OUT/<subset>/instances/labels.txt        the labels, one per line; class id = line number

A pixel's value is ``class_id * 1000 + track_id``: ``class_id`` is the label's 1-based line
in ``labels.txt``, ``track_id`` 1..999. Value 0 is background. samlabel writes no "ignore"
regions (MOTS' value 10000: track ids start at 1, so no value written is 10000; Datumaro
reads class 10 as its ``ignored`` label only when ``labels.txt`` has fewer than 10 names,
and then no class written reaches 10). Every frame gets its PNG, an all-zero one when it has no objects, so
every frame is an item. At most 64 labels (``64 * 1000 + 999`` is the largest value a
16-bit PNG holds for every track id).

**Tracks.** An object is a shape's label plus its ``group_id`` (labelme's convention):
the shapes of one label with the same ``group_id``, on one frame or on several, are one
track. Track ids are unique over the whole export (all labels, all subsets: CVAT's MOTS
import keys its tracks by track id alone):

- a grouped object keeps its ``group_id`` as track id when it is 1..999 and no other
  object has that id yet (the same group id under another label is another object);
- any other object gets the highest free id, counting down from 999: each shape without
  ``group_id`` is a track of its own (a fresh id on every frame), as is a grouped object
  whose ``group_id`` is out of range or already taken.

More than 999 objects make the frame where the 1000th appears a problem (left out).

**Overlaps.** A MOTS pixel holds one object. Objects are painted in the order of their
first shape in the frame's sidecar, so where they overlap the later one wins (as in the
mask-PNG export); a note names the frame and how many pixels were covered. Shapes are
rasterised as the mask-PNG export does (:meth:`~samlabel.formats.common.Instance.mask`);
points carry no area and are left out (noted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from PIL import Image

from samlabel.annotations import ImageAnnotation, LabelSet
from samlabel.formats.common import BaseWriter, FormatError, Reading, group_instances
from samlabel.formats.images import export_image

IMAGES_DIR, INSTANCES_DIR, LABELS_FILE = "images", "instances", "labels.txt"
CLASS_FACTOR = 1000
"""``value = class_id * CLASS_FACTOR + track_id`` (Datumaro's ``MotsPath.MAX_INSTANCES``)."""
MAX_TRACK_ID = CLASS_FACTOR - 1
MAX_CLASSES = 64


def encode(class_id: int, track_id: int) -> int:
    """The pixel value of track ``track_id`` (1..999) of class ``class_id`` (1..64)."""
    if not 1 <= class_id <= MAX_CLASSES or not 1 <= track_id <= MAX_TRACK_ID:
        raise ValueError(f"class id {class_id} / track id {track_id} out of range")
    return class_id * CLASS_FACTOR + track_id


def decode(value: int) -> tuple[int, int]:
    """``(class_id, track_id)`` of a pixel value (``(0, 0)`` for background)."""
    return divmod(int(value), CLASS_FACTOR)


@dataclass(frozen=True)
class TrackIds:
    """The track id of every object seen so far (see the module doc). :meth:`track_id`
    returns a new ``TrackIds``; the writer keeps it only once the frame is written, so a
    frame left out takes no id."""

    by_key: Mapping[tuple[str, int], int] = field(default_factory=dict)
    taken: frozenset[int] = frozenset()

    def track_id(self, label: str, group_id: int | None, where: Path) -> tuple[int, "TrackIds"]:
        """``(track id, updated TrackIds)`` of the object ``(label, group_id)``; a new id
        for ``group_id`` None. FormatError naming ``where`` when all 999 are taken."""
        key = None if group_id is None else (label, group_id)
        if key is not None and key in self.by_key:
            return self.by_key[key], self
        if group_id is not None and 1 <= group_id <= MAX_TRACK_ID and group_id not in self.taken:
            value = group_id
        else:
            value = next((i for i in range(MAX_TRACK_ID, 0, -1) if i not in self.taken), 0)
            if not value:
                raise FormatError(where, f"more than {MAX_TRACK_ID} objects (tracks) in the export; MOTS track ids are 1..{MAX_TRACK_ID}")
        by_key = self.by_key if key is None else {**self.by_key, key: value}
        return value, TrackIds(by_key, self.taken | {value})


def _unwritable(name: str) -> str | None:
    """Why ``name`` cannot be a line of labels.txt (Datumaro strips lines, skips blank ones)."""
    if "\n" in name or "\r" in name:
        return "contains a line break"
    if not name.strip() or name.strip() != name:
        return "is blank or starts or ends with whitespace (labels.txt lines are stripped)"
    return None


def _check_names(names: Iterable[str], where: Path) -> None:
    for name in names:
        problem = _unwritable(name)
        if problem is not None:
            raise FormatError(where, f"label {name!r} {problem}; MOTS' labels.txt cannot hold it")


def write_labels(path: Path, labels: LabelSet) -> None:
    """``labels.txt``: one label per line, class id = line number (no background line)."""
    _check_names(labels.names, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(name + "\n" for name in labels.names), encoding="utf-8")


class Writer(BaseWriter):
    MAX_CLASSES = MAX_CLASSES
    SUBSETS = True

    def __init__(self, out_dir: Path, labels: LabelSet, simplify: float | None = None):
        super().__init__(out_dir, labels, simplify)
        self.tracks = TrackIds()
        self.subsets: dict[str, None] = {}  # the subsets written, in order

    def add(self, image: Path, annotation: ImageAnnotation) -> list[str]:
        self.check(image, annotation)
        _check_names(annotation.labels_used(), image)
        h, w = annotation.size
        every = group_instances(annotation)
        instances = [i for i in every if i.has_area]
        notes = [f"{image}: points left out (MOTS PNGs have no points)"] if len(instances) < len(every) else []
        tracks, ids = self.tracks, []
        for inst in instances:
            track, tracks = tracks.track_id(inst.label, inst.group_id, image)
            ids.append(track)
        png = np.zeros((h, w), dtype=np.uint16)
        covered = 0
        for inst, track in zip(instances, ids):
            mask = inst.mask(h, w)
            covered += int(np.count_nonzero(png[mask]))
            png[mask] = encode(self.labels.index(inst.label) + 1, track)
        if covered:
            notes.append(f"{image}: objects overlap on {covered} pixel(s); each goes to the object listed later")
        folder = self.out_dir / self.subset
        export_image(image, folder / IMAGES_DIR / image.name)
        (folder / INSTANCES_DIR).mkdir(parents=True, exist_ok=True)
        Image.fromarray(png).save(folder / INSTANCES_DIR / f"{image.stem}.png")
        self.tracks = tracks
        self.subsets[self.subset] = None
        self.written(image)
        return notes

    def finish(self) -> None:
        for subset in self.subsets or (self.subset,):
            write_labels(self.out_dir / subset / INSTANCES_DIR / LABELS_FILE, self.labels)


def read(src: Path, labels: LabelSet | None = None, progress=None) -> Reading:
    """MOTS is export-only: FormatError naming ``src``."""
    raise FormatError(src, "samlabel exports MOTS but does not import it (Datumaro's 'mots' importer or CVAT read it)")


__all__ = ["CLASS_FACTOR", "MAX_TRACK_ID", "TrackIds", "Writer", "decode", "encode", "read", "write_labels"]
