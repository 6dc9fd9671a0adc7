"""``labelmap.txt``: the label names and colours of a VOC dataset as CVAT and Datumaro
write and read it.

One line per class, background first, ``#`` lines are comments::

    # label:color_rgb:parts:actions
    background:0,0,0::
    road sign:128,0,0::

A class's colour is the colour its pixels have in an RGB-coloured ``SegmentationClass``
PNG (CVAT's and Datumaro's default), so the file is what maps those colours back to
classes. Without it Datumaro assumes VOC's 20 classes. Names cannot contain ``:`` or a
line break (the file has no escaping).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from samlabel.annotations import LabelSet
from samlabel.formats.common import FormatError, read_utf8_text
from samlabel.formats.images import voc_palette

FILE_NAME = "labelmap.txt"
BACKGROUND_NAMES = ("background", "_background_", "__background__")
Color = tuple[int, int, int]


def unwritable_name(name: str) -> str | None:
    """Why ``name`` cannot be a labelmap entry, or None when it can."""
    if ":" in name:
        return "contains ':', which separates the fields of labelmap.txt"
    if "\n" in name or "\r" in name:
        return "contains a line break"
    if name.strip() != name or name.startswith("#"):
        return "starts or ends with whitespace, or starts with '#' (read back differently)"
    return None


def write_labelmap(path: Path, names: Sequence[str], colors: Sequence[Color]) -> None:
    """Write ``background`` (black) then each name with its colour (``colors[i]`` for
    ``names[i]``). FormatError naming the file for a name the format cannot hold."""
    lines = ["# label:color_rgb:parts:actions", "background:0,0,0::"]
    for name, color in zip(names, colors):
        problem = unwritable_name(name)
        if problem is not None:
            raise FormatError(path, f"label {name!r} {problem}")
        lines.append(f"{name}:{','.join(str(int(c)) for c in color)}::")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_labelmap(path: Path) -> list[tuple[str, Color | None]]:
    """``[(name, colour or None), ...]`` in file order, background included (first).
    FormatError naming the file and line for a malformed line or a name given twice."""
    entries: list[tuple[str, Color | None]] = []
    seen: set[str] = set()
    for n, line in enumerate(read_utf8_text(path).splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split(":")
        if len(fields) != 4:
            raise FormatError(path, f"line {n}: expected 'name:r,g,b:parts:actions' (4 fields), got {len(fields)}")
        name, color_text = fields[0], fields[1].strip()
        if not name or name in seen:
            raise FormatError(path, f"line {n}: {'an empty name' if not name else f'{name!r} is given twice'}")
        seen.add(name)
        color = None
        if color_text:
            try:
                rgb = tuple(int(c) for c in color_text.split(","))
            except ValueError:
                rgb = ()
            if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
                raise FormatError(path, f"line {n}: colour {color_text!r} of {name!r} is not 'r,g,b' (0-255)")
            color = rgb  # type: ignore[assignment]
        entries.append((name, color))
    return entries


def labelmap_classes(path: Path) -> tuple[LabelSet, dict[Color, int]]:
    """The classes of a labelmap (background left out) and ``{colour: class index}`` with
    background 0. An entry without a colour (Datumaro writes ``name:::``) has the VOC colour
    map's colour of its index, as Datumaro reads it; two classes of one colour are a
    FormatError."""
    entries = read_labelmap(path)
    if entries and entries[0][0] in BACKGROUND_NAMES:
        background, entries = entries[0], entries[1:]
    else:
        background = ("background", (0, 0, 0))
    colors: dict[Color, int] = {}
    palette = voc_palette(len(entries) + 1)
    for index, (name, color) in enumerate([background, *entries]):
        if color is None:  # as Datumaro reads it: the VOC colour map's colour of the index
            color = tuple(palette[3 * index : 3 * index + 3])  # type: ignore[assignment]
        if color in colors:
            raise FormatError(path, f"{name!r} has the colour {color} of another class; the PNGs cannot tell them apart")
        colors[color] = index
    return LabelSet([name for name, _ in entries]), colors


__all__ = ["BACKGROUND_NAMES", "FILE_NAME", "labelmap_classes", "read_labelmap", "unwritable_name", "write_labelmap"]
