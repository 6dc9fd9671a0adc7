"""Helpers of the automatic mask generator: point grids, crop boxes, stability score,
mask boxes, box NMS (torch only, no torchvision), RLE (pycocotools) and small-region cleanup.

Each function is vectorised and matches ``segment_anything.utils.amg`` / torchvision's
``batched_nms`` on the same inputs. Shapes: masks ``(B, H, W)``, boxes ``(B, 4)`` xyxy.
"""

from __future__ import annotations

import math
from itertools import product
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import torch

# ---------------------------------------------------------------------- grids and crops


def build_point_grid(n_per_side: int) -> np.ndarray:
    """``(n*n, 2)`` xy points evenly spaced in [0, 1]^2 (pixel centres of an n x n grid)."""
    offset = 1 / (2 * n_per_side)
    one_side = np.linspace(offset, 1 - offset, n_per_side)
    xs = np.tile(one_side[None, :], (n_per_side, 1))
    ys = np.tile(one_side[:, None], (1, n_per_side))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def build_all_layer_point_grids(n_per_side: int, n_layers: int, scale_per_layer: int) -> List[np.ndarray]:
    """One grid per crop layer; layer i has ``n_per_side / scale_per_layer**i`` points a side."""
    return [build_point_grid(int(n_per_side / (scale_per_layer**i))) for i in range(n_layers + 1)]


def generate_crop_boxes(
    im_size: Tuple[int, int], n_layers: int, overlap_ratio: float
) -> Tuple[List[List[int]], List[int]]:
    """Crop boxes xyxy (the whole image first) and their layer; layer i has ``(2**i)**2`` crops
    (fewer for an image with a side of fewer pixels than crops per side: empty crops are left out)."""
    crop_boxes, layer_idxs = [], []
    im_h, im_w = im_size
    short_side = min(im_h, im_w)
    crop_boxes.append([0, 0, im_w, im_h])
    layer_idxs.append(0)

    def crop_len(orig_len: int, n_crops: int, overlap: int) -> int:
        return int(math.ceil((overlap * (n_crops - 1) + orig_len) / n_crops))

    for i_layer in range(n_layers):
        n_crops_per_side = 2 ** (i_layer + 1)
        overlap = int(overlap_ratio * short_side * (2 / n_crops_per_side))
        crop_w = crop_len(im_w, n_crops_per_side, overlap)
        crop_h = crop_len(im_h, n_crops_per_side, overlap)
        crop_box_x0 = [int((crop_w - overlap) * i) for i in range(n_crops_per_side)]
        crop_box_y0 = [int((crop_h - overlap) * i) for i in range(n_crops_per_side)]
        for x0, y0 in product(crop_box_x0, crop_box_y0):
            x1, y1 = min(x0 + crop_w, im_w), min(y0 + crop_h, im_h)
            if x1 <= x0 or y1 <= y0:  # a side shorter than the crop count (e.g. 1 px): no empty crops
                continue
            crop_boxes.append([x0, y0, x1, y1])
            layer_idxs.append(i_layer + 1)
    return crop_boxes, layer_idxs


# ---------------------------------------------------------------------- scores and boxes


def calculate_stability_score(logits: torch.Tensor, mask_threshold: float, threshold_offset: float) -> torch.Tensor:
    """IoU of the masks thresholded at ``t + offset`` and ``t - offset``; ``(..., H, W)`` -> ``(...)``."""
    inter = (logits > (mask_threshold + threshold_offset)).sum((-1, -2), dtype=torch.int32)
    union = (logits > (mask_threshold - threshold_offset)).sum((-1, -2), dtype=torch.int32)
    return inter / union


