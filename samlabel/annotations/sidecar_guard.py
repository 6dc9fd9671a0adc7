"""Never overwrite a sidecar that another program changed while its image was open.

samlabel autosaves a sidecar after every change. If another program (labelme, a script, a
``git checkout``) rewrote the file while the image was open, that save would silently
throw their version away. A :class:`SidecarGuard` remembers what the file was when samlabel
read or last wrote it (a :class:`SidecarStamp`: size, modification and change times, inode
and a SHA-256 of the content) and compares the file on disk with it before each save:

- a different size, or a file that appeared or disappeared, is a change;
- the same size is decided by the content hash: a modification time alone is too coarse
  (two writes within one timestamp tick look alike, ``touch`` or ``git checkout`` of the
  same content looks different). Hashing is skipped only when the file's stat is exactly
  the stamp's and the stamp is not *racy* (git's rule): the file's change time lies
  well before the moment the stamp was taken, so any later write, whatever tool made it,
  would have given the file a later change time.

What to do about a change is the user's choice (:class:`OutsideEditChoice`), carried out by
:meth:`SidecarGuard.resolve` so that nothing is lost either way:

- ``RELOAD_THEIRS``: nothing is written; the caller shows the file as it is on disk (the
  GUI does it as one undoable step, so Undo brings the unsaved version back);
- ``KEEP_MINE``: their version is first copied beside the sidecar as
  ``<name>.outside-<timestamp>.json``, then mine is written;
- ``SAVE_MINE_BESIDE``: mine is written as ``<name>.samlabel-<timestamp>.json`` and the
  sidecar is left as they wrote it; the caller then shows theirs.

The check and the write are two steps: a write by another program in the milliseconds
between them is not detected (no portable file lock would stop labelme anyway).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

from samlabel.annotations.atomic import atomic_write_bytes
from samlabel.annotations.errors import AnnotationError, AnnotationFileError, SaveError

#: a stamp whose file changed less than this before the stamp was taken is "racy": a write
#: within the same timestamp tick could follow unseen, so its content is always hashed
#: (2 s covers FAT's timestamps; ext4, APFS and NTFS are far finer)
RACY_NS = 2_000_000_000

OUTSIDE_COPY_TAG = "outside"  # theirs, kept beside the sidecar when mine overwrites it
MINE_COPY_TAG = "samlabel"  # mine, saved beside the sidecar instead of over it


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SidecarStamp:
    """What a sidecar was when samlabel last read or wrote it (``exists=False``: no file)."""

    exists: bool
    size: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0
    inode: int = 0
    sha256: str = ""
    taken_ns: int = 0  # time.time_ns() when the stamp was taken

    @classmethod
    def missing(cls) -> "SidecarStamp":
        return cls(False, taken_ns=time.time_ns())

    @classmethod
    def _of(cls, st: os.stat_result, data: bytes, taken_ns: int) -> "SidecarStamp":
        return cls(True, len(data), st.st_mtime_ns, st.st_ctime_ns, st.st_ino, content_hash(data), taken_ns)

    @classmethod
    def read(cls, path: str | os.PathLike) -> tuple["SidecarStamp", bytes | None]:
        """Stamp the file as it is now, and its bytes (None when there is no file).

        Raises:
            AnnotationFileError: the file exists but cannot be read.
        """
        path = Path(path)
        taken = time.time_ns()
        try:
            with open(path, "rb") as handle:
                st = os.fstat(handle.fileno())
                data = handle.read()
        except FileNotFoundError:
            return cls.missing(), None
        except OSError as exc:
            raise AnnotationFileError(path, f"cannot read the file ({exc.strerror or exc})") from exc
        return cls._of(st, data, taken), data

    @classmethod
    def of_file(cls, path: str | os.PathLike) -> "SidecarStamp":
        return cls.read(path)[0]

    @classmethod
    def of_written(cls, path: str | os.PathLike, data: bytes) -> "SidecarStamp":
        """The stamp of ``data`` just written to ``path`` by samlabel (hashed from ``data``,
        not read back, so a write by someone else right after ours is still a change)."""
        taken = time.time_ns()
        try:
            st = os.stat(path)
        except OSError:
            return cls(True, len(data), 0, 0, 0, content_hash(data), taken)
        return cls._of(st, data, taken)

    @property
    def racy(self) -> bool:
        return self.ctime_ns >= self.taken_ns - RACY_NS

    def same_stat(self, st: os.stat_result) -> bool:
        now = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        return now == (self.size, self.mtime_ns, self.ctime_ns, self.inode)

    def same_content(self, other: "SidecarStamp") -> bool:
        if self.exists != other.exists:
            return False
        return not self.exists or (self.size, self.sha256) == (other.size, other.sha256)


@dataclass(frozen=True)
class OutsideChange:
    """The sidecar on disk is no longer what samlabel read or wrote: ``before`` is what it
    was, ``now`` what it is."""

    sidecar: Path
    before: SidecarStamp
    now: SidecarStamp

    @property
    def kind(self) -> str:
        """``"modified"``, ``"deleted"`` or ``"created"``."""
        if not self.now.exists:
            return "deleted"
        return "modified" if self.before.exists else "created"

    def describe(self) -> str:
        """One sentence naming the file and what happened to it."""
        name = self.sidecar.name
        if self.kind == "deleted":
            return f"{name} was deleted by another program since samlabel read it."
        if self.kind == "created":
            return f"{name} was created by another program since samlabel opened the image."
        when = datetime.fromtimestamp(self.now.mtime_ns / 1e9).strftime("%H:%M:%S") if self.now.mtime_ns else "?"
        return f"{name} was changed by another program since samlabel read it (modified at {when})."


class OutsideEditError(AnnotationError):
    """A save was refused: the sidecar was changed by another program (``change`` says how)."""

    def __init__(self, change: OutsideChange):
        self.change = change
        super().__init__(f"{change.describe()} It was not overwritten.")


class OutsideEditChoice(Enum):
    """What the user chose to do about an :class:`OutsideChange`."""

    RELOAD_THEIRS = "reload_theirs"
    KEEP_MINE = "keep_mine"
    SAVE_MINE_BESIDE = "save_mine_beside"


@dataclass(frozen=True)
class Resolution:
    """What :meth:`SidecarGuard.resolve` did.

    ``saved_mine``: the sidecar now holds my version (mark the document saved);
    ``reload_theirs``: show the sidecar as it is on disk; ``copy``: the file written beside
    the sidecar (their version for ``KEEP_MINE``, mine for ``SAVE_MINE_BESIDE``), if any.
    """

    choice: OutsideEditChoice
    sidecar: Path
    saved_mine: bool
    reload_theirs: bool
    copy: Path | None = None

    def message(self) -> str:
        """A status line saying where each version is now."""
        name = self.sidecar.name
        if self.choice is OutsideEditChoice.KEEP_MINE:
            kept = f"; theirs is kept as {self.copy.name}" if self.copy is not None else ""
            return f"Saved your version as {name}{kept}."
        if self.choice is OutsideEditChoice.SAVE_MINE_BESIDE:
            return f"Your version is saved as {self.copy.name}; showing {name} as on disk."
        return f"Showing {name} as on disk (Undo brings your unsaved changes back)."


def copy_base(sidecar: str | os.PathLike) -> str:
    """The part of the copies' names before the tag: ``a`` for ``a.json``, ``a.jpg`` for
    ``a.jpg.json``."""
    name = Path(sidecar).name
    return name[: -len(".json")] if name.lower().endswith(".json") else name


def copy_path(sidecar: str | os.PathLike, tag: str, when: datetime | None = None) -> Path:
    """``<name>.<tag>-<YYYYmmdd-HHMMSS>.json`` beside ``sidecar`` (``<name>.json``); ``-2``,
    ``-3``... are added when that file exists already."""
    sidecar = Path(sidecar)
    base = copy_base(sidecar)
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    candidate = sidecar.with_name(f"{base}.{tag}-{stamp}.json")
    n = 2
    while candidate.exists():
        candidate = sidecar.with_name(f"{base}.{tag}-{stamp}-{n}.json")
        n += 1
    return candidate


class SidecarGuard:
    """Saves one sidecar, but never over a version another program wrote (module doc)."""

    def __init__(self, path: str | os.PathLike, stamp: SidecarStamp):
        self.path = Path(path)
        self._stamp = stamp

    def __repr__(self) -> str:
        return f"SidecarGuard({str(self.path)!r})"

    @classmethod
    def now(cls, path: str | os.PathLike) -> "SidecarGuard":
        """A guard for the file as it is now."""
        return cls(path, SidecarStamp.of_file(path))

    @property
    def stamp(self) -> SidecarStamp:
        return self._stamp

    def adopt(self, stamp: SidecarStamp) -> None:
        """The caller has read the file again (reloaded theirs): this is now the known version."""
        self._stamp = stamp

    def outside_change(self) -> OutsideChange | None:
        """How the file on disk differs from the known version; None when it does not.

        Raises:
            AnnotationFileError: the file exists but cannot be read.
        """
        known = self._stamp
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None if not known.exists else OutsideChange(self.path, known, SidecarStamp.missing())
        except OSError as exc:
            raise AnnotationFileError(self.path, f"cannot read the file ({exc.strerror or exc})") from exc
        if known.exists and known.same_stat(st) and not known.racy:
            return None
        if known.exists and st.st_size != known.size:
            now = SidecarStamp(True, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)  # no need to hash
            return OutsideChange(self.path, known, now)
        now, _ = SidecarStamp.read(self.path)
        if now.same_content(known):
            self._stamp = now  # touched, or a racy stamp confirmed: later checks need no hash
            return None
        return OutsideChange(self.path, known, now)

    def save(self, data: bytes) -> None:
        """Write ``data`` atomically when the file is still the known version.

        Raises:
            OutsideEditError: another program changed the file; nothing was written.
            SaveError: the write failed (the previous file is intact).
        """
        change = self.outside_change()
        if change is not None:
            raise OutsideEditError(change)
        self._write(data)

    def _write(self, data: bytes) -> None:
        atomic_write_bytes(self.path, data)
        self._stamp = SidecarStamp.of_written(self.path, data)

    def resolve(self, choice: OutsideEditChoice, mine: bytes, when: datetime | None = None) -> Resolution:
        """Carry out the user's ``choice`` about an outside change; ``mine`` is what samlabel
        would have saved. Their version is read again at this moment, so an edit they made
        while the user was deciding is kept too.

        Raises:
            SaveError: a copy or the sidecar could not be written (for ``KEEP_MINE``,
            nothing is overwritten unless their version was copied first).
        """
        if choice is OutsideEditChoice.RELOAD_THEIRS:
            return Resolution(choice, self.path, saved_mine=False, reload_theirs=True)
        if choice is OutsideEditChoice.SAVE_MINE_BESIDE:
            copy = copy_path(self.path, MINE_COPY_TAG, when)
            atomic_write_bytes(copy, mine)
            return Resolution(choice, self.path, saved_mine=False, reload_theirs=True, copy=copy)
        try:
            _, theirs = SidecarStamp.read(self.path)
        except AnnotationFileError as exc:
            reason = f"{exc.reason}; their version could not be kept, so it was not overwritten"
            raise SaveError(self.path, reason) from exc
        copy = None
        if theirs is not None:
            copy = copy_path(self.path, OUTSIDE_COPY_TAG, when)
            atomic_write_bytes(copy, theirs)
        self._write(mine)
        return Resolution(choice, self.path, saved_mine=True, reload_theirs=False, copy=copy)
