"""What a path on disk is, in words, for error messages that name the real problem.

``Path.exists()`` and ``Path.is_dir()`` say False for a symbolic link loop, a broken link
and an unreadable parent alike, and True for a named pipe, which then blocks whoever opens
it. The functions here look once with ``os.stat`` (never opening anything) and say which it
is::

    path_problem("out", "folder")   # None, or "a symbolic link loop",
                                    # "not a folder (a named pipe)", "no such file or folder"

No Qt, no torch: every layer and the command line use them.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Union

PathLike = Union[str, os.PathLike]
NO_SUCH = "no such file or folder"

_KINDS = (
    (stat.S_ISREG, "a file"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
_WANTS = {
    "file": (stat.S_ISREG,),
    "folder": (stat.S_ISDIR,),
    "file or folder": (stat.S_ISREG, stat.S_ISDIR),
}


def kind_of(mode: int) -> str:
    """``st_mode`` in words: ``"a file"``, ``"a folder"``, ``"a named pipe"``, ..."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "a special file"


def os_error_problem(path: PathLike, exc: OSError) -> str:
    """An ``OSError`` about ``path`` in words (without the path): a loop, a broken link, ..."""
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    if exc.errno == errno.ENOENT:
        if os.path.islink(path):
            try:
                return f"a broken symbolic link (to {os.readlink(path)})"
            except OSError:
                return "a broken symbolic link"
        return NO_SUCH
    if exc.errno == errno.ENOTDIR:
        return f"{NO_SUCH} (part of the path is not a folder)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long"
    return exc.strerror or str(exc)


def stat_problem(path: PathLike) -> tuple[os.stat_result | None, str | None]:
    """``(stat, None)`` when something is at ``path`` (links followed); ``(None, None)`` when
    nothing is, plainly; ``(None, problem)`` for a loop, a broken link, a parent that is a
    file, no permission."""
    try:
        return os.stat(path), None
    except OSError as exc:
        problem = os_error_problem(path, exc)
        return None, (None if problem == NO_SUCH else problem)


def path_problem(path: PathLike, want: str = "file or folder") -> str | None:
    """Why ``path`` is not an existing ``want`` (``"file"``, ``"folder"`` or ``"file or
    folder"``), in words without the path; None when it is one. Opens nothing."""
    tests = _WANTS[want]
    st, problem = stat_problem(path)
    if problem is not None:
        return problem
    if st is None:
        return NO_SUCH
    if any(test(st.st_mode) for test in tests):
        return None
    return f"not a {want} ({kind_of(st.st_mode)})"


__all__ = ["NO_SUCH", "kind_of", "os_error_problem", "path_problem", "stat_problem"]