def batched_mask_to_box(masks: torch.Tensor) -> torch.Tensor:
    """Inclusive xyxy boxes ``(..., 4)`` around boolean masks ``(..., H, W)``; 0s for empty masks."""
    if masks.numel() == 0:
        return torch.zeros(*masks.shape[:-2], 4, dtype=torch.long, device=masks.device)
    h, w = masks.shape[-2:]
    rows = masks.any(-1)  # (..., H)
    cols = masks.any(-2)  # (..., W)
    ar_h = torch.arange(h, device=masks.device)
    ar_w = torch.arange(w, device=masks.device)
    bottom = torch.where(rows, ar_h, -1).amax(-1)
    top = torch.where(rows, ar_h, h).amin(-1)
    right = torch.where(cols, ar_w, -1).amax(-1)
    left = torch.where(cols, ar_w, w).amin(-1)
    out = torch.stack([left, top, right, bottom], dim=-1)
    empty = ~rows.any(-1)
    return out * (~empty).unsqueeze(-1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas of xyxy boxes ``(B, 4)`` (torchvision's definition: no +1)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU ``(N, M)`` of xyxy boxes ``(N, 4)`` and ``(M, 4)`` (torchvision's definition)."""
    area_a, area_b = box_area(a), box_area(b)
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression, as ``torchvision.ops.nms``.

    Boxes are visited by decreasing score (ties keep their input order); a box is dropped
    when its IoU with an already kept box is above ``iou_threshold``. Returns the kept
    indices (int64), by decreasing score.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    boxes = boxes.float()
    order = torch.sort(scores, descending=True, stable=True).indices
    ious = box_iou(boxes[order], boxes[order]) > iou_threshold  # (N, N) in visiting order
    over = ious.cpu().numpy()
    n = over.shape[0]
    removed = np.zeros(n, dtype=bool)
    keep = []
    for i in range(n):
        if removed[i]:
            continue
        keep.append(i)
        removed[i + 1 :] |= over[i, i + 1 :]
    return order[torch.as_tensor(keep, dtype=torch.int64, device=order.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """NMS done independently per category ``idxs``, as ``torchvision.ops.batched_nms``."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    boxes = boxes.float()
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def is_box_near_crop_edge(
    boxes: torch.Tensor, crop_box: Sequence[int], orig_box: Sequence[int], atol: float = 20.0
) -> torch.Tensor:
    """``(B,)`` True where a crop-frame box touches the crop's edge but not the image's edge."""
    crop_t = torch.as_tensor(crop_box, dtype=torch.float, device=boxes.device)
    orig_t = torch.as_tensor(orig_box, dtype=torch.float, device=boxes.device)
    boxes = uncrop_boxes_xyxy(boxes, crop_box).float()
    near_crop = torch.isclose(boxes, crop_t[None, :], atol=atol, rtol=0)
    near_image = torch.isclose(boxes, orig_t[None, :], atol=atol, rtol=0)
    return torch.any(near_crop & ~near_image, dim=1)


def box_xyxy_to_xywh(box: Any) -> Any:
    """xyxy -> xywh on the last axis (numpy or torch, copies)."""
    out = box.clone() if isinstance(box, torch.Tensor) else np.array(box, copy=True)
    out[..., 2] = out[..., 2] - out[..., 0]
    out[..., 3] = out[..., 3] - out[..., 1]
    return out


def uncrop_boxes_xyxy(boxes: torch.Tensor, crop_box: Sequence[int]) -> torch.Tensor:
    x0, y0 = crop_box[0], crop_box[1]
    return boxes + torch.tensor([x0, y0, x0, y0], device=boxes.device)


def uncrop_points(points: torch.Tensor, crop_box: Sequence[int]) -> torch.Tensor:
    return points + torch.tensor([crop_box[0], crop_box[1]], device=points.device)


def uncrop_masks(masks: torch.Tensor, crop_box: Sequence[int], orig_h: int, orig_w: int) -> torch.Tensor:
    """Zero-pad crop-frame masks ``(B, h, w)`` into the full image ``(B, orig_h, orig_w)``."""
    x0, y0, x1, y1 = crop_box
    if x0 == 0 and y0 == 0 and x1 == orig_w and y1 == orig_h:
        return masks
    pad_x, pad_y = orig_w - (x1 - x0), orig_h - (y1 - y0)
    return torch.nn.functional.pad(masks, (x0, pad_x - x0, y0, pad_y - y0), value=0)


# ---------------------------------------------------------------------- RLE
# Two RLE formats, on purpose (the official generator's two output modes):
# * COCO *compressed* RLE ``{"size": [H, W], "counts": str}`` (pycocotools), which is what
#   ``samlabel.annotations.geometry.mask_to_rle`` also makes (one mask at a time there);
# * *uncompressed* RLE ``{"size": [H, W], "counts": [int, ...]}`` (column-major run lengths,
#   starting with a run of zeros), the ``output_mode="uncompressed_rle"`` format of
#   ``segment_anything.utils.amg.mask_to_rle_pytorch``.


def encode_coco_rle(masks: np.ndarray) -> List[Dict[str, Any]]:
    """Boolean masks ``(B, H, W)`` -> COCO compressed RLEs (``counts`` as str) via pycocotools."""
    from pycocotools import mask as mask_utils

    if len(masks) == 0:
        return []
    fortran = np.asfortranarray(np.moveaxis(masks.astype(np.uint8, copy=False), 0, -1))  # (H, W, B)
    rles = mask_utils.encode(fortran)
    for rle in rles:
        rle["counts"] = rle["counts"].decode("utf-8")
    return rles


def decode_coco_rle(rle: Dict[str, Any]) -> np.ndarray:
    """COCO compressed (or uncompressed) RLE -> boolean ``(H, W)`` mask."""
    from pycocotools import mask as mask_utils

    h, w = rle["size"]
    if isinstance(rle["counts"], list):
        rle = mask_utils.frPyObjects(rle, h, w)
    counts = rle["counts"]
    return mask_utils.decode({"size": [h, w], "counts": counts.encode() if isinstance(counts, str) else counts}).astype(bool)


def mask_to_uncompressed_rle(mask: np.ndarray) -> Dict[str, Any]:
    """Boolean ``(H, W)`` -> uncompressed RLE ``{"size": [H, W], "counts": [...]}`` (column-major,
    starting with a run of zeros), the format of ``segment_anything.utils.amg.mask_to_rle_pytorch``."""
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).T.ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [h * w]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [h, w], "counts": counts}


