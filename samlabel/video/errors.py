"""Errors of video propagation and frame expansion.

:class:`VideoError` is for the whole job (no frames, the source frame has no objects, an
unreadable sidecar, no model): nothing was written. Its message names the file.
"""

from __future__ import annotations

from samlabel.annotations.errors import AnnotationError


class VideoError(AnnotationError):
    """The propagation (or the expansion of a video file) cannot run; nothing was written."""


class VideoCancelled(VideoError):
    """The expansion of a video file was cancelled; nothing was left behind."""
