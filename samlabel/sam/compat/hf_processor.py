"""``SamImageProcessor`` and ``SamProcessor``: the inputs and outputs of ``transformers``' SAM.

    processor = SamProcessor()                                  # or SamProcessor.from_pretrained(folder)
    inputs = processor(images=image, input_points=[[[450, 600]]], return_tensors="pt")
    outputs = model(**inputs)                                   # samlabel.sam.compat.hf_model.SamModel
    masks = processor.post_process_masks(outputs.pred_masks, inputs["original_sizes"],
                                         inputs["reshaped_input_sizes"])

Images are resized as ``transformers``' default (torchvision) image processor does: longest
side to ``size["longest_edge"]`` with PyTorch's antialiased bilinear resampling of the uint8
pixels, then ``(x - 255 * mean) / (255 * std)`` and bottom-right zero padding to ``pad_size``.
That is not Pillow's resize, which samlabel's own ``SamPredictor`` uses like Meta's: the two
differ by at most one grey level per pixel.

Prompts are nested lists (or arrays/tensors) per image: ``input_points`` ``[image][point
batch][point][x, y]`` (or ``[image][point][x, y]``), ``input_labels`` one level less,
``input_boxes`` ``[image][box][x0, y0, x1, y1]``, all in original-image pixels. They come
back scaled to the resized frame, as float64 ``(B, P, N, 2)``, int64 ``(B, P, N)`` and
float64 ``(B, nb, 4)`` tensors. Point lists of different lengths are padded with the pad
point ``(-10, -10)`` and the pad label ``-10``, which the model turns into a zero token.
``transformers`` pads only across images and by one label; here every list is padded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from samlabel.sam.compat import hf_mask_generation
from samlabel.sam.compat.hf_config import IMAGENET_MEAN, IMAGENET_STD
from samlabel.sam.sam1.resizer import longest_side_shape, upscale_full

PAD_VALUE = -10
PathLike = Union[str, Path]


class BatchFeature(dict):
    """The processor's output: a dict whose keys are also attributes, with ``to(device)``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to(self, device: Union[str, torch.device]) -> "BatchFeature":
        return BatchFeature({k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.items()})


