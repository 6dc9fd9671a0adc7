"""The mask-generation helpers of ``transformers``' ``SamImageProcessor``, over ``samlabel.sam.amg_utils``.

``transformers``' ``mask-generation`` pipeline calls them in this order::

    crop_boxes, points, crops, labels = generate_crop_boxes(image, 1024, points_per_crop=32)
    ... model(points of one crop) -> post_process_masks(..., binarize=False) ...
    rles, scores, boxes = filter_masks(masks[0], iou_scores[0], original_size, crop_box)
    masks, scores, rles, boxes = post_process_for_mask_generation(rles, scores, boxes, 0.7)

Same arguments, defaults and return values as ``transformers``; the work (crop layout, point
grids, stability score, mask boxes, RLE, NMS) is the automatic mask generator's own
(``amg_utils``), which matches Meta's ``segment_anything.utils.amg``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch

from samlabel.sam import amg_utils


def image_to_chw(image: Any) -> torch.Tensor:
    """A PIL image, ``(H, W, C)``/``(H, W)`` numpy array or ``(C, H, W)`` tensor -> ``(C, H, W)`` tensor."""
    if isinstance(image, torch.Tensor):
        t = image
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3:
            raise ValueError(f"image tensor must be (C, H, W), got shape {tuple(t.shape)}")
        return t
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL.Image
        image = np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a PIL image, numpy array or torch tensor, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"image array must be (H, W, C) or (H, W), got shape {image.shape}")
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)


def normalize_coordinates(target_size: int, coords: torch.Tensor, original_size: Sequence[int]) -> torch.Tensor:
    """``(..., 2)`` xy points of an ``original_size (H, W)`` image -> the resized frame (longest side ``target_size``)."""
    from samlabel.sam.sam1.resizer import longest_side_shape

    old_h, old_w = int(original_size[0]), int(original_size[1])
    new_h, new_w = longest_side_shape(old_h, old_w, int(target_size))
    out = coords.clone().float()
    out[..., 0] = out[..., 0] * (new_w / old_w)
    out[..., 1] = out[..., 1] * (new_h / old_h)
    return out


def generate_crop_boxes(
    image: Any,
    target_size: int,
    crop_n_layers: int = 0,
    overlap_ratio: float = 512 / 1500,
    points_per_crop: Optional[int] = 32,
    crop_n_points_downscale_factor: int = 1,
    device: Optional[torch.device] = None,
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """Crop boxes and the point grid of each crop, in the resized frame of each crop.

    Returns ``crop_boxes (n_crops, 4)`` float xyxy, ``points (1, n_points, n_crops, 2)``
    (each crop's grid, scaled to its resized frame), the ``(C, h, w)`` crops, and
    ``labels (1, n_points, n_crops)`` int64 ones. Every crop must have as many points:
    ``crop_n_points_downscale_factor`` other than 1 with ``crop_n_layers > 0`` raises ``ValueError``.
    """
    if isinstance(image, (list, tuple)):
        raise ValueError("Only one image is allowed for crop generation.")
    if points_per_crop is None or int(points_per_crop) <= 0:
        raise ValueError(f"points_per_crop must be a positive int, got {points_per_crop!r}")
    if int(crop_n_layers) < 0:
        raise ValueError(f"crop_n_layers must be >= 0, got {crop_n_layers!r}")
    chw = image_to_chw(image)
    height, width = int(chw.shape[-2]), int(chw.shape[-1])
    grids = amg_utils.build_all_layer_point_grids(int(points_per_crop), int(crop_n_layers),
                                                  int(crop_n_points_downscale_factor))
    if len({len(g) for g in grids}) > 1:
        raise ValueError(
            "every crop layer must have the same number of points to stack them; "
            f"got {[len(g) for g in grids]} (use crop_n_points_downscale_factor=1)"
        )
    boxes, layers = amg_utils.generate_crop_boxes((height, width), int(crop_n_layers), float(overlap_ratio))
    crops, points = [], []
    for (x0, y0, x1, y1), layer in zip(boxes, layers):
        crop = chw[:, y0:y1, x0:x1]
        crops.append(crop)
        scale = torch.tensor([x1 - x0, y1 - y0])
        grid = torch.as_tensor(grids[layer], dtype=torch.float32) * scale
        points.append(normalize_coordinates(target_size, grid, (y1 - y0, x1 - x0)))
    device = torch.device("cpu") if device is None else device
    crop_boxes = torch.tensor(boxes).float().to(device)
    grid_points = torch.stack(points).unsqueeze(0).permute(0, 2, 1, 3).to(device)
    labels = torch.ones_like(grid_points[:, :, :, 0], dtype=torch.int64)
    return crop_boxes, grid_points, crops, labels


def filter_masks(
    masks: torch.Tensor,
    iou_scores: torch.Tensor,
    original_size: Sequence[int],
    cropped_box_image: Sequence[int],
    pred_iou_thresh: float = 0.88,
    stability_score_thresh: float = 0.95,
    mask_threshold: float = 0,
    stability_score_offset: float = 1,
) -> tuple[list[dict[str, Any]], torch.Tensor, torch.Tensor]:
    """Keep confident, stable masks not cut by the crop's edge; put them into the full image.

    ``masks (P, K, h, w)`` full-resolution logits of one crop and ``iou_scores (P, K)``.
    Returns uncompressed RLEs of the kept masks in the ``original_size (H, W)`` frame, their
    scores ``(n,)`` and xyxy boxes ``(n, 4)`` in that frame.
    """
    original_height, original_width = (int(v) for v in original_size)
    iou_scores = torch.as_tensor(iou_scores).flatten(0, 1)
    masks = torch.as_tensor(masks).flatten(0, 1)
    if masks.shape[0] != iou_scores.shape[0]:
        raise ValueError("masks and iou_scores must have the same batch size.")
    iou_scores = iou_scores.to(masks.device)
    keep = torch.ones(masks.shape[0], dtype=torch.bool, device=masks.device)
    if pred_iou_thresh > 0.0:
        keep &= iou_scores > pred_iou_thresh
    if stability_score_thresh > 0.0:
        stability = amg_utils.calculate_stability_score(masks, mask_threshold, stability_score_offset)
        keep &= stability > stability_score_thresh
    scores, masks = iou_scores[keep], masks[keep] > mask_threshold
    crop_box = [int(v) for v in cropped_box_image]
    boxes = amg_utils.batched_mask_to_box(masks)
    keep = ~amg_utils.is_box_near_crop_edge(boxes, crop_box, [0, 0, original_width, original_height])
    scores, masks, boxes = scores[keep], masks[keep], boxes[keep]
    boxes = amg_utils.uncrop_boxes_xyxy(boxes, crop_box)
    masks = amg_utils.uncrop_masks(masks, crop_box, original_height, original_width)
    rles = [amg_utils.mask_to_uncompressed_rle(m) for m in masks.cpu().numpy()]
    return rles, scores, boxes


def post_process_for_mask_generation(
    all_masks: list[dict[str, Any]], all_scores: torch.Tensor, all_boxes: torch.Tensor, crops_nms_thresh: float
) -> tuple[list[torch.Tensor], torch.Tensor, list[dict[str, Any]], torch.Tensor]:
    """Box NMS over every crop's masks: returns ``(masks, scores, rles, boxes)`` of the kept ones,
    by decreasing score; ``masks`` are ``(H, W)`` bool tensors decoded from the RLEs."""
    boxes = torch.as_tensor(all_boxes)
    keep = amg_utils.batched_nms(boxes.float(), all_scores, torch.zeros(boxes.shape[0]), crops_nms_thresh)
    rles = [all_masks[int(i)] for i in keep]
    masks = [torch.from_numpy(np.ascontiguousarray(amg_utils.uncompressed_rle_to_mask(r))) for r in rles]
    return masks, all_scores[keep], rles, boxes[keep]