def uncompressed_rle_to_mask(rle: Dict[str, Any]) -> np.ndarray:
    """Uncompressed RLE -> boolean ``(H, W)`` mask."""
    h, w = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    return flat.reshape(w, h).T


def uncompressed_rle_area(rle: Dict[str, Any]) -> int:
    """Foreground pixel count of an uncompressed RLE."""
    return int(sum(rle["counts"][1::2]))


# ---------------------------------------------------------------------- cleanup


def remove_small_regions(mask: np.ndarray, area_thresh: float, mode: str) -> Tuple[np.ndarray, bool]:
    """Fill holes (``mode="holes"``) or drop islands (``"islands"``) smaller than ``area_thresh``.

    Returns the mask and whether it changed (OpenCV 8-connected components).

    This is the reference ``segment_anything.utils.amg.remove_small_regions``, kept exactly
    (``min_mask_region_area`` must give the official generator's masks): unlike the app's
    speck removal (``samlabel.annotations.mask_tracing.despeckle``) it also fills small
    background regions that touch the image border, and runs as two separate passes.
    """
    import cv2

    if mode not in ("holes", "islands"):
        raise ValueError(f"mode must be 'holes' or 'islands', got {mode!r}")
    correct_holes = mode == "holes"
    working = (correct_holes ^ mask).astype(np.uint8)
    n_labels, regions, stats, _ = cv2.connectedComponentsWithStats(working, 8)
    sizes = stats[:, -1][1:]  # row 0 is the background
    small = [i + 1 for i, s in enumerate(sizes) if s < area_thresh]
    if not small:
        return mask, False
    fill = [0] + small
    if not correct_holes:
        fill = [i for i in range(n_labels) if i not in fill]
        if not fill:
            fill = [int(np.argmax(sizes)) + 1]
    return np.isin(regions, fill), True
