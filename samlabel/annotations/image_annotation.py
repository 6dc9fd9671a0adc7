"""The annotation of one image: its path, size, shapes and image-level flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from samlabel.annotations.errors import AnnotationError
from samlabel.annotations.shapes import Shape

LABELME_VERSION = "5.5.0"  # the labelme file format version we write


@dataclass(frozen=True, eq=False)
class ImageAnnotation:
    """Immutable snapshot of one image's annotation.

    ``image_path`` is as written in the sidecar's ``imagePath`` (relative to the sidecar's
    folder, normally just the file name). ``extra`` holds top-level keys samlabel does not
    know (kept on round trip); ``version`` is the labelme format version read or written.
    """

    image_path: str
    image_height: int
    image_width: int
    shapes: tuple[Shape, ...] = ()
    flags: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    version: str = LABELME_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "shapes", tuple(self.shapes))
        object.__setattr__(self, "flags", dict(self.flags))
        object.__setattr__(self, "extra", dict(self.extra))
        if self.image_height <= 0 or self.image_width <= 0:
            raise AnnotationError(f"{self.image_path}: image size must be positive, got {self.image_width}x{self.image_height}")
        uids = [s.uid for s in self.shapes]
        if len(set(uids)) != len(uids):
            raise AnnotationError(f"{self.image_path}: two shapes share a uid")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageAnnotation):
            return NotImplemented
        return (
            self.image_path == other.image_path
            and self.size == other.size
            and len(self.shapes) == len(other.shapes)
            and all(a == b for a, b in zip(self.shapes, other.shapes))
            and self.flags == other.flags
            and self.extra == other.extra
            and self.version == other.version
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.image_height, self.image_width)

    def index_of(self, uid: str) -> int:
        for i, shape in enumerate(self.shapes):
            if shape.uid == uid:
                return i
        raise KeyError(uid)

    def shape(self, uid: str) -> Shape:
        return self.shapes[self.index_of(uid)]

    def with_shapes(self, shapes: Iterable[Shape]) -> "ImageAnnotation":
        return dataclasses.replace(self, shapes=tuple(shapes))

    def replace(self, **changes: Any) -> "ImageAnnotation":
        return dataclasses.replace(self, **changes)

    def labels_used(self) -> list[str]:
        """Distinct labels in shape order."""
        return list(dict.fromkeys(s.label for s in self.shapes))
