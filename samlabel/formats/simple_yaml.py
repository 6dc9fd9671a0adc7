"""Just enough YAML for a YOLO ``data.yaml``: top-level ``key: value`` scalars and a
``names`` list or ``{index: name}`` map (block or flow style). No PyYAML needed.

Written names are JSON strings, which are valid YAML double-quoted scalars.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from samlabel.formats.common import FormatError


def dump_data_yaml(names: list[str], extra: dict[str, str]) -> str:
    lines = ["# written by samlabel (YOLO segmentation)"]
    for key, value in extra.items():
        lines.append(f"{key}: {value}")
    lines.append(f"nc: {len(names)}")
    lines.append("names:")
    lines.extend(f"  {i}: {json.dumps(name, ensure_ascii=False)}" for i, name in enumerate(names))
    return "\n".join(lines) + "\n"


def _scalar(text: str, path: Path) -> str:
    text = text.strip()
    if text.startswith('"'):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(path, f"bad quoted string {text}") from exc
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    return re.sub(r"\s+#.*$", "", text)


def _split_flow(body: str) -> list[str]:
    items, current, quote = [], "", ""
    for ch in body:
        if quote:
            current += ch
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current += ch
        elif ch == ",":
            items.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        items.append(current)
    return items


def read_names(path: Path) -> list[str]:
    """The class names of a YOLO ``data.yaml`` (list or map form), in index order."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FormatError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not re.match(r"^names\s*:", line):
            continue
        rest = line.split(":", 1)[1].strip()
        if rest.startswith("["):
            if not rest.rstrip().endswith("]"):
                raise FormatError(path, "the names list must be on one line")
            return [_scalar(item, path) for item in _split_flow(rest.strip()[1:-1])]
        if rest.startswith("{"):
            mapping = {}
            for item in _split_flow(rest.strip()[1:-1]):
                key, value = item.split(":", 1)
                mapping[int(key.strip())] = _scalar(value, path)
            return [mapping[k] for k in sorted(mapping)]
        names: dict[int, str] = {}
        listed: list[str] = []
        for sub in lines[i + 1 :]:
            if not sub.strip() or sub.lstrip().startswith("#"):
                continue
            if not sub.startswith((" ", "\t", "-")):
                break
            item = sub.strip()
            if item.startswith("-"):
                listed.append(_scalar(item[1:], path))
            else:
                key, _, value = item.partition(":")
                try:
                    names[int(key.strip())] = _scalar(value, path)
                except ValueError as exc:
                    raise FormatError(path, f"bad names entry {item!r}") from exc
        if names:
            if sorted(names) != list(range(len(names))):
                raise FormatError(path, "names indices must be 0..N-1")
            return [names[k] for k in sorted(names)]
        return listed
    raise FormatError(path, "no 'names' in the file")
