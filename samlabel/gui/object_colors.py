"""One colour per object: an object is a label plus a group id (labelme's convention for one
object; in a sequence, one object tracked across frames). Qt-free.

:func:`object_rgb` is stable (the same object has the same colour on every frame and in every
session) and spreads the objects of one label apart by their group id. Shapes without a group
id keep their label's colour.
"""

from __future__ import annotations

import colorsys
import hashlib
from typing import Optional


def object_rgb(label: str, group_id: Optional[int]) -> tuple[int, int, int]:
    """A stable, saturated ``(r, g, b)`` for the object ``(label, group_id)``."""
    digest = hashlib.sha1(f"{label}#{group_id}".encode("utf-8")).digest()
    hue = digest[0] / 256.0 + digest[1] / 65536.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return (int(r * 255), int(g * 255), int(b * 255))
