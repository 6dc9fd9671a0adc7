"""The current image's annotation with an undo/redo history (no Qt).

Every change is a command. A command stores the annotation snapshot before and after
it; snapshots are immutable and share their unchanged shapes, so a history costs little.
``with doc.group("Move vertex"):`` (or ``begin_group`` / ``end_group``) merges everything
inside into ONE undo step, e.g. the many ``replace_shape`` calls of a vertex drag; the
listeners still hear each change, so the view follows the drag.

Listeners are plain callables ``callback(change: DocumentChange)``; ``subscribe`` returns
the function that unsubscribes. The GUI bridges them to Qt signals.

Looking a shape up by uid is a dict lookup: the document keeps a ``uid -> position`` index of
the current annotation and carries it over (instead of rebuilding it) across every command that
keeps the shapes' order (an edit of shapes, a label, flags: what a vertex drag sends many times a
second) and across adding shapes at the end; a command that inserts, removes or reorders shapes
builds it again when it is next needed. A replacement keeps every uid, so its snapshot is made
without checking the uids again (the index already knows them).
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from samlabel.annotations.errors import AnnotationError
from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.shapes import Shape


class ChangeReason(str, Enum):
    """Why a :class:`DocumentChange` was sent. A ``str``: ``ChangeReason.EDIT == "edit"``."""

    EDIT = "edit"
    UNDO = "undo"
    REDO = "redo"
    CANCEL = "cancel"  # an open group was abandoned
    RESET = "reset"  # another annotation is shown; the history was cleared
    SAVED = "saved"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class DocumentChange:
    """What changed: ``reason`` a :class:`ChangeReason`; ``text`` the command's text; ``uids``
    the shapes it touched (empty when unknown / all)."""

    reason: ChangeReason
    text: str = ""
    uids: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Command:
    text: str
    before: ImageAnnotation
    after: ImageAnnotation
    uids: tuple[str, ...]
    same_order: bool = False  # before and after hold the same uids in the same order


class Document:
    """Holds the :class:`ImageAnnotation` being edited and its history."""

    def __init__(self, annotation: ImageAnnotation, max_undo: int = 1000):
        self._annotation = annotation
        self._saved: ImageAnnotation | None = annotation
        self._undo: list[_Command] = []
        self._redo: list[_Command] = []
        self._max_undo = max_undo
        self._listeners: list[Callable[[DocumentChange], None]] = []
        self._group_depth = 0
        self._group_text = ""
        self._group_before: ImageAnnotation | None = None
        self._group_uids: list[str] = []
        self._group_same_order = True
        self._index: dict[str, int] = {}  # uid -> position in ``_indexed``'s shapes
        self._indexed: ImageAnnotation | None = None  # the annotation ``_index`` is valid for

    # --- state --------------------------------------------------------------------
    @property
    def annotation(self) -> ImageAnnotation:
        return self._annotation

    @property
    def shapes(self) -> tuple[Shape, ...]:
        return self._annotation.shapes

    def shape(self, uid: str) -> Shape:
        """The shape with ``uid`` (``KeyError`` when there is none)."""
        return self._annotation.shapes[self.uid_index()[uid]]

    def find(self, uid: str) -> Shape | None:
        """The shape with ``uid``, or None."""
        i = self.uid_index().get(uid)
        return None if i is None else self._annotation.shapes[i]

    def index_of(self, uid: str) -> int:
        """Position of shape ``uid`` (``KeyError`` when there is none)."""
        return self.uid_index()[uid]

    def uid_index(self) -> Mapping[str, int]:
        """``uid -> position`` of the current shapes (kept across edits; do not modify)."""
        if self._indexed is not self._annotation:
            self._index = {s.uid: i for i, s in enumerate(self._annotation.shapes)}
            self._indexed = self._annotation
        return self._index

    def _carry_index(self, old: ImageAnnotation, new: ImageAnnotation) -> None:
        """``new`` holds the uids of ``old`` in the same order: the index stays valid."""
        if self._indexed is old:
            self._indexed = new

    @property
    def is_dirty(self) -> bool:
        """True when the annotation differs from the last saved (or loaded) one."""
        return self._annotation is not self._saved

    def mark_saved(self) -> None:
        self._saved = self._annotation
        self._notify(DocumentChange(ChangeReason.SAVED))

    def reset(self, annotation: ImageAnnotation, saved: bool = True) -> None:
        """Show another image's annotation: clears the history."""
        if self._group_depth:
            raise AnnotationError("cannot reset the document inside an undo group")
        self._annotation = annotation
        self._saved = annotation if saved else None
        self._undo.clear()
        self._redo.clear()
        self._notify(DocumentChange(ChangeReason.RESET))

    # --- listeners ----------------------------------------------------------------
    def subscribe(self, callback: Callable[[DocumentChange], None]) -> Callable[[], None]:
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def _notify(self, change: DocumentChange) -> None:
        for callback in list(self._listeners):
            callback(change)

    # --- the one primitive every command goes through -------------------------------
    def _apply(self, after: ImageAnnotation, text: str, uids: Sequence[str], same_order: bool = False) -> None:
        before = self._annotation
        if after is before:
            return
        self._annotation = after
        if same_order:
            self._carry_index(before, after)
        self._redo.clear()
        if self._group_depth:
            if len(self._group_uids) < 64:
                self._group_uids.extend(u for u in uids if u not in self._group_uids)
            else:  # many uids (a long group over many shapes): a set keeps this linear
                seen = set(self._group_uids)
                self._group_uids.extend(u for u in dict.fromkeys(uids) if u not in seen)
            self._group_same_order &= same_order
        else:
            self._push(_Command(text, before, after, tuple(uids), same_order))
        self._notify(DocumentChange(ChangeReason.EDIT, text, tuple(uids)))

    def _push(self, command: _Command) -> None:
        self._undo.append(command)
        if len(self._undo) > self._max_undo:
            del self._undo[0]

    # --- commands -----------------------------------------------------------------
    def apply(self, annotation: ImageAnnotation, text: str = "Edit") -> None:
        """Replace the whole annotation as one command (e.g. after an import)."""
        self._apply(annotation, text, ())

    def _with_same_uids(self, shapes: list[Shape]) -> ImageAnnotation:
        """The annotation with ``shapes``, which hold the current uids in the current order
        (so the snapshot's uid check is not needed again)."""
        new = copy.copy(self._annotation)
        object.__setattr__(new, "shapes", tuple(shapes))
        return new

    def add_shape(self, shape: Shape, index: int | None = None, text: str = "Add shape") -> None:
        self.add_shapes([shape], index=index, text=text)

    def add_shapes(self, shapes: Iterable[Shape], index: int | None = None, text: str = "Add shapes") -> None:
        shapes = list(shapes)
        if not shapes:
            return
        existing = self.uid_index()
        added: set[str] = set()
        for s in shapes:
            if s.uid in existing or s.uid in added:
                raise AnnotationError(f"shape {s.uid} is already in the document")
            added.add(s.uid)
        current = list(self.shapes)
        n = len(current)
        at = n if index is None else index
        current[at:at] = shapes
        before = self._annotation
        self._apply(self._annotation.with_shapes(current), text, [s.uid for s in shapes])
        if (index is None or index >= n) and self._indexed is before:  # appended: extend the index
            index_map = self._index
            for i, s in enumerate(shapes, n):
                index_map[s.uid] = i
            self._indexed = self._annotation

    def remove_shapes(self, uids: Iterable[str], text: str = "Delete shapes") -> None:
        uids = set(uids)
        self._require(uids)
        kept = [s for s in self.shapes if s.uid not in uids]
        self._apply(self._annotation.with_shapes(kept), text, sorted(uids))

    def replace_shape(self, uid: str, new_shape: Shape, text: str = "Edit shape") -> None:
        """Put ``new_shape`` where shape ``uid`` is; it takes over the uid."""
        self.replace_shapes({uid: new_shape}, text=text)

    def replace_shapes(self, new_shapes: Mapping[str, Shape], text: str = "Edit shapes") -> None:
        self._require(new_shapes)
        index = self.uid_index()
        shapes = list(self.shapes)
        for uid, new in new_shapes.items():
            shapes[index[uid]] = new if new.uid == uid else new.replace(uid=uid)
        self._apply(self._with_same_uids(shapes), text, list(new_shapes), same_order=True)

    def _update(self, uids: Iterable[str], edit: Callable[[Shape], Shape], text: str) -> None:
        uids = list(uids)
        self._require(uids)
        self.replace_shapes({u: edit(self.shape(u)) for u in uids}, text=text)

    def set_label(self, uids: Iterable[str], label: str, text: str = "Change label") -> None:
        self._update(uids, lambda s: s.with_label(label), text)

    def set_group_id(self, uids: Iterable[str], group_id: int | None, text: str = "Change group id") -> None:
        self._update(uids, lambda s: s.with_group_id(group_id), text)

    def set_shape_flags(self, uids: Iterable[str], flags: Mapping[str, Any], text: str = "Change flags") -> None:
        self._update(uids, lambda s: s.with_flags(flags), text)

    def set_description(self, uids: Iterable[str], description: str, text: str = "Change description") -> None:
        self._update(uids, lambda s: s.with_description(description), text)

    def move_shapes(self, uids: Iterable[str], dx: float, dy: float, text: str = "Move shapes") -> None:
        self._update(uids, lambda s: s.translated(dx, dy), text)

    def reorder_shape(self, uid: str, new_index: int, text: str = "Reorder shape") -> None:
        shapes = list(self.shapes)
        shape = shapes.pop(self.index_of(uid))
        shapes.insert(new_index, shape)
        self._apply(self._annotation.with_shapes(shapes), text, [uid])

    def set_image_flags(self, flags: Mapping[str, Any], text: str = "Change image flags") -> None:
        self._apply(self._annotation.replace(flags=dict(flags)), text, (), same_order=True)

    def _require(self, uids: Iterable[str]) -> None:
        present = self.uid_index()
        missing = [u for u in uids if u not in present]
        if missing:
            raise AnnotationError(f"no shape with uid {missing[0]} in the document")

    # --- grouping -----------------------------------------------------------------
    def begin_group(self, text: str) -> None:
        """Start merging changes into one undo step (nestable; the outermost text wins)."""
        if self._group_depth == 0:
            self._group_text = text
            self._group_before = self._annotation
            self._group_uids = []
            self._group_same_order = True
        self._group_depth += 1

    def end_group(self) -> None:
        if self._group_depth == 0:
            raise AnnotationError("end_group() without begin_group()")
        self._group_depth -= 1
        if self._group_depth == 0:
            before, self._group_before = self._group_before, None
            if before is not None and before is not self._annotation:
                self._push(_Command(self._group_text, before, self._annotation, tuple(self._group_uids),
                                    self._group_same_order))

    def cancel_group(self) -> None:
        """Abandon the open group (e.g. Esc during a drag): the document goes back to how it
        was at ``begin_group`` and no undo step is recorded."""
        if self._group_depth == 0:
            raise AnnotationError("cancel_group() without begin_group()")
        before = self._group_before
        uids = tuple(self._group_uids)
        self._group_depth = 0
        self._group_before = None
        if before is not None and before is not self._annotation:
            if self._group_same_order:
                self._carry_index(self._annotation, before)
            self._annotation = before
            self._notify(DocumentChange(ChangeReason.CANCEL, self._group_text, uids))

    @contextlib.contextmanager
    def group(self, text: str) -> Iterator["Document"]:
        self.begin_group(text)
        try:
            yield self
        finally:
            self.end_group()

    @property
    def in_group(self) -> bool:
        return self._group_depth > 0

    # --- history ------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo) and not self._group_depth

    @property
    def can_redo(self) -> bool:
        return bool(self._redo) and not self._group_depth

    @property
    def undo_text(self) -> str:
        return self._undo[-1].text if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].text if self._redo else ""

    def undo(self) -> bool:
        """Undo the last step; False if there is nothing to undo."""
        if self._group_depth:
            raise AnnotationError("cannot undo while an undo group is open")
        if not self._undo:
            return False
        command = self._undo.pop()
        self._redo.append(command)
        if command.same_order:
            self._carry_index(command.after, command.before)
        self._annotation = command.before
        self._notify(DocumentChange(ChangeReason.UNDO, command.text, command.uids))
        return True

    def redo(self) -> bool:
        if self._group_depth:
            raise AnnotationError("cannot redo while an undo group is open")
        if not self._redo:
            return False
        command = self._redo.pop()
        self._undo.append(command)
        if command.same_order:
            self._carry_index(command.before, command.after)
        self._annotation = command.after
        self._notify(DocumentChange(ChangeReason.REDO, command.text, command.uids))
        return True

    def clear_history(self) -> None:
        self._undo.clear()
        self._redo.clear()
