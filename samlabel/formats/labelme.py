"""labelme JSON (export and import).

Export layout: ``OUT/<image>`` and ``OUT/<stem>.json`` side by side, exactly the sidecar
format samlabel itself uses (labelme's format plus the ``holes`` / ``parts`` / ``rle``
keys labelme ignores), with ``imageData`` null, and ``OUT/labels.txt`` (one name per line:
labelme's ``--labels`` file, and the label list when the folder is opened as a project).
Import reads every ``*.json`` in ``SRC`` (recursively) except a project's ``labels.json``;
the image is found through ``imagePath`` (relative to the JSON file), else by the JSON's
stem beside it. A ``labels.json`` / ``labels.txt`` in ``SRC`` gives the label order.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from samlabel.annotations import AnnotationWarning, ImageAnnotation, LabelSet
from samlabel.annotations.project import LABEL_FILE_NAMES, image_size
from samlabel.annotations.sidecar import annotation_from_dict, annotation_to_dict, dumps
from samlabel.formats.common import (
    FormatError,
    ImportItem,
    Reading,
    BaseWriter,
    check_labels,
    export_image,
    find_image,
)


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
    reading.read_each(paths, lambda path: _read_one(path, labels, reading.notes), lambda path: path.name, progress)
    return reading


def _read_one(path: Path, labels: LabelSet | None, notes: list[str]) -> ImportItem:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FormatError(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(path, f"cannot read the file ({exc})") from exc
    if not isinstance(data, dict) or "shapes" not in data:
        raise FormatError(path, "not a labelme annotation (no 'shapes')")
    image = None
    image_path = data.get("imagePath")
    if isinstance(image_path, str) and image_path:
        candidate = (path.parent / image_path.replace("\\", "/")).resolve()
        if candidate.is_file():
            image = candidate
    if image is None:
        image = find_image(path.parent, path.stem)
    if image is None:
        raise FormatError(path, f"the image {image_path!r} does not exist (looked beside the JSON file too)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AnnotationWarning)
        annotation = annotation_from_dict(data, path, image_size=image_size(image))
    notes.extend(str(w.message) for w in caught if issubclass(w.category, AnnotationWarning))
    if labels is not None:
        check_labels(annotation, labels, path)
    return ImportItem(image, annotation.replace(image_path=image.name))


__all__ = ["Writer", "read"]
