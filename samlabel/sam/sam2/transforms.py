"""SAM 2's image frame: the input transform, coordinate scaling and mask post-processing.

Equal to Meta's ``sam2.utils.transforms.SAM2Transforms`` without torchvision: ``ToTensor``
(uint8 / 255), a bilinear antialiased resize to ``resolution`` x ``resolution`` (the aspect
ratio is not kept, there is no padding), ImageNet mean/std. Prompts scale per axis
(``x * S / W``, ``y * S / H``); low-res mask logits go straight to the original size by one
bilinear resize. Small holes and sprinkles are removed with OpenCV's 8-connected
components (the reference needs its CUDA extension for that and skips it without one).
"""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL.Image import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_tensor(pic: Union[np.ndarray, Image]) -> torch.Tensor:
    """torchvision's ``ToTensor``: ``(H, W, C)`` array or PIL image -> ``(C, H, W)`` float;
    uint8 input is divided by 255, other dtypes keep their values."""
    if isinstance(pic, Image):
        mode_dtypes = {"I": np.int32, "I;16": np.int16, "F": np.float32}
        arr = np.array(pic, mode_dtypes.get(pic.mode, np.uint8), copy=True)
        if pic.mode == "1":
            arr = 255 * arr
        pic = arr
    if not isinstance(pic, np.ndarray):
        raise TypeError(f"image should be a numpy array or a PIL image, got {type(pic).__name__}")
    if pic.ndim == 2:
        pic = pic[:, :, None]
    if pic.ndim != 3:
        raise ValueError(f"image should be an (H, W, C) array, got shape {pic.shape}")
    img = torch.tensor(pic.transpose((2, 0, 1)))  # a copy: the array may be read-only
    if img.dtype == torch.uint8:
        return img.to(dtype=torch.get_default_dtype()).div(255)
    return img


