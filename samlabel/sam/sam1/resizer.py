"""Longest-side resizing between an image's own frame and the model's input frame.

SAM takes a square ``target_length`` input (1024 px). An image of size ``(H, W)`` is
resized so that its longest side is ``target_length`` (aspect ratio kept, sizes rounded
half-up like the reference), then padded bottom-right with zeros. Points and boxes are
scaled by the same factors, and mask logits are brought back by removing the padding and
resizing to ``(H, W)``.

``uint8`` images (HWC with 1, 3 or 4 channels) are resampled with Pillow's bilinear filter,
which is exactly what the reference ``ResizeLongestSide.apply_image`` does (torchvision's
``resize`` on a PIL image calls ``PIL.Image.resize(..., BILINEAR)``), so inputs are
bit-identical to the reference's. Float arrays and tensors use ``F.interpolate`` (bilinear,
antialiased), which approximates the same filter.

With ``pad_only=True`` nothing is resized: images must already fit in ``target_length``
and are only padded; points, boxes and masks keep their scale.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

Array = Union[np.ndarray, torch.Tensor]


def longest_side_shape(old_h: int, old_w: int, long_side: int) -> Tuple[int, int]:
    """The ``(h, w)`` whose longest side is ``long_side`` (same rounding as the reference).

    A side that would round to 0 (aspect ratio beyond ``2 * long_side``, e.g. a 1x4000
    image) is kept at 1 pixel, where the reference fails with a zero-size resize.
    """
    scale = long_side * 1.0 / max(old_h, old_w)
    new_h, new_w = old_h * scale, old_w * scale
    return max(1, int(new_h + 0.5)), max(1, int(new_w + 0.5))


def _is_channels_first(shape: Tuple[int, ...]) -> bool:
    """Guess whether a 3D/4D image is CHW (channels first): its channel axis is small."""
    c_first = shape[-3]
    c_last = shape[-1]
    if c_last in (1, 3, 4) and c_first not in (1, 3, 4):
        return False
    if c_first in (1, 3, 4) and c_last not in (1, 3, 4):
        return True
    # Ambiguous (e.g. 3x3x3): torch tensors are usually CHW, numpy arrays HWC.
    return False


@dataclass(frozen=True)
class ImageResizer:
    """Longest-side resize + bottom-right zero padding to a ``target_length`` square.

    Arguments:
      target_length: the model's square input side (``1024`` for SAM).
      pad_only: do not resize, only pad (images must already fit).
      original_size: ``(H, W)`` of the image this resizer is bound to (see :meth:`for_image`);
        methods that need a source size use it when none is passed.
    """

    target_length: int
    pad_only: bool = False
    original_size: Optional[Tuple[int, int]] = None

    def __post_init__(self) -> None:
        if int(self.target_length) <= 0:
            raise ValueError(f"target_length must be a positive int, got {self.target_length!r}")

    def for_image(self, original_size: Tuple[int, int]) -> "ImageResizer":
        """A copy bound to an image of ``original_size (H, W)`` (the resizer stays immutable)."""
        self.scale_to_size(original_size)  # validates the size
        return replace(self, original_size=(int(original_size[0]), int(original_size[1])))

    # ------------------------------------------------------------------ sizes
    def scale_to_size(self, original_size: Tuple[int, int]) -> Tuple[int, int]:
        """``(h, w)`` of the resized (unpadded) image for an image of ``original_size (H, W)``."""
        h, w = int(original_size[0]), int(original_size[1])
        if h <= 0 or w <= 0:
            raise ValueError(f"original_size must be positive (H, W), got {original_size!r}")
        if self.pad_only:
            if max(h, w) > self.target_length:
                raise ValueError(
                    f"pad_only resizer: image size {(h, w)} exceeds target_length {self.target_length}"
                )
            return h, w
        return longest_side_shape(h, w, self.target_length)

    # ------------------------------------------------------------------ images
    def scale_image(self, image: Array) -> Array:
        """Resize an image so its longest side is ``target_length``.

        Accepts numpy or torch, HWC or CHW ``(H, W, C)`` / ``(C, H, W)``, or batched
        ``(B, H, W, C)`` / ``(B, C, H, W)``. The layout, type and dtype are kept. uint8 numpy
        HWC images go through Pillow (bit-identical to the reference).
        """
        return self._resize(image, None)

    def unscale_image(self, image: Array, original_size: Tuple[int, int]) -> Array:
        """Inverse of :meth:`scale_image` (removing padding first if present): back to ``(H, W)``."""
        h, w = self.scale_to_size(original_size)
        image = self._crop(image, (h, w))
        return self._resize(image, (int(original_size[0]), int(original_size[1])))

    def pad_image(self, image: Array, value: float = 0) -> Array:
        """Pad bottom-right with ``value`` to ``(target_length, target_length)``, same layout."""
        chw, four_d = self._layout(image)
        h_ax, w_ax = self._hw_axes(image.ndim, chw)
        h, w = image.shape[h_ax], image.shape[w_ax]
        if h > self.target_length or w > self.target_length:
            raise ValueError(
                f"pad_image: image of size {(h, w)} is larger than target_length {self.target_length}"
            )
        pad_h, pad_w = self.target_length - h, self.target_length - w
        if isinstance(image, torch.Tensor):
            pad = [0, 0] * image.ndim
            pad[2 * (image.ndim - 1 - h_ax) + 1] = pad_h
            pad[2 * (image.ndim - 1 - w_ax) + 1] = pad_w
            return F.pad(image, pad, value=value)
        widths = [(0, 0)] * image.ndim
        widths[h_ax] = (0, pad_h)
        widths[w_ax] = (0, pad_w)
        return np.pad(image, widths, constant_values=value)

    # ------------------------------------------------------------------ prompts
    def _factors(self, original_size: Tuple[int, int]) -> Tuple[float, float]:
        h, w = self.scale_to_size(original_size)
        return w / int(original_size[1]), h / int(original_size[0])

    def scale_points(self, points: Array, original_size: Tuple[int, int]) -> Array:
        """Scale ``(..., 2)`` xy points from ``original_size (H, W)`` pixels to the input frame.

        numpy input returns float64 (as the reference), torch returns float32.
        """
        if points.shape[-1] != 2:
            raise ValueError(f"points must have shape (..., 2) (x, y), got {tuple(points.shape)}")
        fx, fy = self._factors(original_size)
        if isinstance(points, torch.Tensor):
            out = points.to(torch.float).clone()
        else:
            out = np.array(points, dtype=float, copy=True)
        out[..., 0] = out[..., 0] * fx
        out[..., 1] = out[..., 1] * fy
        return out

    def scale_boxes(self, boxes: Array, original_size: Tuple[int, int]) -> Array:
        """Scale ``(..., 4)`` xyxy boxes to the input frame; returns shape ``(B, 4)``."""
        if boxes.shape[-1] != 4:
            raise ValueError(f"boxes must have shape (..., 4) (x0, y0, x1, y1), got {tuple(boxes.shape)}")
        return self.scale_points(boxes.reshape(-1, 2, 2), original_size).reshape(-1, 4)

    def unscale_points(self, points: Array, original_size: Tuple[int, int]) -> Array:
        """Inverse of :meth:`scale_points`."""
        fx, fy = self._factors(original_size)
        out = points.to(torch.float).clone() if isinstance(points, torch.Tensor) else np.array(points, float)
        out[..., 0] = out[..., 0] / fx
        out[..., 1] = out[..., 1] / fy
        return out

    # ------------------------------------------------------------------ masks
    def postprocess_mask(
        self,
        mask: Array,
        threshold: Optional[float] = None,
        *,
        original_size: Optional[Tuple[int, int]] = None,
    ) -> Array:
        """Low-res mask logits ``(..., h, w)`` (e.g. ``(B, K, 256, 256)``) to ``(..., H, W)``.

        Exactly the reference ``Sam.postprocess_masks``: bilinear upsample to the square
        input, crop the padding, bilinear resize to the source size. Returns logits, or
        booleans ``logits > threshold`` when ``threshold`` is given. numpy in, numpy out.
        The source size is ``original_size`` if given, else the bound one (:meth:`for_image`).
        """
        if threshold is not None and not isinstance(threshold, (int, float, np.floating, np.integer)):
            raise TypeError(
                f"threshold must be a number, got {threshold!r}; pass the source size as original_size=(H, W)"
            )
        original_size = original_size if original_size is not None else self.original_size
        if original_size is None:
            raise ValueError(
                "postprocess_mask needs the source image size: bind it with "
                "resizer.for_image((H, W)) or pass original_size=(H, W)"
            )
        as_numpy = isinstance(mask, np.ndarray)
        t = torch.as_tensor(mask)
        if t.ndim < 2:
            raise ValueError(f"mask must have shape (..., h, w), got {tuple(t.shape)}")
        lead = t.shape[:-2]
        t = t.reshape(1, -1, *t.shape[-2:]).to(torch.float32)
        input_size = self.scale_to_size(original_size)
        t = upscale_full(t, self.target_length, input_size, original_size)
        t = t.reshape(*lead, *t.shape[-2:])
        if threshold is not None:
            t = t > threshold
        return t.numpy() if as_numpy else t

    # ------------------------------------------------------------------ official names
    # ``segment_anything.utils.transforms.ResizeLongestSide`` spellings, so that code
    # written for ``predictor.transform`` keeps working.
    def apply_image(self, image: np.ndarray) -> np.ndarray:
        return self.scale_image(image)

    def apply_coords(self, coords: np.ndarray, original_size: Tuple[int, int]) -> np.ndarray:
        return self.scale_points(coords, original_size)

    def apply_boxes(self, boxes: np.ndarray, original_size: Tuple[int, int]) -> np.ndarray:
        return self.scale_boxes(boxes, original_size)

    def apply_image_torch(self, image: torch.Tensor) -> torch.Tensor:
        return self.scale_image(image)

    def apply_coords_torch(self, coords: torch.Tensor, original_size: Tuple[int, int]) -> torch.Tensor:
        return self.scale_points(torch.as_tensor(coords), original_size)

    def apply_boxes_torch(self, boxes: torch.Tensor, original_size: Tuple[int, int]) -> torch.Tensor:
        return self.scale_boxes(torch.as_tensor(boxes), original_size)

    get_preprocess_shape = staticmethod(longest_side_shape)

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _layout(image: Array) -> Tuple[bool, bool]:
        if image.ndim not in (3, 4):
            raise ValueError(
                "image must be (H, W, C), (C, H, W), (B, H, W, C) or (B, C, H, W); "
                f"got shape {tuple(image.shape)}"
            )
        return _is_channels_first(tuple(image.shape)), image.ndim == 4

    @staticmethod
    def _hw_axes(ndim: int, chw: bool) -> Tuple[int, int]:
        return (ndim - 2, ndim - 1) if chw else (ndim - 3, ndim - 2)

    def _crop(self, image: Array, size: Tuple[int, int]) -> Array:
        chw, _ = self._layout(image)
        h_ax, w_ax = self._hw_axes(image.ndim, chw)
        index = [slice(None)] * image.ndim
        index[h_ax] = slice(0, size[0])
        index[w_ax] = slice(0, size[1])
        return image[tuple(index)]

    def _resize(self, image: Array, size: Optional[Tuple[int, int]]) -> Array:
        chw, four_d = self._layout(image)
        h_ax, w_ax = self._hw_axes(image.ndim, chw)
        if size is None:
            size = self.scale_to_size((image.shape[h_ax], image.shape[w_ax]))
        if (image.shape[h_ax], image.shape[w_ax]) == tuple(size):
            return image
        if isinstance(image, np.ndarray) and image.dtype == np.uint8 and not chw:
            return self._resize_pil(image, size)
        return self._resize_torch(image, size, chw)

    @staticmethod
    def _resize_pil(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
        """uint8 HWC (or BHWC) through Pillow bilinear: the reference's exact resampling."""
        if image.ndim == 4:
            return np.stack([ImageResizer._resize_pil(im, size) for im in image])
        h, w = size
        channels = image.shape[2]
        if channels in (1, 3, 4):
            pil = Image.fromarray(image[..., 0] if channels == 1 else np.ascontiguousarray(image))
            out = np.array(pil.resize((w, h), Image.BILINEAR))
            return out[..., None] if channels == 1 else out
        planes = [np.array(Image.fromarray(np.ascontiguousarray(image[..., c])).resize((w, h), Image.BILINEAR))
                  for c in range(channels)]
        return np.stack(planes, axis=-1)

    @staticmethod
    def _resize_torch(image: Array, size: Tuple[int, int], chw: bool) -> Array:
        as_numpy = isinstance(image, np.ndarray)
        t = torch.as_tensor(image)
        dtype = t.dtype
        squeeze = t.ndim == 3
        if squeeze:
            t = t[None]
        if not chw:
            t = t.permute(0, 3, 1, 2)
        work = t if t.is_floating_point() else t.to(torch.float32)
        out = F.interpolate(work, size, mode="bilinear", align_corners=False, antialias=True)
        if not dtype.is_floating_point:
            info = torch.iinfo(dtype)
            out = out.round().clamp(info.min, info.max)
        out = out.to(dtype)
        if not chw:
            out = out.permute(0, 2, 3, 1)
        if squeeze:
            out = out[0]
        out = out.contiguous()
        return out.numpy() if as_numpy else out


