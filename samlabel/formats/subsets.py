"""Subsets of an export (``train``, ``val``, ...): their names and the split file that
assigns images to them.

Formats that have subsets (COCO, VOC, CVAT) write one annotation file or image list per
subset; a ``Writer`` with ``SUBSETS = True`` reads the current image's subset from its
``subset`` attribute, which :func:`samlabel.formats.batch.export_project` sets before each
``add``.

A split file is UTF-8 text, one image per line: ``SUBSET IMAGE_FILE_NAME`` (the subset is
the first word, the rest of the line is the image's file name, spaces allowed); blank lines
and lines starting with ``#`` are skipped::

    train  street 01.jpg
    val    café.png
"""

from __future__ import annotations

import re
from pathlib import Path

from samlabel.formats.common import FormatError, read_utf8_text

DEFAULT_SUBSET = "default"
"""The subset of an export that was not split (COCO's ``instances_default.json``, as CVAT
and Datumaro name it)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_subset_name(name: str, where: str | Path) -> str:
    """``name`` if it can name a subset (letters, digits, ``_.-``, not starting with a
    dot, at most 64 characters: it becomes part of file names); FormatError naming ``where``
    otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise FormatError(where, f"{name!r} cannot name a subset (use letters, digits, '_', '.', '-'; "
                                 "start with a letter or digit; at most 64 characters)")
    return name


def read_split(path: str | Path) -> dict[str, str]:
    """``{image file name: subset}`` from a split file (see the module doc); FormatError
    naming the file and line for a bad line or an image listed twice."""
    path = Path(path)
    split: dict[str, str] = {}
    for n, line in enumerate(read_utf8_text(path).splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(None, 1)
        if len(parts) != 2:
            raise FormatError(path, f"line {n}: expected 'SUBSET IMAGE_FILE_NAME', got {text!r}")
        subset, image = parts[0], parts[1].strip()
        check_subset_name(subset, f"{path}: line {n}")
        if image in split and split[image] != subset:
            raise FormatError(path, f"line {n}: {image!r} is already in subset {split[image]!r}")
        split[image] = subset
    return split


__all__ = ["DEFAULT_SUBSET", "check_subset_name", "read_split"]
