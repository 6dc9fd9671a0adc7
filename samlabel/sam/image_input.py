"""Images to ``(H, W, 3)`` uint8 RGB: the one place where both conversion rules live (no Qt).

There are two rules, on purpose, because their inputs mean different things:

- :func:`to_rgb_uint8` is the **API rule** for *arrays* handed to ``SamPredictor.set_image``,
  ``compute_embedding`` and ``SamAutomaticMaskGenerator.generate``. The caller chose the
  numbers, so they are only rescaled by their dtype's fixed range: uint16 by 255/65535,
  float in [0, 1] by 255, bool to 0/255; alpha is dropped (an RGBA array is its RGB
  channels). The embedding of an array therefore never depends on its content range, and
  a uint8 RGB array (the reference ``segment_anything`` input) passes through unchanged.
- :func:`pil_to_rgb_uint8` is the **app rule** for *image files* opened by the GUI
  (``samlabel.annotations.image_source``): what a viewer shows. 16-bit and float images
  (``I;16``, ``I``, ``F``) are stretched from their own minimum..maximum to 0..255 (how
  microscopy and depth images are viewed), alpha is composited over white (transparent
  areas do not turn into random colours), grayscale, palette and CMYK become RGB.

Both return a C-contiguous ``(H, W, 3)`` uint8 array. numpy and Pillow only: importing
this module does not import torch.
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image

_HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
_ALPHA_MODES = ("RGBA", "LA", "PA")


def to_rgb_uint8(image: np.ndarray, image_format: str = "RGB", model_format: str = "RGB") -> np.ndarray:
    """The API rule: an array -> ``(H, W, 3)`` uint8 in ``model_format`` channel order.

    Accepts ``(H, W, 3)`` in ``image_format`` ("RGB" or "BGR"), grayscale ``(H, W)`` or
    ``(H, W, 1)``, ``(H, W, 4)`` with alpha (dropped), and uint16 (scaled by 255/65535),
    bool, or float in [0, 1] (a torch tensor is taken as its numpy array). Anything else
    raises ``ValueError`` saying what was expected.
    """
    if image_format not in ("RGB", "BGR"):
        raise ValueError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
    if not isinstance(image, np.ndarray):
        torch = sys.modules.get("torch")  # a tensor exists only if torch was imported
        if torch is not None and isinstance(image, torch.Tensor):
            image = image.detach().cpu().numpy()
        if not isinstance(image, np.ndarray):
            raise ValueError(f"image must be a numpy array (H, W, 3) uint8, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(
            "image must have shape (H, W, 3) (or grayscale (H, W) / (H, W, 1), or RGBA (H, W, 4)); "
            f"got shape {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must not be empty, got shape {image.shape}")
    if image.dtype == np.uint8:
        pass
    elif image.dtype == np.uint16:
        image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise ValueError("float images must have values in [0, 1]; use uint8 for [0, 255]")
        image = np.round(image * 255).astype(np.uint8)
    else:
        raise ValueError(f"image dtype must be uint8 (or uint16, bool, float in [0, 1]), got {image.dtype}")
    channels = image.shape[2]
    if channels == 1:
        return np.ascontiguousarray(np.repeat(image, 3, axis=2))
    if channels == 4:
        image = image[:, :, :3]
    if image_format != model_format:
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)


def pil_to_rgb_uint8(image: Image.Image) -> np.ndarray:
    """The app rule: any Pillow image -> ``(H, W, 3)`` uint8 RGB (16-bit/float stretched
    min..max, alpha over white; see the module docstring)."""
    mode = image.mode
    if mode in _HIGH_DEPTH_MODES:
        return stretch_to_rgb(np.asarray(image).astype(np.float64))
    if mode == "1":
        image = image.convert("L")
        mode = "L"
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA")).astype(np.float32)
        alpha = rgba[..., 3:4] / 255.0
        rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
        return np.ascontiguousarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    if mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def stretch_to_rgb(arr: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, C)`` numbers -> uint8 RGB, finite min..max stretched to 0..255."""
    finite = arr[np.isfinite(arr)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = np.nan_to_num((arr - lo) * scale, nan=0.0, posinf=255.0, neginf=0.0)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.ascontiguousarray(out[..., :3])
