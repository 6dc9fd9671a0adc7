"""Atomic file writes: temporary file in the same folder, flush, fsync, ``os.replace``.

If anything fails (disk full, read-only folder, a crash before the replace) the previous
file is left untouched and the temporary file is removed; a :class:`SaveError` names the
file and the reason.

The temporary file's name is short whatever the target's (``.samlabel-<host>-<pid>-<random>
.tmp``), so any valid file name can be saved, even one near the 255-byte limit. It names
the writing process, so temporary files left by a writer that was killed are removed by the
next save into the same folder: those of a process of this machine that is gone, and any
older than :data:`STALE_AFTER_S`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import tempfile
import time
from pathlib import Path

from samlabel.annotations.errors import SaveError

TEMP_PREFIX = ".samlabel-"
STALE_AFTER_S = 300.0  # no save takes minutes: a temporary file this old is left over
_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]
_TEMP_NAME = re.compile(r"\.samlabel-([0-9a-f]{6})-(\d+)-[A-Za-z0-9_]+\.tmp")

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (is the folder read-only?)",
    errno.EPERM: "permission denied (is the folder read-only?)",
}


def _reason(exc: OSError) -> str:
    base = _REASONS.get(exc.errno or -1, exc.strerror or str(exc))
    return f"could not save, {base}; the previous file is unchanged"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see module docstring)."""
    path = Path(path)
    tmp_name = None
    try:
        remove_stale_temp_files(path.parent)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{_HOST}-{os.getpid()}-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            try:
                os.chmod(tmp_name, path.stat().st_mode & 0o777)
            except OSError:
                pass
        else:
            os.chmod(tmp_name, 0o666 & ~UMASK)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise SaveError(path, _reason(exc)) from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _writer_is_gone(host: str, pid: int) -> bool:
    """True when the process that wrote a temporary file no longer runs (this machine only;
    on Windows, where signalling a process to probe it is not safe, never)."""
    if host != _HOST or os.name != "posix" or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. EPERM: it exists but belongs to someone else
        return False
    return False


def remove_stale_temp_files(folder: str | os.PathLike) -> list[str]:
    """Remove samlabel temporary files in ``folder`` left by a killed writer; returns their
    names. Errors (a file already gone, no permission) are ignored: this is housekeeping.

    Every save calls it: one listing of the folder (some tens of milliseconds for 100 000
    files; a cheaper test, such as the folder's modification time, would miss a file added
    within the same clock tick as a save on file systems with coarse timestamps).
    """
    removed: list[str] = []
    try:
        names = [name for name in os.listdir(folder) if name.startswith(TEMP_PREFIX)]
    except OSError:
        return removed
    now = time.time()
    for name in names:
        match = _TEMP_NAME.fullmatch(name)
        if match is None:
            continue
        path = os.path.join(folder, name)
        try:
            if _writer_is_gone(match[1], int(match[2])) or now - os.lstat(path).st_mtime > STALE_AFTER_S:
                os.unlink(path)
                removed.append(name)
        except OSError:
            continue
    return removed


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _read_umask()  # the process umask, read once at import: os.umask is process-wide, not thread-safe


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable where the platform allows it (not on Windows)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
