"""``SamAutomaticMaskGenerator``: "segment everything" with the official parameters and output.

The pipeline is the reference one (grid of point prompts per crop, filter by predicted
IoU and stability score, drop masks cut by a crop edge, box NMS per crop and between
crops, optional small-region cleanup), arranged to do less work for the same masks:

* the predicted-IoU filter runs on the decoder's scores BEFORE any upscaling, so only
  surviving candidates are upscaled to full size (the reference upscales every candidate);
* upscaling, stability score, binarisation and boxes run in bounded chunks, fully
  vectorised, and the per-image decoder context is computed once per crop;
* RLE encoding uses pycocotools (C), NMS a vectorised IoU matrix (no torchvision);
* results travel in a small typed :class:`MaskRecords`, not a mutable dict bag.

``generate(image, progress=None, cancel=None)`` returns the official list of dicts.

SAM 2 / 2.1 models run the pipeline of Meta's ``SAM2AutomaticMaskGenerator``: its
defaults (``pred_iou_thresh=0.8``), ``mask_threshold``, ``multimask_output``, ``use_m2m``
(one refinement step per candidate, fed its own low-res logits), masks resized straight to
the crop, and ``min_mask_region_area`` applied as that reference applies it (holes and
sprinkles filled on the low-res logits; no final small-region pass).
:class:`SAM2AutomaticMaskGenerator` is this class with the reference's name and defaults.
``sort_by`` (not in the official class) orders them: ``None`` keeps the reference order
(NMS order: best predicted IoU first within a crop), ``"area"`` sorts largest first,
``"predicted_iou"`` and ``"stability_score"`` highest first.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from samlabel.sam import amg_utils as U
from samlabel.sam.compute_path import resolve_path
from samlabel.sam.embedding import compute_embedding
from samlabel.sam.errors import Cancelled
from samlabel.sam.image_input import to_rgb_uint8
from samlabel.sam.interactive import DecoderSession
from samlabel.sam.model_family import is_sam2
from samlabel.sam.sam1.resizer import upscale_full
from samlabel.sam.sam2.transforms import fill_small_regions, upscale_stretched

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")
SORT_KEYS = (None, "area", "predicted_iou", "stability_score")
_UPSCALE_CHUNK_PIXELS = 48_000_000  # float32 elements of full-size logits upscaled at once


@dataclass(frozen=True)
class MaskRecords:
    """Masks of one image (or crop) as parallel arrays; ``rles`` are COCO compressed RLEs.

    Never modified once made: :meth:`take`, :meth:`concat` and :meth:`replace_mask` return
    new records (the arrays and list are not written to).

    ``boxes (N, 4)`` xyxy inclusive in image pixels, ``iou_preds (N,)``,
    ``stability (N,)``, ``points (N, 2)`` xy, ``crop_boxes (N, 4)`` xyxy, ``areas (N,)``.
    """

    rles: List[Dict[str, Any]]
    boxes: np.ndarray
    iou_preds: np.ndarray
    stability: np.ndarray
    points: np.ndarray
    crop_boxes: np.ndarray
    areas: np.ndarray

    @staticmethod
    def empty() -> "MaskRecords":
        return MaskRecords([], np.zeros((0, 4), np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32),
                           np.zeros((0, 2)), np.zeros((0, 4), np.int64), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.rles)

    def take(self, index: Sequence[int]) -> "MaskRecords":
        idx = np.asarray(index, dtype=np.int64).reshape(-1)
        values = {}
        for f in fields(self):
            v = getattr(self, f.name)
            values[f.name] = [v[i] for i in idx] if isinstance(v, list) else v[idx]
        return MaskRecords(**values)

    @staticmethod
    def concat(parts: Sequence["MaskRecords"]) -> "MaskRecords":
        parts = [p for p in parts if len(p)]
        if not parts:
            return MaskRecords.empty()
        values = {}
        for f in fields(MaskRecords):
            vs = [getattr(p, f.name) for p in parts]
            values[f.name] = sum(vs, []) if isinstance(vs[0], list) else np.concatenate(vs)
        return MaskRecords(**values)

    def replace_mask(self, i: int, rle: Dict[str, Any], box: np.ndarray, area: int) -> "MaskRecords":
        """A copy whose record ``i`` has this mask (``rle``, ``box``, ``area``); ``self`` is unchanged."""
        rles = list(self.rles)
        rles[i] = rle
        boxes, areas = self.boxes.copy(), self.areas.copy()
        boxes[i] = box
        areas[i] = area
        return replace(self, rles=rles, boxes=boxes, areas=areas)


class SamAutomaticMaskGenerator:
    """Generates masks for a whole image from a grid of point prompts.

    Parameters are those of ``segment_anything.SamAutomaticMaskGenerator`` (see its
    documentation), plus ``sort_by`` in ``(None, "area", "predicted_iou", "stability_score")``
    and ``path`` (``"fast"`` or ``"plain"``, see ``samlabel.sam.compute_path``), and those
    ``sam2``'s ``SAM2AutomaticMaskGenerator`` adds: ``mask_threshold`` (default: the
    model's), ``use_m2m`` (refine each candidate once with its own low-res logits as the
    mask prompt) and ``multimask_output`` (3 candidates per point, or 1).
    ``pred_iou_thresh=None`` takes the reference default of the model's family: 0.88 for
    SAM 1 and MobileSAM, 0.8 for SAM 2.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        points_per_side: Optional[int] = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: Optional[float] = None,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: Optional[List[np.ndarray]] = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
        sort_by: Optional[str] = None,
        path: Optional[str] = None,
        mask_threshold: Optional[float] = None,
        use_m2m: bool = False,
        multimask_output: bool = True,
    ) -> None:
        self.path = resolve_path(path)
        self.is_sam2 = is_sam2(model)
        if pred_iou_thresh is None:
            pred_iou_thresh = 0.8 if self.is_sam2 else 0.88
        if (points_per_side is None) == (point_grids is None):
            raise ValueError("Exactly one of points_per_side or point_grids must be provided.")
        if points_per_side is not None:
            if int(points_per_side) <= 0:
                raise ValueError(f"points_per_side must be a positive int, got {points_per_side!r}")
            self.point_grids = U.build_all_layer_point_grids(points_per_side, crop_n_layers, crop_n_points_downscale_factor)
        else:
            self.point_grids = [np.asarray(g, dtype=np.float64) for g in point_grids]
            if len(self.point_grids) < crop_n_layers + 1:
                raise ValueError(f"point_grids needs {crop_n_layers + 1} grids (one per crop layer), got {len(self.point_grids)}")
            for g in self.point_grids:
                if g.ndim != 2 or g.shape[1] != 2:
                    raise ValueError(f"each point grid must have shape (N, 2) in [0, 1], got {g.shape}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}")
        if sort_by not in SORT_KEYS:
            raise ValueError(f"sort_by must be one of {SORT_KEYS}, got {sort_by!r}")
        if int(points_per_batch) <= 0:
            raise ValueError(f"points_per_batch must be positive, got {points_per_batch!r}")
        self.model = model
        self.points_per_batch = int(points_per_batch)
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = crop_n_layers
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.crop_n_points_downscale_factor = crop_n_points_downscale_factor
        self.min_mask_region_area = min_mask_region_area
        self.output_mode = output_mode
        self.sort_by = sort_by
        self.mask_threshold = float(model.mask_threshold if mask_threshold is None else mask_threshold)
        self.use_m2m = bool(use_m2m)
        self.multimask_output = bool(multimask_output)

    # ------------------------------------------------------------------ public
    @torch.no_grad()
    def generate(
        self,
        image: np.ndarray,
        progress: Optional[Callable[[int, int], None]] = None,
        cancel: Optional[Callable[[], bool]] = None,
    ) -> List[Dict[str, Any]]:
        """Masks for ``image`` (``(H, W, 3)`` uint8 RGB) as the official record dicts.

        Each dict: ``segmentation`` (bool ``(H, W)`` or RLE dict per ``output_mode``),
        ``area`` (int), ``bbox`` (XYWH), ``predicted_iou``, ``point_coords`` ([[x, y]]),
        ``stability_score``, ``crop_box`` (XYWH). ``progress(done, total)`` is called after
        each decoder batch (total = number of point prompts); ``cancel()`` returning True
        raises :class:`~samlabel.sam.errors.Cancelled`.
        """
        image = to_rgb_uint8(image, "RGB", getattr(self.model, "image_format", "RGB"))
        records = self.generate_records(image, progress, cancel)
        return self.format_records(records)

    def generate_records(
        self,
        image: np.ndarray,
        progress: Optional[Callable[[int, int], None]] = None,
        cancel: Optional[Callable[[], bool]] = None,
    ) -> MaskRecords:
        """The typed records behind :meth:`generate` (RLEs, before output conversion)."""
        orig_size = image.shape[:2]
        crop_boxes, layer_idxs = U.generate_crop_boxes(orig_size, self.crop_n_layers, self.crop_overlap_ratio)
        total = sum(len(self.point_grids[i]) for i in layer_idxs)
        state = {"done": 0}

        def step(n: int) -> None:
            state["done"] += n
            if progress is not None:
                progress(state["done"], total)

        parts = [
            self._process_crop(image, box, layer, orig_size, step, cancel) for box, layer in zip(crop_boxes, layer_idxs)
        ]
        data = MaskRecords.concat(parts)
        if len(crop_boxes) > 1 and len(data):
            scores = 1 / U.box_area(torch.as_tensor(data.crop_boxes))
            keep = U.nms(torch.as_tensor(data.boxes).float(), scores, self.crop_nms_thresh)
            data = data.take(keep.numpy())
        if self.min_mask_region_area > 0 and not self.is_sam2:  # SAM 2 cleans the low-res logits instead
            data = self.postprocess_small_regions(data, self.min_mask_region_area,
                                                  max(self.box_nms_thresh, self.crop_nms_thresh))
        return data

    # ------------------------------------------------------------------ pipeline
    def _process_crop(self, image, crop_box, layer_idx, orig_size, step, cancel) -> MaskRecords:
        x0, y0, x1, y1 = crop_box
        crop = np.ascontiguousarray(image[y0:y1, x0:x1, :])
        if cancel is not None and cancel():
            raise Cancelled("mask generation cancelled")
        session = DecoderSession(self.model, compute_embedding(self.model, crop, cancel=cancel, path=self.path), path=self.path)
        crop_size = crop.shape[:2]
        points_for_image = self.point_grids[layer_idx] * np.array(crop_size)[None, ::-1]
        parts = []
        for start in range(0, len(points_for_image), self.points_per_batch):
            if cancel is not None and cancel():
                raise Cancelled("mask generation cancelled")
            points = points_for_image[start : start + self.points_per_batch]
            parts.append(self._process_batch(session, points, crop_size, crop_box, orig_size))
            step(len(points))
        data = MaskRecords.concat(parts)
        if not len(data):
            return data
        keep = U.nms(torch.as_tensor(data.boxes).float(), torch.as_tensor(data.iou_preds), self.box_nms_thresh)
        data = data.take(keep.numpy())
        offset = np.array([x0, y0, x0, y0])
        return MaskRecords(
            rles=data.rles,
            boxes=data.boxes + offset,
            iou_preds=data.iou_preds,
            stability=data.stability,
            points=data.points + offset[:2],
            crop_boxes=np.tile(np.array(crop_box, dtype=np.int64), (len(data), 1)),
            areas=data.areas,
        )

    def _process_batch(self, session: DecoderSession, points, crop_size, crop_box, orig_size) -> MaskRecords:
        orig_h, orig_w = orig_size
        resizer = session.resizer
        in_points = torch.as_tensor(resizer.scale_points(points, crop_size), device=self.model.device)
        in_labels = torch.ones(in_points.shape[0], dtype=torch.int, device=in_points.device)
        low, iou = session.decode_torch(in_points[:, None, :], in_labels[:, None], multimask_output=self.multimask_output)
        k = low.shape[1]
        low = low.flatten(0, 1)  # (B*K, 256, 256)
        iou = iou.flatten(0, 1)
        pts = np.repeat(points, k, axis=0)
        if self.use_m2m:
            low, iou = self._refine_with_m2m(session, in_points.repeat_interleave(k, dim=0), low)
        # 1. predicted-IoU filter on the scores alone: no upscaling for rejected candidates
        keep = torch.arange(low.shape[0])
        if self.pred_iou_thresh > 0.0:
            keep = torch.nonzero(iou > self.pred_iou_thresh).flatten()
        if keep.numel() == 0:
            return MaskRecords.empty()
        # 2. upscale survivors in chunks; stability, binary masks and boxes per chunk
        thr = self.mask_threshold
        h, w = crop_size
        chunk = max(1, _UPSCALE_CHUNK_PIXELS // (h * w + 1024 * 1024))
        kept, stab, rles, boxes, areas = [], [], [], [], []
        for c in range(0, keep.numel(), chunk):
            idx = keep[c : c + chunk]
            if self.is_sam2:  # SAM 2's predictor: fill small holes/sprinkles, one resize to the crop
                lows = low[idx][:, None].float()
                if self.min_mask_region_area > 0:
                    lows = fill_small_regions(lows, thr, self.min_mask_region_area, self.min_mask_region_area)
                logits = upscale_stretched(lows, crop_size)[:, 0]
            else:
                logits = upscale_full(low[idx][:, None], resizer.target_length, session.embedding.input_size,
                                      crop_size)[:, 0]
            s = U.calculate_stability_score(logits, thr, self.stability_score_offset)
            if self.stability_score_thresh > 0.0:
                ok = s >= self.stability_score_thresh
                if not ok.any():
                    continue
                m, s, idx = logits[ok] > thr, s[ok], idx[ok]
            else:
                m = logits > thr
            del logits
            b = U.batched_mask_to_box(m)
            far = ~U.is_box_near_crop_edge(b, crop_box, [0, 0, orig_w, orig_h])
            if not far.all():
                m, b, s, idx = m[far], b[far], s[far], idx[far]
            if idx.numel() == 0:
                continue
            kept.append(idx)
            stab.append(s)
            boxes.append(b)
            areas.append(m.sum((1, 2), dtype=torch.int64))
            rles.extend(U.encode_coco_rle(U.uncrop_masks(m, crop_box, orig_h, orig_w).cpu().numpy()))
        if not kept:
            return MaskRecords.empty()
        sel = torch.cat(kept).cpu()  # results leave the model's device here (CUDA included)
        return MaskRecords(
            rles=rles,
            boxes=torch.cat(boxes).cpu().numpy().astype(np.int64),
            iou_preds=iou.cpu()[sel].float().numpy(),
            stability=torch.cat(stab).float().cpu().numpy(),
            points=pts[sel.numpy()],
            crop_boxes=np.tile(np.array(crop_box, dtype=np.int64), (len(rles), 1)),
            areas=torch.cat(areas).cpu().numpy(),
        )

    def _refine_with_m2m(self, session: DecoderSession, in_points: torch.Tensor, low: torch.Tensor):
        """One refinement per candidate: its point again, with its own low-res logits (clamped
        to [-32, 32], as the reference predictor returns them) as the mask prompt, single mask.
        ``in_points (N, 2)`` input frame, ``low (N, 256, 256)`` -> new ``(N, 256, 256)``, ``(N,)``."""
        new_low, new_iou = [], []
        labels = torch.ones(in_points.shape[0], dtype=torch.int, device=in_points.device)
        masks_in = low.clamp(-32.0, 32.0)
        for s in range(0, in_points.shape[0], self.points_per_batch):
            e = s + self.points_per_batch
            lo, io = session.decode_torch(in_points[s:e, None, :], labels[s:e, None], mask_input=masks_in[s:e, None],
                                          multimask_output=False)
            new_low.append(lo[:, 0])
            new_iou.append(io[:, 0])
        if not new_low:
            return low, torch.zeros(0, dtype=low.dtype)
        return torch.cat(new_low), torch.cat(new_iou)

    @staticmethod
    def postprocess_small_regions(data: MaskRecords, min_area: int, nms_thresh: float) -> MaskRecords:
        """Remove holes and islands smaller than ``min_area`` (OpenCV), then NMS again.

        Unchanged masks are preferred by the NMS, as in the reference.
        """
        if not len(data):
            return data
        new_masks, scores = [], []
        for rle in data.rles:
            mask = U.decode_coco_rle(rle)
            mask, changed_holes = U.remove_small_regions(mask, min_area, mode="holes")
            mask, changed_islands = U.remove_small_regions(mask, min_area, mode="islands")
            new_masks.append(mask)
            scores.append(float(not (changed_holes or changed_islands)))
        masks = torch.as_tensor(np.stack(new_masks))
        boxes = U.batched_mask_to_box(masks)
        keep = U.nms(boxes.float(), torch.as_tensor(scores), nms_thresh)
        out = data.take(keep.numpy())
        for j, i in enumerate(keep.tolist()):
            if scores[i] == 0.0:
                out = out.replace_mask(j, U.encode_coco_rle(new_masks[i][None])[0], boxes[i].numpy(), int(new_masks[i].sum()))
        return out

    # ------------------------------------------------------------------ output
    def format_records(self, data: MaskRecords, output_mode: Optional[str] = None) -> List[Dict[str, Any]]:
        """Records -> the official dicts, in ``output_mode`` (default: the generator's) and ``sort_by`` order."""
        mode = self.output_mode if output_mode is None else output_mode
        if mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got {mode!r}")
        order = np.arange(len(data))
        if self.sort_by == "area":
            order = np.argsort(-data.areas, kind="stable")
        elif self.sort_by == "predicted_iou":
            order = np.argsort(-data.iou_preds, kind="stable")
        elif self.sort_by == "stability_score":
            order = np.argsort(-data.stability, kind="stable")
        out = []
        for i in order:
            rle = data.rles[i]
            if mode == "coco_rle":
                seg: Any = {"size": list(rle["size"]), "counts": rle["counts"]}
            elif mode == "binary_mask":
                seg = U.decode_coco_rle(rle)
            else:
                seg = U.mask_to_uncompressed_rle(U.decode_coco_rle(rle))
            out.append(
                {
                    "segmentation": seg,
                    "area": int(data.areas[i]),
                    "bbox": U.box_xyxy_to_xywh(data.boxes[i]).tolist(),
                    "predicted_iou": float(data.iou_preds[i]),
                    "point_coords": [data.points[i].tolist()],
                    "stability_score": float(data.stability[i]),
                    "crop_box": U.box_xyxy_to_xywh(data.crop_boxes[i]).tolist(),
                }
            )
        return out


class SAM2AutomaticMaskGenerator(SamAutomaticMaskGenerator):
    """``sam2``'s ``SAM2AutomaticMaskGenerator``: the same signature and defaults
    (``pred_iou_thresh=0.8``, ``mask_threshold=0.0``, ``use_m2m=False``,
    ``multimask_output=True``), over any samlabel model."""

    def __init__(
        self,
        model: torch.nn.Module,
        points_per_side: Optional[int] = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.8,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        mask_threshold: float = 0.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: Optional[List[np.ndarray]] = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
        use_m2m: bool = False,
        multimask_output: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(
            model, points_per_side=points_per_side, points_per_batch=points_per_batch, pred_iou_thresh=pred_iou_thresh,
            stability_score_thresh=stability_score_thresh, stability_score_offset=stability_score_offset,
            box_nms_thresh=box_nms_thresh, crop_n_layers=crop_n_layers, crop_nms_thresh=crop_nms_thresh,
            crop_overlap_ratio=crop_overlap_ratio, crop_n_points_downscale_factor=crop_n_points_downscale_factor,
            point_grids=point_grids, min_mask_region_area=min_mask_region_area, output_mode=output_mode,
            mask_threshold=mask_threshold, use_m2m=use_m2m, multimask_output=multimask_output, **kwargs,
        )