def get_connected_components(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """8-connected components of binary masks ``(N, 1, H, W)`` -> ``(labels, areas)``, both
    ``(N, 1, H, W)`` int32: a component label (from 1) and that component's area at foreground
    pixels, 0 at background (the reference CUDA kernel's outputs), computed with OpenCV."""
    import cv2

    m = mask.to(torch.uint8).cpu().numpy()
    labels = np.zeros(m.shape, dtype=np.int32)
    areas = np.zeros(m.shape, dtype=np.int32)
    for i in range(m.shape[0]):
        n, lab, stats, _ = cv2.connectedComponentsWithStats(m[i, 0], connectivity=8, ltype=cv2.CV_32S)
        comp_area = stats[:, cv2.CC_STAT_AREA].astype(np.int32)
        comp_area[0] = 0  # OpenCV's label 0 is the background
        labels[i, 0] = lab
        areas[i, 0] = comp_area[lab]
    return torch.from_numpy(labels).to(mask.device), torch.from_numpy(areas).to(mask.device)


def fill_small_regions(masks: torch.Tensor, threshold: float, max_hole_area: float, max_sprinkle_area: float) -> torch.Tensor:
    """Low-res logits ``(B, M, h, w)`` with small holes (background components of at most
    ``max_hole_area`` low-res pixels) set to ``threshold + 10`` and small sprinkles (such
    foreground components) to ``threshold - 10``, as SAM 2's ``postprocess_masks`` does."""
    mask_flat = masks.flatten(0, 1).unsqueeze(1)
    if max_hole_area > 0:
        labels, areas = get_connected_components(mask_flat <= threshold)
        is_hole = ((labels > 0) & (areas <= max_hole_area)).reshape_as(masks)
        masks = torch.where(is_hole, threshold + 10.0, masks)
    if max_sprinkle_area > 0:
        labels, areas = get_connected_components(mask_flat > threshold)
        is_hole = ((labels > 0) & (areas <= max_sprinkle_area)).reshape_as(masks)
        masks = torch.where(is_hole, threshold - 10.0, masks)
    return masks


class SAM2Transforms:
    """The reference's ``SAM2Transforms`` without torchvision (same numbers)."""

    def __init__(self, resolution: int, mask_threshold: float, max_hole_area: float = 0.0, max_sprinkle_area: float = 0.0):
        self.resolution = resolution
        self.mask_threshold = mask_threshold
        self.max_hole_area = max_hole_area
        self.max_sprinkle_area = max_sprinkle_area
        self.mean = torch.tensor(IMAGENET_MEAN)
        self.std = torch.tensor(IMAGENET_STD)

    def transforms(self, x: torch.Tensor) -> torch.Tensor:
        """``(3, H, W)`` float -> ``(3, S, S)``: bilinear antialiased resize, then normalise."""
        if tuple(x.shape[-2:]) != (self.resolution, self.resolution):
            x = F.interpolate(
                x[None], size=(self.resolution, self.resolution), mode="bilinear", align_corners=False, antialias=True
            )[0]
        return (x - self.mean[:, None, None]) / self.std[:, None, None]

    def __call__(self, x: Union[np.ndarray, Image]) -> torch.Tensor:
        return self.transforms(to_tensor(x))

    def forward_batch(self, img_list: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.stack([self.transforms(to_tensor(img)) for img in img_list], dim=0)

    def transform_coords(self, coords: torch.Tensor, normalize: bool = False, orig_hw=None) -> torch.Tensor:
        """``(..., 2)`` (x, y) in pixels of ``orig_hw`` (``normalize=True``) or in [0, 1]
        -> pixels of the ``resolution`` x ``resolution`` model input."""
        if normalize:
            assert orig_hw is not None
            h, w = orig_hw
            coords = coords.clone()
            coords[..., 0] = coords[..., 0] / w
            coords[..., 1] = coords[..., 1] / h
        return coords * self.resolution

    def transform_boxes(self, boxes: torch.Tensor, normalize: bool = False, orig_hw=None) -> torch.Tensor:
        """``(B, 4)`` xyxy -> ``(B, 2, 2)`` corners in model-input pixels."""
        return self.transform_coords(boxes.reshape(-1, 2, 2), normalize, orig_hw)

    def postprocess_masks(self, masks: torch.Tensor, orig_hw) -> torch.Tensor:
        """Low-res logits ``(B, M, h, w)`` -> ``(B, M, H, W)`` at ``orig_hw``: small holes
        (background components up to ``max_hole_area``) set to threshold + 10, small
        sprinkles (foreground components up to ``max_sprinkle_area``) to threshold - 10,
        then bilinear interpolation."""
        masks = fill_small_regions(masks.float(), self.mask_threshold, self.max_hole_area, self.max_sprinkle_area)
        return F.interpolate(masks, orig_hw, mode="bilinear", align_corners=False)


def _as_float32(points):
    if isinstance(points, torch.Tensor):
        return points.to(torch.float32).clone(), True
    return torch.as_tensor(np.asarray(points, dtype=np.float32)).clone(), False


class StretchResizer:
    """SAM 2's prompt frame: the image is stretched to ``target_length`` x ``target_length``.

    The counterpart of SAM 1's :class:`~samlabel.sam.sam1.resizer.ImageResizer` for the calls the
    predictor, the decoder session and the mask generator make (``scale_points``,
    ``scale_boxes``, ``scale_to_size``, ``target_length``, and the reference's
    ``apply_coords``/``apply_boxes`` names). Points scale per axis in float32 exactly as the
    reference's ``transform_coords(normalize=True)``: ``x / W * S``, ``y / H * S``.
    """

    def __init__(self, target_length: int) -> None:
        if int(target_length) <= 0:
            raise ValueError(f"target_length must be a positive int, got {target_length!r}")
        self.target_length = int(target_length)

    def __repr__(self) -> str:
        return f"StretchResizer(target_length={self.target_length})"

    def scale_to_size(self, original_size: Tuple[int, int]) -> Tuple[int, int]:
        """Every image fills the whole ``(S, S)`` input."""
        h, w = int(original_size[0]), int(original_size[1])
        if h <= 0 or w <= 0:
            raise ValueError(f"original_size must be positive (H, W), got {original_size!r}")
        return self.target_length, self.target_length

    def scale_points(self, points, original_size: Tuple[int, int]):
        """``(..., 2)`` xy in original pixels -> input-frame pixels (float32; numpy in, numpy out)."""
        if points.shape[-1] != 2:
            raise ValueError(f"points must have shape (..., 2) (x, y), got {tuple(points.shape)}")
        self.scale_to_size(original_size)  # validates the size
        h, w = int(original_size[0]), int(original_size[1])
        out, is_torch = _as_float32(points)
        out[..., 0] = out[..., 0] / w
        out[..., 1] = out[..., 1] / h
        out = out * self.target_length
        return out if is_torch else out.numpy()

    def scale_boxes(self, boxes, original_size: Tuple[int, int]):
        """``(..., 4)`` xyxy -> ``(B, 4)`` in the input frame."""
        if boxes.shape[-1] != 4:
            raise ValueError(f"boxes must have shape (..., 4) (x0, y0, x1, y1), got {tuple(boxes.shape)}")
        return self.scale_points(boxes.reshape(-1, 2, 2), original_size).reshape(-1, 4)

    def unscale_points(self, points, original_size: Tuple[int, int]):
        """Inverse of :meth:`scale_points`."""
        h, w = int(original_size[0]), int(original_size[1])
        out, is_torch = _as_float32(points)
        out = out / self.target_length
        out[..., 0] = out[..., 0] * w
        out[..., 1] = out[..., 1] * h
        return out if is_torch else out.numpy()

    apply_coords = scale_points
    apply_boxes = scale_boxes
    apply_coords_torch = scale_points
    apply_boxes_torch = scale_boxes


def upscale_stretched(low_res: torch.Tensor, original_size: Tuple[int, int]) -> torch.Tensor:
    """SAM 2's ``postprocess_masks`` without hole filling: ``(..., h, w)`` logits -> ``(..., H, W)``
    by one bilinear resize (``align_corners=False``)."""
    lead = low_res.shape[:-2]
    x = low_res.reshape(-1, 1, *low_res.shape[-2:]).float()
    out = F.interpolate(x, (int(original_size[0]), int(original_size[1])), mode="bilinear", align_corners=False)
    return out.reshape(*lead, *out.shape[-2:])


def binary_masks_stretched(low_res: torch.Tensor, original_size: Tuple[int, int], threshold: float = 0.0) -> np.ndarray:
    """``upscale_stretched(low_res) > threshold`` as numpy bool ``(..., H, W)``, resized by OpenCV
    (the same half-pixel bilinear map; a pixel can differ only where its logit is within float
    rounding of the threshold, see :mod:`samlabel.sam.fast.mask_upscale`)."""
    import cv2

    low = low_res.detach().float().cpu()
    lead = tuple(low.shape[:-2])
    H, W = int(original_size[0]), int(original_size[1])
    lows = low.reshape(-1, *low.shape[-2:]).numpy()
    out = np.empty((lows.shape[0], H, W), dtype=bool)
    full = np.empty((H, W), dtype=np.float32)
    thr = np.float32(threshold)
    for i in range(lows.shape[0]):
        cv2.resize(lows[i], (W, H), dst=full, interpolation=cv2.INTER_LINEAR)
        np.greater(full, thr, out=out[i])
    return out.reshape(*lead, H, W)
