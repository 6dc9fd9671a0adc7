"""Errors of the auto-label job.

Per-image problems are the annotation layer's own :class:`AnnotationFileError` (naming the
file and the problem); the job reports them and goes on. :class:`AutolabelError` is for the
whole job (no such project, no model, a bad option): nothing was written.
"""

from __future__ import annotations

from samlabel.annotations.errors import AnnotationError


class AutolabelError(AnnotationError):
    """The whole auto-label job cannot run; nothing was written."""


class ModelUnavailableError(AutolabelError):
    """No model could be built (no checkpoint, a bad file, an unknown factory)."""
