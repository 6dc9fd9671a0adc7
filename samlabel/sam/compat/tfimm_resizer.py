"""tfimm's ``ImageResizer``: one image's resize to a model input, padding, prompt scaling, mask unscaling.

    resizer = ImageResizer(src_size=(333, 517), dst_size=(1024, 1024))
    x = resizer.pad_image(resizer.scale_image(image))          # (1024, 1024, 3), image at top-left
    back = resizer.unscale_image(resizer.scale_image(image))   # (333, 517, 3) again
    pts = resizer.scale_points(points)                          # original pixels -> input pixels
    mask = resizer.postprocess_mask(logits_1024, threshold=0.0) # (K, 1024, 1024) -> (K, 333, 517) bool

Bound to one image (``src_size``) and one target (``dst_size``), as tfimm's. Images are
``(H, W, C)`` / ``(N, H, W, C)`` with ``channels_last=True`` (tfimm's default) or
``(C, H, W)`` / ``(N, C, H, W)`` (masks), numpy arrays or torch tensors; a 2-D ``(H, W)``
array is one channel. Differences from tfimm, so that everything agrees with samlabel's
``SamPredictor`` (and Meta's): the resized size is rounded half up (tfimm floors), points
and boxes are scaled per axis by ``rescaled / src`` (tfimm by one factor), and resampling is
samlabel's: Pillow's bilinear for uint8 channels-last images (Meta's exact resize), an
antialiased bilinear otherwise (tfimm uses TensorFlow's area filter). ``postprocess_mask``
resizes as SAM's own post-processing does (bilinear, no antialiasing).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from samlabel.sam.sam1.resizer import ImageResizer as _SamResizer

Array = Union[np.ndarray, torch.Tensor]


def _pair(value: Sequence[int], name: str) -> Tuple[int, int]:
    try:
        h, w = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (height, width), got {value!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"{name} must be positive (height, width), got {value!r}")
    return h, w


def _to_nhwc(image: Array, channels_last: bool) -> Tuple[Array, int, bool]:
    """``image`` as ``(N, H, W, C)``; returns it, the original ndim, and the layout flag used."""
    ndim = image.ndim
    if ndim == 2:
        image, channels_last = image[None, :, :, None], True
    elif ndim == 3:
        image = image[None]
    elif ndim != 4:
        raise ValueError(f"image must be 2-D, 3-D or 4-D, got shape {tuple(image.shape)}")
    if not channels_last:
        image = image.permute(0, 2, 3, 1) if isinstance(image, torch.Tensor) else np.transpose(image, (0, 2, 3, 1))
    return image, ndim, channels_last


def _from_nhwc(image: Array, ndim: int, channels_last: bool) -> Array:
    if ndim == 2:
        return image[0, :, :, 0]
    if not channels_last:
        image = image.permute(0, 3, 1, 2) if isinstance(image, torch.Tensor) else np.transpose(image, (0, 3, 1, 2))
    return image[0] if ndim == 3 else image


class ImageResizer:
    """Resize an image of ``src_size`` to fit ``dst_size`` (aspect kept), pad it, and map back.

    Attributes: ``src_size``, ``dst_size``, ``pad_only``, ``scale`` (the resize factor) and
    ``rescaled_size`` (the resized image's ``(h, w)`` inside ``dst_size``).
    """

    def __init__(self, src_size: Sequence[int], dst_size: Sequence[int], pad_only: bool = False) -> None:
        self.src_size = _pair(src_size, "src_size")
        self.dst_size = _pair(dst_size, "dst_size")
        self.pad_only = bool(pad_only)
        self.scale, self.rescaled_size = self._get_scale()

    def _get_scale(self) -> Tuple[float, Tuple[int, int]]:
        (h0, w0), (h1, w1) = self.src_size, self.dst_size
        if self.pad_only:
            return 1.0, (h0, w0)
        scale = min(h1 / h0, w1 / w0)
        size = (min(h1, max(1, int(h0 * scale + 0.5))), min(w1, max(1, int(w0 * scale + 0.5))))
        return scale, size

    # ------------------------------------------------------------------ images
    @staticmethod
    def scale_to_size(image: Array, size: Sequence[int], channels_last: bool) -> Array:
        """Resize ``image`` to ``size (h, w)``, aspect ratio not kept; layout, type and dtype are.

        uint8 channels-last arrays go through Pillow's bilinear filter (bit-identical to
        ``SamPredictor.set_image``), everything else through an antialiased bilinear.
        """
        h, w = _pair(size, "size")
        nhwc, ndim, layout = _to_nhwc(image, channels_last)
        if tuple(nhwc.shape[1:3]) != (h, w):
            if isinstance(nhwc, np.ndarray) and nhwc.dtype == np.uint8:
                nhwc = _SamResizer._resize_pil(np.ascontiguousarray(nhwc), (h, w))
            else:
                nhwc = _SamResizer._resize_torch(nhwc, (h, w), chw=False)
        return _from_nhwc(nhwc, ndim, layout)

    def scale_image(self, image: Array, channels_last: bool = True) -> Array:
        """``src_size`` image -> ``rescaled_size`` (the longest fitting side equals ``dst_size``'s)."""
        self._check_size(image, self.src_size, channels_last, "scale_image")
        return self.scale_to_size(image, self.rescaled_size, channels_last)

    def unscale_image(self, image: Array, channels_last: bool = True) -> Array:
        """``rescaled_size`` image -> ``src_size`` (the inverse of :meth:`scale_image`)."""
        return self.scale_to_size(image, self.src_size, channels_last)

    def pad_image(self, image: Array, channels_last: bool = True) -> Array:
        """Zero-pad bottom and right to ``dst_size``; ``ValueError`` if the image is larger."""
        nhwc, ndim, layout = _to_nhwc(image, channels_last)
        pad_h, pad_w = self.dst_size[0] - nhwc.shape[1], self.dst_size[1] - nhwc.shape[2]
        if pad_h < 0 or pad_w < 0:
            raise ValueError(f"Cannot pad an image of size {tuple(nhwc.shape[1:3])} to the smaller dst_size {self.dst_size}.")
        if isinstance(nhwc, torch.Tensor):
            nhwc = F.pad(nhwc, (0, 0, 0, pad_w, 0, pad_h))
        else:
            nhwc = np.pad(nhwc, [(0, 0), (0, pad_h), (0, pad_w), (0, 0)])
        return _from_nhwc(nhwc, ndim, layout)

    def crop_image(self, image: Array, channels_last: bool = True) -> Array:
        """Remove the padding: ``dst_size`` image -> ``rescaled_size`` (the inverse of :meth:`pad_image`)."""
        nhwc, ndim, layout = _to_nhwc(image, channels_last)
        return _from_nhwc(nhwc[:, : self.rescaled_size[0], : self.rescaled_size[1]], ndim, layout)

    # ------------------------------------------------------------------ prompts
    def _factors(self) -> Tuple[float, float]:
        return self.rescaled_size[1] / self.src_size[1], self.rescaled_size[0] / self.src_size[0]

    def scale_points(self, points: Array) -> Array:
        """``(..., 2)`` xy points in ``src_size`` pixels -> ``dst_size`` pixels (float64 numpy, float32 torch)."""
        if points.shape[-1] != 2:
            raise ValueError(f"points must have shape (..., 2) (x, y), got {tuple(points.shape)}")
        fx, fy = self._factors()
        out = points.to(torch.float).clone() if isinstance(points, torch.Tensor) else np.array(points, float)
        out[..., 0] = out[..., 0] * fx
        out[..., 1] = out[..., 1] * fy
        return out

    def scale_boxes(self, boxes: Array) -> Array:
        """``(..., 4)`` xyxy boxes in ``src_size`` pixels -> ``dst_size`` pixels, same shape."""
        if boxes.shape[-1] != 4:
            raise ValueError(f"boxes must have shape (..., 4) (x0, y0, x1, y1), got {tuple(boxes.shape)}")
        return self.scale_points(boxes.reshape(*boxes.shape[:-1], 2, 2)).reshape(boxes.shape)

    # ------------------------------------------------------------------ masks
    def postprocess_mask(self, mask: Array, threshold: Optional[float] = None) -> Array:
        """``(..., H, W)`` logits at ``dst_size`` -> ``(..., H0, W0)`` at ``src_size`` (crop, then bilinear).

        With ``threshold``, returns ``logits > threshold``. numpy in, numpy out.
        """
        if mask.ndim < 2 or tuple(mask.shape[-2:]) != self.dst_size:
            raise ValueError(f"mask must have shape (..., {self.dst_size[0]}, {self.dst_size[1]}), got {tuple(mask.shape)}")
        as_numpy = isinstance(mask, np.ndarray)
        t = torch.as_tensor(mask)
        lead = t.shape[:-2]
        t = t[..., : self.rescaled_size[0], : self.rescaled_size[1]].reshape(1, -1, *self.rescaled_size).float()
        if tuple(t.shape[-2:]) != self.src_size:
            t = F.interpolate(t, self.src_size, mode="bilinear", align_corners=False)
        t = t.reshape(*lead, *self.src_size)
        if threshold is not None:
            t = t > threshold
        return t.numpy() if as_numpy else t

    def _check_size(self, image: Array, size: Tuple[int, int], channels_last: bool, what: str) -> None:
        got = tuple(_to_nhwc(image, channels_last)[0].shape[1:3])
        if got != size:
            raise ValueError(f"{what}: this resizer is bound to images of size {size}, got {got}")
