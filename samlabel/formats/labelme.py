"""labelme JSON (export and import).

Export layout: ``OUT/<image>`` and ``OUT/<stem>.json`` side by side, exactly the sidecar
format samlabel itself uses (labelme's format plus the ``holes`` / ``parts`` / ``rle``
keys labelme ignores), with ``imageData`` null, and ``OUT/labels.txt`` (one name per line:
labelme's ``--labels`` file, and the label list when the folder is opened as a project).
Import reads every ``*.json`` in ``SRC`` (recursively) except a project's ``labels.json``;
the image is found as labelme finds it, through ``imagePath`` relative to the JSON file,
else by the JSON's stem beside it. An ``imagePath`` that leads outside ``SRC`` (absolute,
or too many ``..``) is never opened: the image beside the JSON is used instead (noted), or
the JSON is reported. A ``labels.json`` / ``labels.txt`` in ``SRC`` gives the label order.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from samlabel.annotations import AnnotationWarning, ImageAnnotation, LabelSet
from samlabel.annotations.project import LABEL_FILE_NAMES
from samlabel.annotations.sidecar import annotation_from_dict, annotation_to_dict, dumps
from samlabel.formats.common import (
    INPUT_ERRORS,
    FormatError,
    ImportItem,
    Reading,
    BaseWriter,
    check_labels,
    confined_path,
    input_error,
    load_json,
)
from samlabel.formats.images import export_image, find_image, image_size


class Writer(BaseWriter):  # <stem>.json: named by stem
    def add(self, image: Path, annotation: ImageAnnotation) -> list[str]:
        self.check(image, annotation)
        annotation = annotation.replace(image_path=image.name)
        data = annotation_to_dict(annotation)
        data["imageData"] = None
        text = dumps(data)
        export_image(image, self.out_dir / image.name)
        (self.out_dir / f"{image.stem}.json").write_text(text, encoding="utf-8")
        self.written(image)
        return []

    def finish(self) -> None:
        self.labels.save(self.out_dir / "labels.txt")


def read(src: Path, labels: LabelSet | None = None, progress=None) -> Reading:
    src = Path(src)
    if not src.is_dir():
        raise FormatError(src, "a labelme dataset must be a folder of JSON files")
    reading = Reading()
    for name in LABEL_FILE_NAMES:  # a project's label list, not an annotation
        if (src / name).is_file():
            reading.labels = LabelSet.load(src / name)
            break
    paths = sorted(p for p in src.rglob("*.json") if p.name not in LABEL_FILE_NAMES)
    reading.read_each(paths, lambda path: _read_one(src, path, labels, reading.notes), lambda path: path.name, progress)
    return reading


def _find_image(root: Path, path: Path, image_path, notes: list[str]) -> Path:
    """The image the JSON ``path`` annotates: ``imagePath`` relative to the JSON's folder if
    it stays inside ``root`` and exists, else ``<JSON stem>.<ext>`` beside the JSON."""
    if isinstance(image_path, str) and image_path:
        folder = path.parent.relative_to(root).as_posix()
        inside = confined_path(image_path, base=folder)
        if inside is None:  # never opened, not even looked at
            beside = find_image(path.parent, path.stem)
            if beside is None:
                raise FormatError(path, f"imagePath {image_path!r} leads outside the dataset folder {root}; not read")
            notes.append(f"{path}: imagePath {image_path!r} leads outside the dataset folder; used {beside.name} beside the JSON instead")
            return beside
        candidate = root / inside
        if candidate.is_file():
            return candidate
    beside = find_image(path.parent, path.stem)
    if beside is None:
        raise FormatError(path, f"the image {image_path!r} does not exist (looked beside the JSON file too)")
    return beside


def _read_one(root: Path, path: Path, labels: LabelSet | None, notes: list[str]) -> ImportItem:
    data = load_json(path)
    if not isinstance(data, dict) or "shapes" not in data:
        raise FormatError(path, "not a labelme annotation (no 'shapes')")
    image = _find_image(root, path, data.get("imagePath"), notes)
    size = image_size(image)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AnnotationWarning)
        try:
            annotation = annotation_from_dict(data, path, image_size=size)
        except INPUT_ERRORS as exc:
            raise input_error(exc, path) from exc
    notes.extend(str(w.message) for w in caught if issubclass(w.category, AnnotationWarning))
    if labels is not None:
        check_labels(annotation, labels, path)
    return ImportItem(image, annotation.replace(image_path=image.name))


__all__ = ["Writer", "read"]
