"""Labels: a name, a colour and an optional numeric id, kept in an ordered set.

A label file is either plain text, one name per line (``#`` starts a comment), or JSON:
``[{"name": "car", "color": [255, 0, 0], "id": 3}, ...]`` (or ``{"labels": [...]}``), in
UTF-8 (a leading byte-order mark is ignored). Anything wrong with a label file raises
``AnnotationFileError`` naming it and the problem.
"""

from __future__ import annotations

import colorsys
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

from samlabel.annotations.errors import AnnotationFileError, LabelError

Color = tuple[int, int, int]


def default_color(index: int) -> Color:
    """A distinct, stable colour for the ``index``-th label (golden-angle hue steps)."""
    hue = (index * 0.618033988749895) % 1.0
    sat = 0.65 + 0.25 * ((index // 7) % 2)
    r, g, b = colorsys.hsv_to_rgb(hue, sat, 0.95)
    return (int(round(r * 255)), int(round(g * 255)), int(round(b * 255)))


@dataclass(frozen=True)
class Label:
    """One class name. ``color`` is RGB 0..255; ``id`` is an optional export id."""

    name: str
    color: Color = (255, 0, 0)
    id: int | None = None


class LabelSet:
    """An ordered set of labels, unique by name.

    ``labels[i]`` and ``labels["car"]`` look labels up; ``index("car")`` gives the position
    (the class index used by YOLO / masks / VOC exports is this position). Lookups by name
    go through a name -> position dict, so building a set of n labels costs O(n).
    """

    def __init__(self, labels: Iterable[Label | str] = ()):
        self._labels: list[Label] = []
        self._positions: dict[str, int] = {}  # name -> index in _labels
        for item in labels:
            self.add(item)

    def _reindex(self) -> None:
        """Rebuild the name -> position dict after labels moved (remove, move)."""
        self._positions = {label.name: i for i, label in enumerate(self._labels)}

    # --- lookup -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    def __iter__(self) -> Iterator[Label]:
        return iter(self._labels)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, Label):
            name = name.name
        try:
            return name in self._positions
        except TypeError:  # unhashable: not a name
            return False

    def __getitem__(self, key: int | str) -> Label:
        if isinstance(key, int):
            return self._labels[key]
        return self._labels[self.index(key)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSet) and self._labels == other._labels

    def __repr__(self) -> str:
        return f"LabelSet({[label.name for label in self._labels]!r})"

    @property
    def names(self) -> list[str]:
        return [label.name for label in self._labels]

    def index(self, name: str) -> int:
        position = self._positions.get(name)
        if position is not None:
            return position
        raise LabelError(f"label {name!r} is not in the label set ({', '.join(self.names) or 'empty'})")

    def get(self, name: str) -> Label | None:
        position = self._positions.get(name)
        return self._labels[position] if position is not None else None

    def color_of(self, name: str) -> Color:
        """The label's colour, or a stable default colour for a name not in the set."""
        label = self.get(name)
        if label is not None:
            return label.color
        return default_color(sum(ord(c) * (i + 1) for i, c in enumerate(name)) % 997)

    def copy(self) -> "LabelSet":
        return LabelSet(self._labels)

    # --- editing ------------------------------------------------------------------
    def add(self, label: Label | str, color: Color | None = None, id: int | None = None) -> Label:
        """Append a label (a new name gets the next default colour). Returns the stored label.

        Adding a name that is already present returns the existing label unchanged.
        """
        if isinstance(label, str):
            name = label.strip()
            if not name:
                raise LabelError("a label name must not be empty")
            label = Label(name, color if color is not None else default_color(len(self._labels)), id)
        existing = self.get(label.name)
        if existing is not None:
            return existing
        self._positions[label.name] = len(self._labels)
        self._labels.append(label)
        return label

    def rename(self, old: str, new: str) -> None:
        new = new.strip()
        if not new:
            raise LabelError("a label name must not be empty")
        if new != old and new in self:
            raise LabelError(f"cannot rename {old!r} to {new!r}: {new!r} already exists")
        i = self.index(old)
        self._labels[i] = replace(self._labels[i], name=new)
        del self._positions[old]
        self._positions[new] = i

    def recolor(self, name: str, color: Color) -> None:
        i = self.index(name)
        self._labels[i] = replace(self._labels[i], color=tuple(int(c) for c in color))  # type: ignore[arg-type]

    def remove(self, name: str) -> None:
        del self._labels[self.index(name)]
        self._reindex()

    def move(self, name: str, new_index: int) -> None:
        label = self._labels.pop(self.index(name))
        self._labels.insert(new_index, label)
        self._reindex()

    # --- files --------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "LabelSet":
        """Read a text (one name per line) or JSON label file (UTF-8, a BOM is ignored).

        Raises:
            AnnotationFileError: naming the file and the problem (unreadable, not UTF-8,
            malformed or too deeply nested JSON, a bad entry).
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AnnotationFileError(path, f"cannot read label file ({exc.strerror or exc})") from exc
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AnnotationFileError(
                path, f"the label file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
            ) from exc
        stripped = text.lstrip()
        if path.suffix.lower() == ".json" or stripped.startswith(("[", "{")):
            return cls._from_json(path, text)
        labels = cls()
        for number, line in enumerate(text.splitlines(), start=1):
            name = line.split("#", 1)[0].strip()
            if name:
                _check_name(path, name, f"line {number}")
                labels.add(name)  # a name already present is kept where it first appeared
        return labels

    @classmethod
    def _from_json(cls, path: Path, text: str) -> "LabelSet":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnnotationFileError(path, f"malformed JSON at line {exc.lineno}: {exc.msg}") from exc
        except RecursionError as exc:
            raise AnnotationFileError(path, "the JSON is nested too deeply to read") from exc
        if isinstance(data, dict):
            data = data.get("labels")
        if not isinstance(data, list):
            raise AnnotationFileError(path, "expected a list of labels (or {'labels': [...]})")
        labels = cls()
        for i, item in enumerate(data):
            if isinstance(item, str):
                if not item.strip():
                    raise AnnotationFileError(path, f"label #{i} has an empty name")
                _check_name(path, item, f"label #{i}")
                labels.add(item)
                continue
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise AnnotationFileError(path, f"label #{i} has no 'name'")
            if not item["name"].strip():
                raise AnnotationFileError(path, f"label #{i} has an empty name")
            _check_name(path, item["name"], f"label #{i}")
            color = item.get("color")
            if color is not None:
                if not (isinstance(color, (list, tuple)) and len(color) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in color)):
                    raise AnnotationFileError(path, f"label {item['name']!r}: color must be [r, g, b] with 0..255 integers")
                color = tuple(color)
            label_id = item.get("id")
            if label_id is not None and not isinstance(label_id, int):
                raise AnnotationFileError(path, f"label {item['name']!r}: id must be an integer")
            labels.add(item["name"], color=color, id=label_id)
        return labels

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically: JSON with colours for ``.json`` paths, else one name per line."""
        from samlabel.annotations.atomic import atomic_write_text

        path = Path(path)
        if path.suffix.lower() == ".json":
            items = []
            for label in self._labels:
                item: dict = {"name": label.name, "color": list(label.color)}
                if label.id is not None:
                    item["id"] = label.id
                items.append(item)
            atomic_write_text(path, json.dumps(items, indent=2) + "\n")
        else:
            atomic_write_text(path, "".join(label.name + "\n" for label in self._labels))

    @classmethod
    def default(cls) -> "LabelSet":
        """The bundled default label set (``resources/labels.txt``)."""
        from samlabel.paths import resource_path

        return cls.load(resource_path("labels.txt"))


def _check_name(path: Path, name: str, where: str) -> None:
    """A label name is text a person can read: no control characters (a NUL, an escape...)."""
    bad = next((c for c in name if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise AnnotationFileError(path, f"{where}: the label {name!r} contains the control character 0x{ord(bad):02x}")
