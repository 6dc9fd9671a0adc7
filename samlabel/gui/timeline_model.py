"""What the timeline of a sequence shows, without Qt: one mark per frame.

A *sequence* is a project folder of frames (see :mod:`samlabel.video.propagate`). For each
frame the timeline shows

- its state (:class:`FrameState`): nothing yet, written by propagation (untouched), owned by
  a person (edited: a shape propagation did not make, or a propagated shape changed), or
  reviewed (:func:`samlabel.video.objects.is_reviewed`), or a sidecar that cannot be read;
- the objects the model lost on it: the ``lost`` lists of the sequence report
  ``.samlabel-propagation.json`` (per frame, the last run that wrote it);
- the frame being computed by a running propagation (:attr:`TimelineModel.computing`).

:meth:`TimelineModel.refresh` re-reads only what changed on disk (a sidecar or the report
whose size or modification time differs), so it is cheap to call after every frame a
propagation writes and after every save. The widget
(:mod:`samlabel.gui.docks.timeline_dock`) only draws :meth:`TimelineModel.marks` and maps
mouse positions with :func:`frame_at` / :func:`frame_x`::

    model = TimelineModel.of_project(project)
    model.refresh()                       # every frame
    model.marks()[3].state                # FrameState.PROPAGATED
    model.refresh(["frame_000004.jpg"])   # after that frame was written
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from samlabel.video.objects import frame_record, is_reviewed, person_owned, shape_digest
from samlabel.video.report import REPORT_NAME

_FRAME_NAME = re.compile(r"^(.*?)(\d+)$")


class FrameState(str, Enum):
    EMPTY = "empty"  # no sidecar, or no shapes
    PROPAGATED = "propagated"  # only shapes propagation wrote, untouched
    EDITED = "edited"  # a person's shapes (drawn, imported, or propagated ones changed)
    REVIEWED = "reviewed"  # marked reviewed by a person
    UNREADABLE = "unreadable"  # the sidecar cannot be read


STATE_TEXT = {
    FrameState.EMPTY: "no annotations",
    FrameState.PROPAGATED: "written by propagation",
    FrameState.EDITED: "edited by a person",
    FrameState.REVIEWED: "reviewed",
    FrameState.UNREADABLE: "annotations cannot be read",
}


@dataclass(frozen=True)
class FrameMark:
    """The timeline's mark of frame ``index`` (file ``name``): its state, the keys of the
    objects lost on it (``"car#1"``), and why its sidecar cannot be read (``problem``)."""

    index: int
    name: str
    state: FrameState = FrameState.EMPTY
    lost: tuple[str, ...] = ()
    problem: str = ""
    source: str = ""  # the frame the last propagation that wrote this one started from ("" if none)

    @property
    def person_owned(self) -> bool:
        return self.state in (FrameState.EDITED, FrameState.REVIEWED)

    def describe(self, count: int) -> str:
        """``"Frame 4 / 10 (frame_000003.jpg): written by propagation; lost: car#1"``."""
        text = f"Frame {self.index + 1} / {count} ({self.name}): {STATE_TEXT[self.state]}"
        if self.problem:
            text += f" ({self.problem})"
        if self.lost:
            text += f"; lost: {', '.join(self.lost)}"
        return text


def is_sequence(root: Path, names: Sequence[str]) -> bool:
    """Whether a folder project looks like a sequence of frames: it has a propagation report,
    or it has 2 or more images of one extension whose names are one prefix and a number
    (``frame_000001.jpg``, ``img12.png``)."""
    if (Path(root) / REPORT_NAME).is_file():
        return True
    if len(names) < 2:
        return False
    prefixes, suffixes = set(), set()
    for name in names:
        path = Path(name)
        found = _FRAME_NAME.match(path.stem)
        if found is None:
            return False
        prefixes.add(found.group(1))
        suffixes.add(path.suffix.lower())
    return len(prefixes) == 1 and len(suffixes) == 1


def frame_at(x: float, width: float, count: int) -> int:
    """The frame under ``x`` on a timeline ``width`` wide showing ``count`` frames (each frame
    owns an equal slot; positions outside are clamped)."""
    if count <= 0:
        return -1
    if width <= 0:
        return 0
    return max(0, min(count - 1, int(x * count / width)))


def frame_x(index: int, width: float, count: int) -> tuple[float, float]:
    """The slot ``(left, right)`` of frame ``index`` on a timeline ``width`` wide."""
    if count <= 0:
        return (0.0, 0.0)
    slot = width / count
    return (index * slot, (index + 1) * slot)


def _stamp(path: Path) -> Optional[tuple[int, int]]:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class TimelineModel:
    """The marks of a sequence's frames (see the module docstring).

    ``frames``: the frame files in order; ``sidecar_of(frame)``: its sidecar path;
    ``load(frame)``: its ``ImageAnnotation`` (raises when unreadable); ``report``: the
    sequence report's path (default ``.samlabel-propagation.json`` beside the frames).
    """

    def __init__(self, frames: Sequence[Path], sidecar_of: Callable[[Path], Path], load: Callable[[Path], Any],
                 report: Optional[Path] = None) -> None:
        self.frames = [Path(f) for f in frames]
        self._sidecar_of = sidecar_of
        self._load = load
        root = self.frames[0].parent if self.frames else Path(".")
        self.report_path = Path(report) if report is not None else root / REPORT_NAME
        self._index = {f.name: i for i, f in enumerate(self.frames)}
        self._marks = [FrameMark(i, f.name) for i, f in enumerate(self.frames)]
        self._stamps: list[Optional[tuple[int, int]]] = [None] * len(self.frames)
        self._report_stamp: Optional[tuple[int, int]] = None
        self._lost: dict[str, tuple[str, ...]] = {}
        self._read_once = [False] * len(self.frames)
        self.computing: Optional[int] = None  # the frame a running propagation is computing
        self.current = 0 if self.frames else -1

    @classmethod
    def of_project(cls, project) -> "TimelineModel":
        """The timeline of a ``samlabel.annotations.project.Project``."""
        return cls(project.images, project.sidecar_path, project.load, Path(project.root) / REPORT_NAME)

    # ---------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self.frames)

    def index_of(self, name: str) -> int:
        """The index of the frame named ``name`` (a file name or path), or -1."""
        return self._index.get(Path(str(name)).name, -1)

    def refresh(self, names: Optional[Iterable[str]] = None) -> list[int]:
        """Re-read what changed on disk: the report, and the sidecars of ``names`` (default:
        every frame). Returns the indices whose mark changed."""
        lost_changed = self._read_report()
        if names is None:
            indices: Iterable[int] = range(len(self.frames))
        else:
            indices = sorted({i for i in (self.index_of(n) for n in names) if i >= 0})
        changed = set()
        for i in indices:
            if self._read_frame(i):
                changed.add(i)
        for i in lost_changed:
            mark = self._marks[i]
            lost = self._lost.get(mark.name, ())
            if mark.lost != lost:
                self._marks[i] = FrameMark(i, mark.name, mark.state, lost, mark.problem, mark.source)
                changed.add(i)
        return sorted(changed)

    def _read_report(self) -> list[int]:
        """Read the report if it changed; the indices whose lost keys may have changed."""
        stamp = _stamp(self.report_path)
        if stamp == self._report_stamp:
            return []
        self._report_stamp = stamp
        lost: dict[str, tuple[str, ...]] = {}
        if stamp is not None:
            try:
                data = json.loads(self.report_path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError):
                data = {}
            frames = data.get("frames") if isinstance(data, dict) else None
            if isinstance(frames, dict):
                for name, record in frames.items():
                    keys = record.get("lost") if isinstance(record, dict) else None
                    if isinstance(keys, list) and keys:
                        lost[str(name)] = tuple(str(k) for k in keys)
        touched = set(self._lost) | set(lost)
        self._lost = lost
        return sorted(i for i in (self.index_of(n) for n in touched) if i >= 0)

    def _read_frame(self, i: int) -> bool:
        frame = self.frames[i]
        stamp = _stamp(self._sidecar_of(frame))
        if self._read_once[i] and stamp == self._stamps[i]:
            return False
        self._read_once[i] = True
        self._stamps[i] = stamp
        state, problem, source = FrameState.EMPTY, "", ""
        if stamp is not None:
            try:
                annotation = self._load(frame)
                state, source = frame_state(annotation), frame_source(annotation)
            except Exception as exc:  # noqa: BLE001 - AnnotationError and friends: shown on the mark
                state, problem = FrameState.UNREADABLE, str(exc) or type(exc).__name__
        old = self._marks[i]
        new = FrameMark(i, frame.name, state, self._lost.get(frame.name, ()), problem, source)
        self._marks[i] = new
        return new != old

    # ---------------------------------------------------------------- what to draw
    def marks(self) -> tuple[FrameMark, ...]:
        return tuple(self._marks)

    def mark(self, index: int) -> FrameMark:
        return self._marks[index]

    def repropagations(self, index: int) -> list[Repropagation]:
        """:func:`repropagations_for` frame ``index`` on this timeline's marks."""
        return repropagations_for(self._marks, index, self.index_of)

    def lost_frames(self) -> list[int]:
        """Indices of the frames where an object was lost."""
        return [m.index for m in self._marks if m.lost]

    def counts(self) -> dict[FrameState, int]:
        out = {state: 0 for state in FrameState}
        for m in self._marks:
            out[m.state] += 1
        return out

    def position_text(self, index: Optional[int] = None) -> str:
        """``"Frame 3 / 120 — frame_000002.jpg"`` (``index`` default :attr:`current`)."""
        index = self.current if index is None else index
        if not 0 <= index < len(self.frames):
            return f"No frame / {len(self.frames)}"
        return f"Frame {index + 1} / {len(self.frames)} — {self.frames[index].name}"

    def summary(self) -> str:
        """``"3 propagated, 1 edited, 1 reviewed, 2 with a lost object"``."""
        c = self.counts()
        parts = [f"{c[FrameState.PROPAGATED]} propagated", f"{c[FrameState.EDITED]} edited",
                 f"{c[FrameState.REVIEWED]} reviewed"]
        if c[FrameState.UNREADABLE]:
            parts.append(f"{c[FrameState.UNREADABLE]} unreadable")
        lost = len(self.lost_frames())
        if lost:
            parts.append(f"{lost} with a lost object")
        return ", ".join(parts)


