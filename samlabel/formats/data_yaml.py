"""YOLO ``data.yaml``: read and written with PyYAML, as Ultralytics does.

``names`` is a list or an ``{index: name}`` map with indices 0..N-1 (Ultralytics'
``check_class_names``); names are kept as strings (``str()`` of a number, as
Ultralytics does); an ``nc`` that disagrees with the names is an error. Anything wrong
raises :class:`FormatError` naming the file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from samlabel.formats.common import INPUT_ERRORS, FormatError, input_error, read_utf8_text

HEADER = "# written by samlabel (YOLO segmentation)\n"


def dump_data_yaml(names: list[str], extra: dict[str, str]) -> str:
    """``extra`` keys (``train``, ``val``...), ``nc`` and the ``names`` map, as YAML."""
    data: dict = dict(extra)
    data["nc"] = len(names)
    data["names"] = dict(enumerate(names))
    return HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _load(path: Path):
    text = read_utf8_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FormatError(path, f"malformed YAML{where}: {problem}") from exc
    except ValueError as exc:  # a value YAML cannot construct (an integer of 5000 digits...)
        raise FormatError(path, f"malformed YAML: {exc}") from exc
    except INPUT_ERRORS as exc:
        raise input_error(exc, path) from exc


def _name(value, key, path: Path) -> str:
    if isinstance(value, (list, dict)) or value is None:
        raise FormatError(path, f"names[{key!r}] must be a name, not {value!r}")
    name = str(value).strip()
    if not name:
        raise FormatError(path, f"names[{key!r}] is empty")
    return name


def _index(key, path: Path) -> int:
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise FormatError(path, f"names key {key!r} is not a class index")
    try:
        return int(key)
    except ValueError as exc:
        raise FormatError(path, f"names key {key!r} is not a class index") from exc


def read_names(path: Path) -> list[str]:
    """The class names of a YOLO ``data.yaml`` (list or map form), in index order."""
    data = _load(path)
    if not isinstance(data, dict):
        raise FormatError(path, "expected a YAML mapping with a 'names' key")
    if "names" not in data:
        raise FormatError(path, "no 'names' in the file")
    raw = data["names"]
    if isinstance(raw, list):
        names = [_name(value, i, path) for i, value in enumerate(raw)]
    elif isinstance(raw, dict):
        by_index = {_index(key, path): _name(value, key, path) for key, value in raw.items()}
        if sorted(by_index) != list(range(len(by_index))):
            raise FormatError(path, f"names indices must be 0..{len(by_index) - 1}, got {sorted(by_index)}")
        names = [by_index[i] for i in range(len(by_index))]
    else:
        raise FormatError(path, f"'names' must be a list or an {{index: name}} map, not {raw!r}")
    nc = data.get("nc")
    if nc is not None and nc != len(names):
        raise FormatError(path, f"nc is {nc!r} but there are {len(names)} names")
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise FormatError(path, f"class name(s) {', '.join(map(repr, duplicates))} appear more than once")
    return names


__all__ = ["dump_data_yaml", "read_names"]