def image_window(input_size: Tuple[int, int], input_side: int, side: int) -> Tuple[int, int]:
    """Low-res rows and columns ``(r, c)`` of a ``(side, side)`` mask grid that cover an image
    of ``input_size`` in the ``input_side`` square, plus the one row and column that bilinear
    upscaling reads past its edge; the rest is padding (``input_side`` a multiple of ``side``)."""
    factor = max(1, input_side // side)
    return min(side, -(-int(input_size[0]) // factor) + 1), min(side, -(-int(input_size[1]) // factor) + 1)


def upscale_full(low_res: torch.Tensor, input_side: int, input_size: Tuple[int, int], original_size: Tuple[int, int]) -> torch.Tensor:
    """The reference ``Sam.postprocess_masks`` for ``(B, K, h, w)`` logits -> ``(B, K, H, W)``.

    Bit-identical to it, with less work: the first upsampling only produces the unpadded
    ``input_size`` part (the low-res rows/columns it needs, plus one so that border
    clamping does not change, upsampled with the same exact scale factor), and the second
    resize is skipped when ``input_size == original_size`` (bilinear at scale 1 is a copy).
    """
    side = low_res.shape[-1]
    h_in, w_in = int(input_size[0]), int(input_size[1])
    if input_side % side == 0 and low_res.shape[-2] == side:
        factor = input_side // side
        rows, cols = image_window((h_in, w_in), input_side, side)
        x = F.interpolate(
            low_res[..., :rows, :cols], scale_factor=float(factor), mode="bilinear",
            align_corners=False, recompute_scale_factor=False,
        )
    else:
        x = F.interpolate(low_res, (input_side, input_side), mode="bilinear", align_corners=False)
    x = x[..., :h_in, :w_in]
    if (h_in, w_in) == (int(original_size[0]), int(original_size[1])):
        return x.contiguous()
    return F.interpolate(x, tuple(int(v) for v in original_size), mode="bilinear", align_corners=False)
