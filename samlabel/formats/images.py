"""Image files in datasets: their size, copying them in as the annotations see them, VOC's
palette PNGs, and finding an image by stem. Errors are ``FormatError``s naming the file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from samlabel.annotations.image_limits import check_pixels
from samlabel.annotations.project import image_size as _header_size
from samlabel.formats.common import FormatError, input_error
from samlabel.sam.image_input import pil_to_rgb_uint8


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image as displayed (``project.image_size``); an image over Pillow's
    decompression-bomb limit is a FormatError naming it."""
    try:
        return _header_size(path)
    except Image.DecompressionBombError as exc:
        raise input_error(exc, path) from exc


def copy_image(src: Path, dst: Path) -> None:
    """Copy an image file (metadata too); FormatError if it cannot be read."""
    if not src.is_file():
        raise FormatError(src, "the image does not exist")
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copy2(src, dst)
    except OSError as exc:
        raise FormatError(src, f"cannot copy the image ({exc.strerror or exc})") from exc


def export_image(src: Path, dst: Path, force_jpeg: bool = False) -> Path:
    """Put the image into a dataset as the annotations see it.

    The file is copied byte for byte unless it carries an EXIF rotation (annotations are
    in the rotated frame, so the rotated pixels are written instead, EXIF dropped) or
    ``force_jpeg`` asks for a ``.jpg`` and it is another format. Returns the written path.
    """

    if not src.is_file():
        raise FormatError(src, "the image does not exist")
    is_jpeg = src.suffix.lower() in (".jpg", ".jpeg")
    if force_jpeg:
        dst = dst.with_suffix(".jpg")
    try:
        with Image.open(src) as img:
            check_pixels(src, *img.size)
            rotated = img.getexif().get(0x0112, 1) not in (0, 1)
            if not rotated and (is_jpeg or not force_jpeg):
                copy_image(src, dst)
                return dst
            out = ImageOps.exif_transpose(img)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.suffix.lower() in (".jpg", ".jpeg"):
                Image.fromarray(pil_to_rgb_uint8(out)).save(dst, quality=95)  # as the app shows it
            else:
                out.save(dst)
    except (OSError, UnidentifiedImageError) as exc:
        raise FormatError(src, f"cannot read the image ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise input_error(exc, src) from exc
    return dst


def voc_palette(n: int = 256) -> list[int]:
    """The Pascal VOC colour map as a flat ``[r0, g0, b0, r1, ...]`` PIL palette."""
    palette = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette.extend((r, g, b))
    return palette


def save_palette_png(path: Path, index: np.ndarray) -> None:
    """Write an ``(H, W)`` uint8 index image as a VOC-palette PNG."""
    img = Image.fromarray(index.astype(np.uint8), mode="P")
    img.putpalette(voc_palette())
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def read_index_png(path: Path) -> np.ndarray:
    """Index values of a palette PNG (or a grey 8/16-bit PNG) as ``(H, W)`` int array."""

    try:
        with Image.open(path) as img:
            check_pixels(path, *img.size)
            if img.mode not in ("P", "L", "I", "I;16", "I;16B", "1"):
                raise FormatError(path, f"expected a palette or greyscale PNG, got mode {img.mode}")
            return np.array(img).astype(np.int64)
    except (OSError, UnidentifiedImageError) as exc:
        raise FormatError(path, f"cannot read the PNG ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise input_error(exc, path) from exc


def voc_colors(n: int = 256) -> dict[tuple[int, int, int], int]:
    """``{(r, g, b): index}`` of the VOC colour map (how CVAT and Datumaro colour the
    instances of an RGB ``SegmentationObject`` PNG)."""
    flat = voc_palette(n)
    return {tuple(flat[3 * i : 3 * i + 3]): i for i in range(n)}  # type: ignore[misc]


def read_label_png(path: Path, colors: dict[tuple[int, int, int], int] | None) -> np.ndarray:
    """``(H, W)`` int class or instance values of a segmentation PNG: a palette or
    greyscale PNG's values as they are, an RGB(A) PNG's colours mapped through ``colors``
    (``{(r, g, b): value}``). FormatError naming the PNG for an RGB PNG without ``colors``
    or with a colour ``colors`` does not have."""
    try:
        with Image.open(path) as img:
            check_pixels(path, *img.size)
            if img.mode not in ("RGB", "RGBA"):
                return read_index_png(path)
            rgb = np.asarray(img.convert("RGB"), dtype=np.int64)
    except (OSError, UnidentifiedImageError) as exc:
        raise FormatError(path, f"cannot read the PNG ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise input_error(exc, path) from exc
    if colors is None:
        raise FormatError(path, "an RGB-coloured PNG needs labelmap.txt to map its colours to classes")
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    found, inverse = np.unique(codes, return_inverse=True)
    table = {(r << 16) | (g << 8) | b: v for (r, g, b), v in colors.items()}
    unknown = [int(c) for c in found if int(c) not in table]
    if unknown:
        shown = ", ".join(f"({c >> 16}, {(c >> 8) & 255}, {c & 255})" for c in unknown[:5])
        raise FormatError(path, f"colour(s) {shown} are not in labelmap.txt")
    return np.array([table[int(c)] for c in found], dtype=np.int64)[inverse].reshape(codes.shape)


def find_image(folder: Path, stem: str, preferred: Sequence[str] = ()) -> Path | None:
    """An image named ``stem`` + a known extension in ``folder``."""
    from samlabel.annotations.project import IMAGE_EXTENSIONS

    for ext in (*preferred, *IMAGE_EXTENSIONS, *(e.upper() for e in IMAGE_EXTENSIONS)):
        candidate = folder / f"{stem}{ext}"
        if candidate.is_file():
            return candidate
    return None
