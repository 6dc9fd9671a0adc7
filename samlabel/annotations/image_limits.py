"""How large an image samlabel opens: one policy for the app, export and import.

samlabel opens images up to ``MAX_PIXELS`` (400 megapixels, e.g. 20000 x 20000), decoded
whole: the canvas shows them from a numpy array (no Qt allocation limit), the encoder
resizes them to 1024 px, and 400 MP is 1.2 GB as RGB, which a laptop still holds. Larger
images are refused before a pixel is decoded, with a message naming the file, its size and
the limit (tile such an image first, e.g. with ``vips dzsave`` or ``gdal_retile``).

Pillow has its own "decompression bomb" check, a process-wide setting of about 179 MP by
default. ``allow_large_images()`` raises it to this limit once, for the whole process, and
never sets it back: changing it per call raced with the prefetch thread, so whether a 200 MP
image opened depended on timing. Our own check (``check_pixels``) then decides, the same
way for every caller.
"""

from __future__ import annotations

import os
import re
import warnings

from PIL import Image

from samlabel.annotations.errors import AnnotationFileError

MAX_PIXELS = 400_000_000


class ImageTooLargeError(AnnotationFileError):
    """An image has more pixels than ``MAX_PIXELS``; ``pixels`` says how many (``size``, when known, as W x H)."""

    def __init__(self, path: str | os.PathLike, pixels: int, size: tuple[int, int] | None = None):
        self.pixels, self.size = int(pixels), size
        dims = f"{size[0]} x {size[1]} pixels ({self.pixels / 1e6:,.0f} MP)" if size else f"{self.pixels / 1e6:,.0f} MP"
        super().__init__(
            path,
            f"the image is {dims}; samlabel opens images up to {MAX_PIXELS / 1e6:.0f} MP "
            "(e.g. 20000 x 20000): split it into tiles first",
        )

    @classmethod
    def from_pillow(cls, path: str | os.PathLike, error: Exception) -> "ImageTooLargeError":
        """Turn Pillow's ``DecompressionBombError`` (raised past twice its limit, at open) into ours."""
        found = re.search(r"\((\d+) pixels\)", str(error))
        return cls(path, int(found.group(1)) if found else 2 * MAX_PIXELS + 1)


def allow_large_images() -> None:
    """Let Pillow open images up to ``MAX_PIXELS`` without its bomb check (set once, never lowered)."""
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    # Pillow warns from its limit up; ``check_pixels`` refuses those images with a message instead
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def check_pixels(path: str | os.PathLike, width: int, height: int) -> None:
    """Raise ``ImageTooLargeError`` when a ``width`` x ``height`` image is over the limit."""
    if int(width) * int(height) > MAX_PIXELS:
        raise ImageTooLargeError(path, int(width) * int(height), (int(width), int(height)))