def frame_state(annotation) -> FrameState:
    """The state of a frame from its annotation (see :class:`FrameState`)."""
    if is_reviewed(annotation):
        return FrameState.REVIEWED
    if person_owned(annotation) is not None:
        return FrameState.EDITED
    if annotation.shapes or frame_record(annotation) is not None:
        return FrameState.PROPAGATED
    return FrameState.EMPTY


def frame_source(annotation) -> str:
    """The frame the propagation that last wrote ``annotation`` started from, or ``""``."""
    record = frame_record(annotation)
    source = record.get("source") if record is not None else None
    return source if isinstance(source, str) else ""


@dataclass(frozen=True)
class Repropagation:
    """A propagation that carries a change on: from frame ``source``, ``reverse`` (backward),
    over the ``frames`` frames after it (see :func:`repropagations_for`)."""

    source: int
    reverse: bool
    frames: int


def _origin(marks: Sequence[FrameMark], j: int, index_of: Callable[[str], int]) -> int:
    mark = marks[j]
    return index_of(mark.source) if mark.source else -1


def _carried_run(marks: Sequence[FrameMark], index: int, step: int, index_of: Callable[[str], int],
                 exactly: bool = False) -> int:
    """How many frames after ``index`` (in direction ``step``), one after another, are still as
    a propagation wrote them from ``index`` (``exactly``) or from ``index`` or a frame before
    it (so they carry what changed on ``index``)."""
    count, j = 0, index + step
    while 0 <= j < len(marks):
        origin = _origin(marks, j, index_of)
        if marks[j].state is not FrameState.PROPAGATED or origin < 0:
            break
        if (origin != index) if exactly else ((origin - index) * step > 0):
            break
        count, j = count + 1, j + step
    return count


