"""Loading images for display and for the model (no Qt here).

``load_image(path)`` returns an :class:`ImageSource`: the EXIF-rotated picture as an
``(H, W, 3)`` uint8 RGB array (what the encoder wants and what the canvas shows), its
size and a content hash used as the embedding-cache key.

Conversions:

- EXIF orientation is applied (``ImageOps.exif_transpose``), so what the user sees and
  what the model segments are the same pixels, and polygons land where they were drawn.
- Grayscale (``L``, ``1``), palette and CMYK images become RGB.
- 16-bit and float images (``I;16``, ``I``, ``F``) are stretched from their own
  minimum..maximum to 0..255, which is how viewers show microscopy and depth images.
- Alpha is composited over white, so transparent areas do not turn into random colours.

(These are the app rule, ``samlabel.sam.image_input.pil_to_rgb_uint8``; arrays handed to
the model API follow that module's other, documented rule.)

The canvas builds its QImage straight from this array (no ``QImageReader``), so very large
images do not hit Qt's image allocation limit. How large an image opens is
``samlabel.annotations.image_limits``' policy (400 MP): a larger one is refused from its
header, before anything is decoded, and a file that is not an image is refused without being
read whole.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from samlabel.annotations.image_limits import ImageTooLargeError, allow_large_images, check_pixels
from samlabel.annotations.project import IMAGE_EXTENSIONS
from samlabel.sam.image_input import pil_to_rgb_uint8 as to_rgb_uint8  # the app rule for files

IMAGE_SUFFIXES = IMAGE_EXTENSIONS  # the one list, in samlabel.annotations.project

allow_large_images()  # once, process-wide: large photos (8000x6000 = 48 MP) are normal here


class ImageLoadError(Exception):
    """An image file could not be read; the message names the file and the reason."""


@dataclass(frozen=True)
class ImageSource:
    """One opened image.

    Attributes:
        path: the file it came from (``None`` for in-memory images).
        rgb: ``(H, W, 3)`` uint8, C-contiguous, EXIF orientation applied.
        content_hash: hex digest of the file bytes (or of the array) — the cache key.
    """

    path: Path | None
    rgb: np.ndarray = field(repr=False)
    content_hash: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "image"


def hash_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def hash_array(rgb: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((rgb.shape, str(rgb.dtype))).encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()


def hash_file(path: Path, chunk: int = 1 << 20) -> str:
    """``hash_bytes`` of a file's content, read in chunks (never the whole file at once)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def load_image(path: str | Path) -> ImageSource:
    """Read ``path`` as an :class:`ImageSource`; raises :class:`ImageLoadError` on failure.

    The header is read first: a file that is not an image, or an image over the size
    limit, is refused before its pixels are decoded or its content is read whole.
    """
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ImageLoadError(f"cannot read image {path}: not a regular file")
        if info.st_size == 0:
            raise ImageLoadError(f"cannot decode image {path}: the file is empty (0 bytes)")
        with Image.open(path) as img:
            check_pixels(path, *img.size)
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb = to_rgb_uint8(img)
        content_hash = hash_file(path)
    except ImageTooLargeError as exc:
        raise ImageLoadError(f"cannot open image {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"cannot decode image {path}: not an image in a format samlabel can read") from exc
    except Image.DecompressionBombError as exc:  # Pillow's own check, at open, past twice our limit
        raise ImageLoadError(f"cannot open image {ImageTooLargeError.from_pillow(path, exc)}") from exc
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise ImageLoadError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageLoadError(f"cannot decode image {path}: {exc}") from exc
    return ImageSource(path=path, rgb=rgb, content_hash=content_hash)


def from_array(rgb: np.ndarray, path: str | Path | None = None) -> ImageSource:
    """Wrap an in-memory ``(H, W, 3)`` uint8 array (tests, screenshots)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    rgb = np.ascontiguousarray(rgb)
    return ImageSource(path=Path(path) if path else None, rgb=rgb, content_hash=hash_array(rgb))
