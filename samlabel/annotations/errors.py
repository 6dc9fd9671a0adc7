"""Errors and warnings of the document layer.

Every error a user can cause names the file (or argument) and the problem, so that the
GUI and the command line can show ``str(exc)`` as is.
"""

from __future__ import annotations

import os


class AnnotationError(Exception):
    """Base class of all errors raised by ``samlabel.annotations`` and ``samlabel.formats``."""


class AnnotationFileError(AnnotationError):
    """A file could not be read or written: ``path`` names it, ``reason`` says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SaveError(AnnotationFileError):
    """Saving failed (disk full, read-only folder...). The previous file is left intact."""


class LabelError(AnnotationError):
    """A label is unknown, duplicated or malformed."""


class GeometryError(AnnotationError):
    """A shape's geometry is unusable (too few points, wrong mask size, empty after repair)."""


class AnnotationWarning(UserWarning):
    """Something was wrong but could be repaired (e.g. a self-intersecting polygon)."""