def _size(value: Any, keys: Sequence[str], name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return tuple(value for _ in keys)
    if not isinstance(value, dict) or any(k not in value for k in keys):
        raise ValueError(f"{name} must be a dict with keys {list(keys)}, got {value!r}")
    return tuple(int(value[k]) for k in keys)


def _to_array(value: Any, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc


def _per_image(value: Any, name: str) -> list:
    """The per-image entries of a nested prompt list (or an array/tensor's first axis)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        value = _to_array(value, name)
        if value.ndim == 0:
            raise ValueError(f"{name} must be nested per image, got a scalar")
        return list(value)
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name} must be a non-empty list with one entry per image, got {type(value).__name__}")
    return list(value)


class SamImageProcessor:
    """Resizes, normalises and pads images; post-processes masks (``transformers``' defaults).

    Arguments (as in ``preprocessor_config.json``): ``size={"longest_edge": 1024}``,
    ``pad_size={"height": 1024, "width": 1024}``, ``image_mean``/``image_std`` in [0, 1] units,
    ``rescale_factor=1/255``, ``do_resize``, ``do_rescale``, ``do_normalize``, ``do_pad``.
    """

    def __init__(
        self,
        size: Optional[dict] = None,
        pad_size: Optional[dict] = None,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
        rescale_factor: float = 1 / 255,
        do_resize: bool = True,
        do_rescale: bool = True,
        do_normalize: bool = True,
        do_pad: bool = True,
        **ignored: Any,
    ) -> None:
        self.size = {"longest_edge": _size(size or {"longest_edge": 1024}, ("longest_edge",), "size")[0]}
        h, w = _size(pad_size or {"height": 1024, "width": 1024}, ("height", "width"), "pad_size")
        self.pad_size = {"height": h, "width": w}
        self.image_mean = tuple(float(v) for v in image_mean)
        self.image_std = tuple(float(v) for v in image_std)
        if len(self.image_mean) != len(self.image_std):
            raise ValueError("image_mean and image_std must have the same length")
        self.rescale_factor = float(rescale_factor)
        self.do_resize, self.do_rescale = bool(do_resize), bool(do_rescale)
        self.do_normalize, self.do_pad = bool(do_normalize), bool(do_pad)

    @classmethod
    def from_pretrained(cls, path: PathLike) -> "SamImageProcessor":
        """From a folder with ``preprocessor_config.json`` (or that file); defaults when it has none."""
        path = Path(path)
        file = path / "preprocessor_config.json" if path.is_dir() else path
        if not file.is_file():
            if path.is_dir():
                return cls()
            raise ValueError(f"{path}: no such preprocessor_config.json")
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{file}: not a readable JSON config ({exc})") from exc
        return cls(**data)

    @property
    def longest_edge(self) -> int:
        return self.size["longest_edge"]

    def _get_preprocess_shape(self, old_shape: Sequence[int], longest_edge: int) -> tuple[int, int]:
        """``(h, w)`` with the longest side ``longest_edge`` (rounded half up, as SAM)."""
        return longest_side_shape(int(old_shape[0]), int(old_shape[1]), int(longest_edge))

    # ------------------------------------------------------------------ images
    def _one(self, image: Any) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int]]:
        chw = hf_mask_generation.image_to_chw(image)
        if chw.shape[0] == 1 and len(self.image_mean) == 3:
            chw = chw.expand(3, -1, -1)
        if chw.shape[0] == 4 and len(self.image_mean) == 3:
            chw = chw[:3]
        original = (int(chw.shape[1]), int(chw.shape[2]))
        x = chw[None]
        if self.do_resize:
            size = self._get_preprocess_shape(original, self.longest_edge)
            if size != original:
                x = F.interpolate(x, size, mode="bilinear", align_corners=False, antialias=True)
        resized = (int(x.shape[2]), int(x.shape[3]))
        if self.do_normalize:
            scale = 1.0 / self.rescale_factor if self.do_rescale else 1.0
            mean = torch.tensor(self.image_mean) * scale
            std = torch.tensor(self.image_std) * scale
            x = (x.to(torch.float32) - mean[:, None, None]) / std[:, None, None]
        elif self.do_rescale:
            x = x.to(torch.float32) * self.rescale_factor
        if self.do_pad:
            ph, pw = self.pad_size["height"], self.pad_size["width"]
            if resized[0] > ph or resized[1] > pw:
                raise ValueError(f"image resized to {resized} does not fit pad_size {(ph, pw)}")
            x = F.pad(x, (0, pw - resized[1], 0, ph - resized[0]))
        return x[0], original, resized

    def __call__(self, images: Any, return_tensors: Optional[str] = "pt", **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, return_tensors=return_tensors, **kwargs)

    def preprocess(self, images: Any, return_tensors: Optional[str] = "pt", **ignored: Any) -> BatchFeature:
        """``pixel_values (B, C, H, W)`` float32, ``original_sizes (B, 2)``, ``reshaped_input_sizes (B, 2)`` int64."""
        if return_tensors not in ("pt", "np", None):
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = list(images)
        if not isinstance(images, (list, tuple)):
            images = [images]
        if not images:
            raise ValueError("images must not be empty")
        done = [self._one(im) for im in images]
        shapes = {tuple(p.shape) for p, _, _ in done}
        if len(shapes) > 1:
            raise ValueError(f"images of different sizes need do_pad=True to be batched, got {sorted(shapes)}")
        out = BatchFeature(
            pixel_values=torch.stack([p for p, _, _ in done]),
            original_sizes=torch.tensor([o for _, o, _ in done], dtype=torch.int64),
            reshaped_input_sizes=torch.tensor([r for _, _, r in done], dtype=torch.int64),
        )
        return _convert(out, return_tensors)

    # ------------------------------------------------------------------ masks
    def post_process_masks(
        self,
        masks: Any,
        original_sizes: Any,
        reshaped_input_sizes: Any,
        mask_threshold: float = 0.0,
        binarize: bool = True,
        pad_size: Optional[dict] = None,
    ) -> list[torch.Tensor]:
        """Low-res logits per image ``(P, K, h, w)`` -> ``(P, K, H, W)`` at each original size.

        As ``transformers`` (and Meta's ``Sam.postprocess_masks``): bilinear to ``pad_size``,
        crop to the resized image, bilinear to the original size; ``> mask_threshold`` when
        ``binarize``. ``masks`` is a list (or a batched tensor) with one entry per image.
        """
        ph, pw = _size(pad_size or self.pad_size, ("height", "width"), "pad_size")
        originals = _to_array(original_sizes, "original_sizes").reshape(-1, 2).tolist()
        reshaped = _to_array(reshaped_input_sizes, "reshaped_input_sizes").reshape(-1, 2).tolist()
        if len(masks) < len(originals) or len(reshaped) != len(originals):
            raise ValueError(
                f"got masks for {len(masks)} images, {len(originals)} original_sizes and "
                f"{len(reshaped)} reshaped_input_sizes"
            )
        out = []
        for i, (original, resized) in enumerate(zip(originals, reshaped)):
            m = masks[i]
            if isinstance(m, np.ndarray):
                m = torch.from_numpy(m)
            if not isinstance(m, torch.Tensor) or m.ndim != 4:
                raise ValueError(f"masks[{i}] must be a (P, K, h, w) tensor or array, got {type(m).__name__}"
                                 + (f" of shape {tuple(m.shape)}" if hasattr(m, "shape") else ""))
            m = m.float()
            if ph == pw:
                up = upscale_full(m, ph, tuple(resized), tuple(original))
            else:
                up = F.interpolate(m, (ph, pw), mode="bilinear", align_corners=False)[..., : resized[0], : resized[1]]
                up = F.interpolate(up, tuple(original), mode="bilinear", align_corners=False)
            out.append(up > mask_threshold if binarize else up)
        return out

    # ------------------------------------------------------------------ mask generation
    def generate_crop_boxes(self, image, target_size, crop_n_layers=0, overlap_ratio=512 / 1500,
                            points_per_crop=32, crop_n_points_downscale_factor=1, device=None):
        """See :func:`samlabel.sam.compat.hf_mask_generation.generate_crop_boxes`."""
        return hf_mask_generation.generate_crop_boxes(image, target_size, crop_n_layers, overlap_ratio,
                                                      points_per_crop, crop_n_points_downscale_factor, device)

    def filter_masks(self, masks, iou_scores, original_size, cropped_box_image, pred_iou_thresh=0.88,
                     stability_score_thresh=0.95, mask_threshold=0, stability_score_offset=1):
        """See :func:`samlabel.sam.compat.hf_mask_generation.filter_masks`."""
        return hf_mask_generation.filter_masks(masks, iou_scores, original_size, cropped_box_image, pred_iou_thresh,
                                               stability_score_thresh, mask_threshold, stability_score_offset)

    def post_process_for_mask_generation(self, all_masks, all_scores, all_boxes, crops_nms_thresh):
        """See :func:`samlabel.sam.compat.hf_mask_generation.post_process_for_mask_generation`."""
        return hf_mask_generation.post_process_for_mask_generation(all_masks, all_scores, all_boxes, crops_nms_thresh)


def _convert(out: BatchFeature, return_tensors: Optional[str]) -> BatchFeature:
    if return_tensors == "np":
        return BatchFeature({k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in out.items()})
    return out


class SamProcessor:
    """Images and prompts in, model inputs out; ``post_process_masks`` back (``transformers``' API)."""

    point_pad_value = PAD_VALUE

    def __init__(self, image_processor: Optional[SamImageProcessor] = None) -> None:
        self.image_processor = image_processor if image_processor is not None else SamImageProcessor()

    @classmethod
    def from_pretrained(cls, path: PathLike) -> "SamProcessor":
        return cls(SamImageProcessor.from_pretrained(path))

    @property
    def target_size(self) -> int:
        return self.image_processor.longest_edge

    def __call__(
        self,
        images: Any = None,
        input_points: Any = None,
        input_labels: Any = None,
        input_boxes: Any = None,
        return_tensors: Optional[str] = "pt",
        point_pad_value: Optional[int] = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """``pixel_values``, ``original_sizes``, ``reshaped_input_sizes`` and the scaled prompts.

        Shapes: ``input_points (B, P, N, 2)`` float64, ``input_labels (B, P, N)`` int64,
        ``input_boxes (B, nb, 4)`` float64, in the resized frame.
        """
        if images is None:
            raise ValueError("images must be given: prompts are scaled to each image's resized frame")
        if input_labels is not None and input_points is None:
            raise ValueError("input_labels were given without input_points")
        pad = PAD_VALUE if point_pad_value is None else point_pad_value
        out = self.image_processor.preprocess(images, return_tensors="pt", **kwargs)
        sizes = out["original_sizes"].tolist()
        if input_points is not None:
            points, labels = self._points(input_points, input_labels, sizes, pad)
            out["input_points"] = torch.from_numpy(points)
            if labels is not None:
                out["input_labels"] = torch.from_numpy(labels)
        if input_boxes is not None:
            out["input_boxes"] = torch.from_numpy(self._boxes(input_boxes, sizes))
        return _convert(out, return_tensors)

    def post_process_masks(self, *args: Any, **kwargs: Any) -> list[torch.Tensor]:
        return self.image_processor.post_process_masks(*args, **kwargs)

    # ------------------------------------------------------------------ prompts
    def _scale(self, coords: np.ndarray, original_size: Sequence[int]) -> np.ndarray:
        old_h, old_w = int(original_size[0]), int(original_size[1])
        new_h, new_w = self.image_processor._get_preprocess_shape((old_h, old_w), self.target_size)
        coords = coords.astype(float).copy()
        coords[..., 0] = coords[..., 0] * (new_w / old_w)
        coords[..., 1] = coords[..., 1] * (new_h / old_h)
        return coords

    @staticmethod
    def _sizes_for(count: int, sizes: list) -> list:
        """One original size per prompt entry: per image, or the first image's for all (as ``transformers``)."""
        return sizes if count == len(sizes) else [sizes[0]] * count

    def _points(self, input_points: Any, input_labels: Any, sizes: list, pad: int):
        per_image = _per_image(input_points, "input_points")
        batches = []  # per image: list of point batches, each an (N_i, 2) array
        for i, entry in enumerate(per_image):
            entry = entry if isinstance(entry, (list, tuple)) else list(_to_array(entry, "input_points"))
            if not entry:
                raise ValueError(f"input_points[{i}] is empty")
            first = _to_array(entry[0], "input_points")
            if first.ndim == 1:  # [image][point][x, y]: one point batch
                entry = [entry]
            rows = []
            for j, batch in enumerate(entry):
                arr = _to_array(batch, "input_points").astype(float)
                if arr.size == 0:
                    arr = arr.reshape(0, 2)
                if arr.ndim != 2 or arr.shape[1] != 2:
                    raise ValueError(f"input_points[{i}][{j}] must be a list of [x, y] points, got shape {arr.shape}")
                if not np.isfinite(arr).all():
                    raise ValueError(f"input_points[{i}][{j}] must be finite")
                rows.append(arr)
            batches.append(rows)
        label_rows = None
        if input_labels is not None:
            per_label = _per_image(input_labels, "input_labels")
            if len(per_label) != len(batches):
                raise ValueError(f"input_labels has {len(per_label)} images, input_points has {len(batches)}")
            label_rows = []
            for i, (entry, rows) in enumerate(zip(per_label, batches)):
                arr_first = _to_array(entry, "input_labels") if not isinstance(entry, (list, tuple)) else None
                entry = list(arr_first) if arr_first is not None else entry
                if entry and _to_array(entry[0], "input_labels").ndim == 0:
                    entry = [entry]
                if len(entry) != len(rows):
                    raise ValueError(f"input_labels[{i}] has {len(entry)} point batches, input_points[{i}] has {len(rows)}")
                labels = []
                for j, (lab, pts) in enumerate(zip(entry, rows)):
                    lab = _to_array(lab, "input_labels").reshape(-1)
                    if lab.shape[0] != pts.shape[0]:
                        raise ValueError(f"input_labels[{i}][{j}] has {lab.shape[0]} labels for {pts.shape[0]} points")
                    if lab.size and not np.isin(lab, (1, 0, -1, pad)).all():
                        raise ValueError(f"input_labels[{i}][{j}] must be 1, 0, -1 or {pad}, got {np.unique(lab).tolist()}")
                    labels.append(lab.astype(np.int64))
                label_rows.append(labels)
        counts = {len(rows) for rows in batches}
        if len(counts) > 1:
            raise ValueError(f"every image needs the same number of point batches, got {sorted(counts)}")
        sizes = self._sizes_for(len(batches), sizes)
        scaled = [[self._scale(r, size) for r in rows] for rows, size in zip(batches, sizes)]
        longest = max(r.shape[0] for rows in scaled for r in rows)
        ragged = any(r.shape[0] != longest for rows in scaled for r in rows)
        if ragged and label_rows is None:  # the pads must be marked: the given points are foreground
            label_rows = [[np.ones(r.shape[0], np.int64) for r in rows] for rows in batches]
        points = np.stack([
            np.stack([np.concatenate([r, np.full((longest - r.shape[0], 2), float(pad))]) for r in rows])
            for rows in scaled
        ])
        labels = None
        if label_rows is not None:
            labels = np.stack([
                np.stack([np.concatenate([lab, np.full(longest - lab.shape[0], pad, np.int64)]) for lab in rows])
                for rows in label_rows
            ])
        return points, labels

    def _boxes(self, input_boxes: Any, sizes: list) -> np.ndarray:
        per_image = _per_image(input_boxes, "input_boxes")
        boxes = []
        for i, entry in enumerate(per_image):
            arr = _to_array(entry, "input_boxes").astype(np.float32)  # as transformers: through float32
            if arr.ndim != 2 or arr.shape[1] != 4:
                raise ValueError(f"input_boxes[{i}] must be a list of [x0, y0, x1, y1] boxes, got shape {arr.shape}")
            if not np.isfinite(arr).all():
                raise ValueError(f"input_boxes[{i}] must be finite")
            boxes.append(arr)
        counts = {b.shape[0] for b in boxes}
        if len(counts) > 1:
            raise ValueError(f"every image needs the same number of boxes, got {sorted(counts)}")
        sizes = self._sizes_for(len(boxes), sizes)
        return np.stack([self._scale(b.reshape(-1, 2, 2), s).reshape(-1, 4) for b, s in zip(boxes, sizes)])
