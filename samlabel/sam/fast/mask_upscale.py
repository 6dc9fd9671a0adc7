"""Full-size BINARY masks from low-res logits, as the reference computes them, in OpenCV.

``SamPredictor.predict`` returns ``postprocess_masks(logits) > threshold``: two bilinear
resizes (``(256, 256)`` -> the padded ``(1024, 1024)`` input, crop, -> ``(H, W)``) and a
comparison. ATen's kernel for the second resize is slow, and it dominates (``K x H x W``
outputs: 6 M for three 1080p masks). :func:`binary_masks_full` runs both resizes in
OpenCV instead (separable, SIMD), on only the low-res rows and columns the unpadded image
needs, and compares with numpy.

OpenCV maps pixel centres as ATen does (``src = (dst + 0.5) * in / out - 0.5``, clamped at
the borders) but computes the source coordinate in double precision where ATen uses
float32, and sums in another order. The upscaled logits therefore differ from ATen's by a
few float ulps of the coordinate times the step between neighbouring logits, at most
``(2 * (max(h, w) + 1) * eps) * max_step + 32 * eps * max|logit|`` (~1e-4 for 1024-px
inputs; measured: 7e-5 for logits up to 30), and a pixel can compare differently only
where its logit is that close to the threshold: none to a few pixels in millions, the
same order as the decoder's own float differences from the reference. The logits
themselves (``return_logits=True``) still come from :func:`~samlabel.sam.sam1.resizer.upscale_full`,
bit-identical to the reference.
"""

from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np
import torch

from samlabel.sam.sam1.resizer import image_window, upscale_full

_EPS = float(np.finfo(np.float32).eps)


def upscale_error_bound(low_res: np.ndarray, input_size: Tuple[int, int]) -> float:
    """Bound on ``|OpenCV's upscaled logit - ATen's|`` for one ``(h, w)`` low-res crop (see module)."""
    big = float(np.abs(low_res).max()) if low_res.size else 0.0
    step = max((float(np.abs(np.diff(low_res, axis=a)).max()) if low_res.shape[a] > 1 else 0.0) for a in (0, 1))
    return 2.0 * (max(input_size) + 1) * _EPS * step + 32.0 * _EPS * big


def binary_masks_full(
    low_res: torch.Tensor,
    input_side: int,
    input_size: Tuple[int, int],
    original_size: Tuple[int, int],
    threshold: float = 0.0,
) -> np.ndarray:
    """``(..., h, w)`` low-res logits -> ``(..., H, W)`` bool: ``postprocess_masks(x) > threshold``.

    Equal to the reference except where an upscaled logit lies within
    :func:`upscale_error_bound` of the threshold.
    """
    low = low_res.detach().float().cpu()
    lead = tuple(low.shape[:-2])
    side_h, side = int(low.shape[-2]), int(low.shape[-1])
    h_in, w_in = int(input_size[0]), int(input_size[1])
    H, W = int(original_size[0]), int(original_size[1])
    factor = input_side // side if side and input_side % side == 0 and side_h == side else 0
    if not factor or min(H, W, h_in, w_in) <= 0 or (h_in, w_in) == (H, W):
        # no second resize (scale 1 is a copy) or an unusual geometry: the reference path
        full = upscale_full(low.reshape(-1, 1, side_h, side), input_side, input_size, original_size)
        return (full > threshold).numpy().reshape(*lead, H, W)
    lows = low.reshape(-1, side, side).numpy()
    rows, cols = image_window((h_in, w_in), input_side, side)  # low-res rows/cols the image needs
    thr = np.float32(threshold)
    out = np.empty((lows.shape[0], H, W), dtype=bool)
    full = np.empty((H, W), dtype=np.float32)
    for i in range(lows.shape[0]):
        stage1 = cv2.resize(lows[i, :rows, :cols], None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
        cv2.resize(np.ascontiguousarray(stage1[:h_in, :w_in]), (W, H), dst=full, interpolation=cv2.INTER_LINEAR)
        np.greater(full, thr, out=out[i])
    return out.reshape(*lead, H, W)