def repropagations_for(marks: Sequence[FrameMark], index: int, index_of: Callable[[str], int]) -> list[Repropagation]:
    """The propagations that carry a change of frame ``index`` on, forward first.

    - A person's frame (:attr:`FrameState.EDITED`, or reviewed with its shapes changed): the
      frames after it that propagation wrote from it or from an earlier frame (forward), or
      from it or a later frame (backward), up to the first frame that is not so (a person's
      frame, a reviewed one, an empty one, one from another run's direction), are propagated
      again from it.
    - A frame that is propagation's again (a correction undone): the frames propagated from
      it are propagated again from the frame it came from, over it and them, so they show
      what that frame's run gives.

    Empty when nothing was propagated past it (Propagate… does new frames).
    ``index_of(name)``: a frame name's index, -1 if none.
    """
    if not 0 <= index < len(marks):
        return []
    mark, plans = marks[index], []
    for step in (1, -1):
        if mark.state in (FrameState.EDITED, FrameState.REVIEWED):
            count = _carried_run(marks, index, step, index_of)
            if count:
                plans.append(Repropagation(index, step < 0, count))
        elif mark.state is FrameState.PROPAGATED:
            origin = _origin(marks, index, index_of)
            count = _carried_run(marks, index, step, index_of, exactly=True)
            if count and origin >= 0 and (index - origin) * step > 0:
                plans.append(Repropagation(origin, step < 0, abs(index - origin) + count))
    return plans


def shapes_digest(annotation) -> str:
    """A hash of a frame's shapes that propagation reads (every shape but points, in order):
    a save that leaves it unchanged (a flag, a description) is no correction."""
    h = hashlib.sha1()
    for shape in annotation.shapes:
        if shape.kind != "point":
            h.update(shape_digest(shape).encode("ascii"))
    return h.hexdigest()[:16]


def object_name(key: str) -> str:
    """A tracked object's key (:func:`samlabel.video.objects.frame_objects`: ``label#group``
    or ``label@n``, the n-th shape of a label without a group id) as the user reads it:
    ``"car #1"``, ``"ball"`` (the first ungrouped one), ``"ball (3rd without a group)"``."""
    if "#" in key:
        label, _, group = key.rpartition("#")
        return f"{label} #{group}"
    label, sep, n = key.rpartition("@")
    if not sep or not n.isdigit():
        return key
    i = int(n) + 1
    if i == 1:
        return label
    suffix = "th" if 10 <= i % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(i % 10, "th")
    return f"{label} ({i}{suffix} without a group)"
