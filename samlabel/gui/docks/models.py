"""The docks' logic without Qt: label rows with counts, file filtering, shape titles.

The widgets in this package only display what these functions compute, so the logic is
tested without a window.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

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
    return label_rows_from_counts(labels, label_counts(shapes))


def label_rows_from_counts(labels, counts: Mapping[str, int], extra_order: Iterable[str] | None = None) -> list[LabelRow]:
    """:func:`label_rows` from counts already made: labels used only by shapes come in
    ``extra_order`` (by default the order of ``counts``; :func:`label_rows` gives them in
    the order of their first shape)."""
    rows = [LabelRow(label.name, tuple(label.color), counts.get(label.name, 0), True) for label in labels]
    known = {row.name for row in rows}
    for name in (counts if extra_order is None else extra_order):
        if name not in known and counts.get(name, 0):
            rows.append(LabelRow(name, tuple(labels.color_of(name)), counts[name], False))
    return rows


class LabelCounts:
    """Shapes per label, kept up to date change by change (no pass over every shape per edit).

    :meth:`reset` counts a list of shapes; :meth:`update` then follows the shapes a change
    touched (``find(uid)``: the shape now, or None when it is gone). :meth:`rows` equals
    ``label_rows(labels, shapes)`` for the shapes as they are.
    """

    def __init__(self) -> None:
        self._label_of: dict[str, str] = {}
        self.counts: Counter = Counter()
        self.resets = 0  # how many full counts were made (tests)

    def reset(self, shapes: Iterable) -> None:
        self._label_of = {s.uid: s.label for s in shapes}
        self.counts = Counter(self._label_of.values())
        self.resets += 1

    def update(self, uids: Iterable[str], find: Callable[[str], object]) -> bool:
        """Follow the shapes ``uids`` to their labels now; True when a count changed."""
        changed = False
        label_of, counts = self._label_of, self.counts
        for uid in uids:
            old = label_of.get(uid)
            shape = find(uid)
            new = None if shape is None else shape.label
            if old == new:
                continue
            changed = True
            if old is not None:
                counts[old] -= 1
                if counts[old] <= 0:
                    del counts[old]
                del label_of[uid]
            if new is not None:
                counts[new] += 1
                label_of[uid] = new
        return changed

    def ordered_by_shapes(self, labels) -> bool:
        """Whether the rows' order depends on the shapes' order (two or more labels outside
        the set: they come in the order of their first shape)."""
        known = {label.name for label in labels}
        return sum(1 for name in self.counts if name not in known) > 1

    def rows(self, labels, shapes: Sequence) -> list[LabelRow]:
        """The rows for ``shapes`` (the shapes counted): :func:`label_rows` without a count."""
        known = {label.name for label in labels}
        extra = [name for name in self.counts if name not in known]
        if len(extra) > 1:  # labels outside the set come in the order of their first shape
            pending, order = set(extra), []
            for shape in shapes:
                if shape.label in pending:
                    pending.discard(shape.label)
                    order.append(shape.label)
                    if not pending:
                        break
            extra = order
        return label_rows_from_counts(labels, self.counts, extra)


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
