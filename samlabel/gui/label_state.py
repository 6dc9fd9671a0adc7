"""The one owner of the label set, the current label and the hidden labels (Qt-free).

The labels dock, the toolbar's label box, the SAM tool's colour and the shape layer all read
this object and listen to it; none keeps a copy. So a rename moves the current label and
the hidden mark with it, whoever renamed::

    state = LabelState(project.labels)
    unsubscribe = state.subscribe(lambda change: ...)   # a LabelChange after every edit
    state.set_visible("car", False)
    state.rename("car", "vehicle")                       # "vehicle" is hidden now
    state.current                                        # the label new shapes get

Names that only shapes use (not in the label set) may be current or hidden too: the dock
shows them as extra rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable

from samlabel.annotations import LabelSet
from samlabel.annotations.labels import Color, Label


class LabelChangeKind(Enum):
    CURRENT = "current"  # the current label changed
    VISIBILITY = "visibility"  # a label was hidden or shown
    EDITED = "edited"  # the label set was edited: added, recoloured, removed, or another set
    RENAMED = "renamed"  # a label was renamed (the set was edited too)


@dataclass(frozen=True)
class LabelChange:
    """What changed: ``name`` is the label concerned (the new name for a rename, ``old`` the old)."""

    kind: LabelChangeKind
    name: str | None = None
    old: str | None = None
    visible: bool | None = None


class LabelState:
    """An observable label set with its current label and hidden labels."""

    def __init__(self, labels: LabelSet | None = None) -> None:
        self._labels = labels if labels is not None else LabelSet.default()
        self._current: str | None = self._first()
        self._hidden: set[str] = set()
        self._listeners: list[Callable[[LabelChange], None]] = []

    # ---------------------------------------------------------------- reading
    @property
    def labels(self) -> LabelSet:
        return self._labels

    @property
    def current(self) -> str:
        """The label new shapes get (``"object"`` when the set is empty and none was chosen)."""
        return self._current or self._first() or "object"

    @property
    def hidden(self) -> frozenset[str]:
        return frozenset(self._hidden)

    def is_visible(self, name: str) -> bool:
        return name not in self._hidden

    def color_of(self, name: str) -> Color:
        return self._labels.color_of(name)

    def _first(self) -> str | None:
        names = self._labels.names
        return names[0] if names else None

    # ---------------------------------------------------------------- listening
    def subscribe(self, listener: Callable[[LabelChange], None]) -> Callable[[], None]:
        """Call ``listener(change)`` after every change; returns the function that stops it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, change: LabelChange) -> None:
        for listener in list(self._listeners):
            listener(change)

    # ---------------------------------------------------------------- editing
    def set_labels(self, labels: LabelSet) -> None:
        """Another project's labels: hidden marks of names it lacks go; the current label
        stays if the new set has it, else the set's first label becomes current."""
        self._labels = labels
        self._hidden &= set(labels.names)
        if self._current not in labels:
            self._current = self._first()
        self._notify(LabelChange(LabelChangeKind.EDITED))
        self._notify(LabelChange(LabelChangeKind.CURRENT, self.current))

    def set_current(self, name: str) -> None:
        """Make ``name`` current (any name: one only shapes use, too)."""
        if not name:
            raise ValueError("a label name must not be empty")
        if name == self._current:
            return
        self._current = name
        self._notify(LabelChange(LabelChangeKind.CURRENT, name))

    def set_visible(self, name: str, visible: bool) -> None:
        if (name not in self._hidden) == bool(visible):
            return
        (self._hidden.discard if visible else self._hidden.add)(name)
        self._notify(LabelChange(LabelChangeKind.VISIBILITY, name, visible=bool(visible)))

    def add(self, name: str, color: Color | None = None, make_current: bool = True) -> Label:
        """Add a label (or return the existing one of that name); by default make it current."""
        known = name in self._labels
        label = self._labels.add(name, color=color)
        if not known:
            self._notify(LabelChange(LabelChangeKind.EDITED, label.name))
        if make_current:
            self.set_current(label.name)
        return label

    def rename(self, old: str, new: str) -> bool:
        """Rename ``old`` to ``new`` in the set (a name only shapes used is adopted under the
        new name); the current label and the hidden mark follow. False if nothing changed."""
        new = new.strip()
        if not new or new == old:
            return False
        if old in self._labels:
            self._labels.rename(old, new)
        elif new not in self._labels:
            self._labels.add(new, color=self._labels.color_of(old))
        if old in self._hidden:
            self._hidden.discard(old)
            self._hidden.add(new)
        was_current = self._current == old
        if was_current:
            self._current = new
        self._notify(LabelChange(LabelChangeKind.RENAMED, new, old=old))
        if was_current:
            self._notify(LabelChange(LabelChangeKind.CURRENT, new))
        return True

    def recolor(self, name: str, color: Color) -> None:
        if name not in self._labels:
            self._labels.add(name, color=color)
        else:
            self._labels.recolor(name, color)
        self._notify(LabelChange(LabelChangeKind.EDITED, name))

    def remove(self, name: str) -> None:
        """Drop ``name`` from the set (shapes that use it keep it); a current ``name`` gives
        way to the set's first label."""
        self._labels.remove(name)
        self._notify(LabelChange(LabelChangeKind.EDITED, name))
        if self._current == name:
            self._current = self._first()
            self._notify(LabelChange(LabelChangeKind.CURRENT, self.current))
