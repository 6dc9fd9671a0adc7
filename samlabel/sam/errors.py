"""Exceptions a user can cause in the model layer.

Bad arguments (wrong array shape, dtype, channel count) raise plain ``ValueError`` with a
message saying what was expected. Problems with files raise the classes below, whose
messages always name the file and the problem.
"""

from __future__ import annotations


class SamError(Exception):
    """Base class of samlabel.sam's own errors."""


class CheckpointError(SamError):
    """A checkpoint file is missing, truncated, of an unknown format, or does not fit the model."""


class DownloadError(SamError):
    """A checkpoint could not be downloaded or failed verification."""


class EmbeddingError(SamError):
    """An embedding file is unreadable, of another version, or was made by another model."""


class Cancelled(SamError):
    """A long computation (the image encoder) was cancelled by its caller."""
