"""Strict JSON for sidecars: no duplicate keys, coordinates that are real JSON numbers.

``json.loads`` keeps the last of two equal keys, so a second ``"shapes"`` list would
silently drop the first; and numpy turns the string ``"12.5"`` into a coordinate. Both are
refused here with an error naming the file (or the point) and the problem.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from typing import Any

import numpy as np

from samlabel.annotations.errors import AnnotationFileError, GeometryError


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        self.key = key
        super().__init__(key)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def load_json(text: str, path: str | os.PathLike) -> Any:
    """Parse a sidecar's text.

    Raises:
        AnnotationFileError: malformed or too deeply nested JSON, or a key that appears
        twice in one object (naming the file and the key).
    """
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as exc:
        raise AnnotationFileError(
            path, f"the key {exc.key!r} appears twice in one JSON object (only one can be kept, so the file is refused)"
        ) from None
    except json.JSONDecodeError as exc:
        raise AnnotationFileError(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except RecursionError:
        raise AnnotationFileError(path, "the file is nested too deeply to read") from None


def _coordinate(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GeometryError(f"{what} has a coordinate that is not a JSON number: {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise GeometryError(f"{what} has a coordinate too large for a floating-point number ({len(str(value))} digits)") from None
    if not math.isfinite(number):
        raise GeometryError(f"{what} has a non-finite coordinate")
    return number


_PAIR_TYPES = {list, tuple}
_NUMBER_TYPES = {int, float}


def _plain_ring(value: Any) -> np.ndarray | None:
    """The common case checked in bulk (C loops, no Python per point): a list of
    two-element lists of plain ints and floats, all finite. None when anything is
    otherwise, for :func:`ring`'s point-by-point checks to name the problem. A valid ring is
    then read without Python per point (docs/performance.md, "Dense canvas", "sidecar rings
    checked in bulk")."""
    if type(value) is not list:
        return None
    if not value:
        return np.zeros((0, 2))
    if not set(map(type, value)) <= _PAIR_TYPES or set(map(len, value)) != {2}:
        return None
    flat = list(itertools.chain.from_iterable(value))
    if not set(map(type, flat)) <= _NUMBER_TYPES:  # bool is its own type, so refused here too
        return None
    try:
        arr = np.array(flat, dtype=np.float64)
    except OverflowError:
        return None
    if not np.isfinite(arr).all():
        return None
    return arr.reshape(-1, 2)


def ring(value: Any, what: str) -> np.ndarray:
    """``[[x, y], ...]`` as an ``(N, 2)`` float array; a repeated closing point is dropped.

    Raises:
        GeometryError: not a list of pairs, or a coordinate that is not a finite JSON
        number (a string, a boolean, NaN, infinity, an integer beyond float range).
    """
    arr = _plain_ring(value)
    if arr is None:  # something to name: the point-by-point checks find it
        if not isinstance(value, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
            raise GeometryError(f"{what} must be a list of [x, y] points")
        arr = np.array([[_coordinate(x, what), _coordinate(y, what)] for x, y in value], dtype=np.float64)
        arr = arr.reshape(-1, 2)
    if len(arr) > 3 and np.array_equal(arr[0], arr[-1]):
        arr = arr[:-1]  # a closed ring: drop the repeated first point
    return arr
