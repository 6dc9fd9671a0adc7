"""The docks' logic without Qt: label rows with counts, file filtering, shape titles.

The widgets in this package only display what these functions compute, so the logic is
tested without a window.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

Color = tuple[int, int, int]


@dataclass(frozen=True)
class LabelRow:
    """One row of the labels dock. ``in_set`` is False for a label that shapes use but
    the project's label list does not have (e.g. from an imported file)."""

    name: str
    color: Color
    count: int
    in_set: bool = True

    @property
    def text(self) -> str:
        return f"{self.name} ({self.count})" if self.count else self.name


def label_counts(shapes: Iterable) -> Counter:
    """``{label: number of shapes}`` (anything with a ``.label``)."""
    return Counter(shape.label for shape in shapes)


def label_rows(labels, shapes: Iterable = ()) -> list[LabelRow]:
    """The label set's labels in order with their counts, then labels used only by shapes.

    ``labels`` is a ``LabelSet`` (anything iterable over objects with ``name`` and
    ``color`` and with ``color_of(name)``).
    """
    counts = label_counts(shapes)
    rows = [LabelRow(label.name, tuple(label.color), counts.get(label.name, 0), True) for label in labels]
    known = {row.name for row in rows}
    for name in counts:
        if name not in known:
            rows.append(LabelRow(name, tuple(labels.color_of(name)), counts[name], False))
    return rows


def shape_title(shape, index: int) -> str:
    """``"3. car — polygon"``; with ``#group_id`` when the shape has one."""
    group = f" #{shape.group_id}" if getattr(shape, "group_id", None) is not None else ""
    return f"{index + 1}. {shape.label}{group} — {shape.kind}"


ANNOTATION_FILTERS = ("all", "annotated", "not annotated")


def filter_files(
    paths: Sequence[str | os.PathLike],
    text: str = "",
    annotated: Callable[[Path], bool] | None = None,
    which: str = "all",
) -> list[Path]:
    """Paths whose file name contains every blank-separated word of ``text`` (any case),
    optionally only the annotated or only the not-annotated ones (``which``)."""
    words = filter_words(text)
    check_which(which)
    result = []
    for path in map(Path, paths):
        marked = annotated(path) if (which != "all" and annotated is not None) else False
        if file_matches(path.name.casefold(), words, marked, which):
            result.append(path)
    return result


def check_which(which: str) -> None:
    if which not in ANNOTATION_FILTERS:
        raise ValueError(f"which must be one of {ANNOTATION_FILTERS}, got {which!r}")


def filter_words(text: str) -> list[str]:
    """The blank-separated, case-folded words of a filter text."""
    return text.casefold().split()


def file_matches(folded_name: str, words: Sequence[str], annotated: bool, which: str = "all") -> bool:
    """One file against a filter: every word in its (case-folded) name, and the status filter."""
    if not all(word in folded_name for word in words):
        return False
    return which == "all" or annotated == (which == "annotated")
