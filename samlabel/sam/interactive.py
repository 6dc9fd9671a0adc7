"""The interactive fast path: prompt -> low-res logits -> only the pixels on screen.

This is the call the GUI uses for hover, click and drag prompts::

    session = DecoderSession(model, embedding)      # once per (model, image embedding)
    pred = session.decode(Prompt(points=[[x, y]], labels=[1]))   # original-image pixels
    k = pred.best_index()                           # highest predicted IoU
    view = pred.mask(k, region=(x0, y0, x1, y1), out_size=(h, w))  # (h, w) bool, on screen
    next_prompt = Prompt(..., mask_input=pred.logits[k][None])      # refine with a click

* ``DecoderSession`` computes the prompt-independent decoder work once per image
  (``prepare`` of the path's decoder, see ``samlabel.sam.compute_path``), so each hover
  only runs the prompt-dependent part of the decoder.
  It keeps a reference to an immutable :class:`~samlabel.sam.embedding.ImageEmbedding`
  and nothing mutable is shared: one session per thread, or a session per request.
* ``Prediction`` holds the K low-res ``(K, 256, 256)`` logits and scores only. ``mask`` and
  ``logits_for`` upscale ONE candidate and ONLY the requested region of the original image
  (``region=(x0, y0, x1, y1)``, half-open, original pixels), optionally sampled to
  ``out_size=(height, width)`` display pixels by nearest-neighbour. The values are those of
  the full-size reference path (``Sam.postprocess_masks``: bilinear to the padded input
  square, crop, bilinear to the original size) at the selected pixels, within float
  rounding, at a cost proportional to the output size.

``SamPredictor.predict`` and the automatic mask generator decode through ``DecoderSession`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from samlabel.sam.embedding import ImageEmbedding, model_id_of
from samlabel.sam.compute_path import decoder_for
from samlabel.sam.errors import EmbeddingError
from samlabel.sam.fast.mask_upscale import binary_masks_full
from samlabel.sam.model_family import is_sam2, resizer_for
from samlabel.sam.sam1.resizer import image_window, upscale_full
from samlabel.sam.sam2.transforms import binary_masks_stretched, upscale_stretched
from samlabel.sam.fast.traced_decoder import traced_decoder_for

MASK_INPUT_SIDE = 256


# ---------------------------------------------------------------------- prompt
@dataclass(frozen=True)
class Prompt:
    """One interactive prompt, in ORIGINAL image pixels.

    Attributes:
      points: ``(N, 2)`` float xy (N may be 0).
      labels: ``(N,)`` int, 1 foreground, 0 background, -1 ignored (other values: ValueError).
      box: ``(4,)`` xyxy or None; corners are reordered to (top-left, bottom-right).
      mask_input: ``(1, 256, 256)`` low-res logits of a previous prediction, or None.
      multimask: return 3 candidates (True) or 1 (False).
    """

    points: Any = field(default_factory=lambda: np.zeros((0, 2)))
    labels: Any = field(default_factory=lambda: np.zeros((0,), np.int64))
    box: Any = None
    mask_input: Any = None
    multimask: bool = True

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64)
        if pts.size == 0:
            pts = pts.reshape(0, 2)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"point_coords must have shape (N, 2) (x, y), got {pts.shape}")
        lab = np.asarray(self.labels)
        if lab.size == 0:
            lab = lab.reshape(0)
        if lab.ndim != 1 or lab.shape[0] != pts.shape[0]:
            raise ValueError(
                f"point_labels must have shape (N,) matching point_coords (N={pts.shape[0]}), got {lab.shape}"
            )
        if not np.isfinite(pts).all():
            raise ValueError("point_coords must be finite")
        if lab.size and not np.isin(lab, (-1, 0, 1)).all():
            raise ValueError(
                f"point_labels must be 1 (foreground), 0 (background) or -1 (ignored), got {np.unique(lab).tolist()}"
            )
        box = self.box
        if box is not None:
            box = np.asarray(box, dtype=np.float64)
            if box.shape not in ((4,), (1, 4)):
                raise ValueError(f"box must have shape (4,) (x0, y0, x1, y1), got {box.shape}")
            box = box.reshape(4)
            if not np.isfinite(box).all():
                raise ValueError(f"box must be finite (x0, y0, x1, y1), got {box.tolist()}")
            # The model embeds (top-left, bottom-right) corners: a box dragged the other way round
            # would otherwise be read as a different, meaningless prompt.
            box = np.array([min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])])
        mask = self.mask_input
        if mask is not None:
            mask = np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask, dtype=np.float32)
            if mask.shape == (MASK_INPUT_SIDE, MASK_INPUT_SIDE):
                mask = mask[None]
            if mask.shape != (1, MASK_INPUT_SIDE, MASK_INPUT_SIDE):
                raise ValueError(
                    f"mask_input must have shape (1, 256, 256) (low-res logits of a previous prediction), got {mask.shape}"
                )
            if not np.isfinite(mask).all():
                raise ValueError("mask_input must be finite (low-res logits of a previous prediction)")
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "labels", lab.astype(np.int64))
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "mask_input", mask)
        object.__setattr__(self, "multimask", bool(self.multimask))

    @property
    def has_points(self) -> bool:
        return self.points.shape[0] > 0


# ---------------------------------------------------------------------- decoding
def prepare_context(
    model: torch.nn.Module, features: torch.Tensor, path: Optional[str] = None, high_res_features: Sequence = ()
) -> Any:
    """The per-image decoder context of ``model`` on the chosen path (``compute_path``);
    SAM 2 models also need the embedding's ``high_res_features``."""
    return _prepare(decoder_for(model, path), features, high_res_features)


def _prepare(decoder: Any, features: torch.Tensor, high_res_features: Sequence) -> Any:
    if hasattr(decoder.model, "sam_mask_decoder"):  # SAM 2 decodes with the high-resolution maps
        return decoder.prepare(features, tuple(high_res_features))
    return decoder.prepare(features)


class DecoderSession:
    """Decoder state cached for one (model, embedding): decode many prompts cheaply.

    Holds only references to read-only data; build one per thread (it is cheap compared
    with a decode: one pass over the prompt-independent decoder parts).
    """

    def __init__(
        self, model: torch.nn.Module, embedding: ImageEmbedding, context: Any = None, path: Optional[str] = None
    ) -> None:
        expected = model_id_of(model)
        if embedding.model_id != expected:
            raise EmbeddingError(
                f"embedding was made by model {embedding.model_id!r}, not by the current model {expected!r}"
            )
        self.model = model
        self.embedding = embedding.to(model.device)
        self.resizer = resizer_for(model)
        self.stretched = is_sam2(model)  # SAM 2: the image fills the input square, no padding
        self.mask_threshold = float(getattr(model, "mask_threshold", 0.0))
        self.decoder = decoder_for(model, path)
        self.context = (context if context is not None
                        else _prepare(self.decoder, self.embedding.features, self.embedding.high_res_features))

    def image_window(self) -> Tuple[int, int]:
        """Low-res rows and columns ``(r, c)`` that cover the image (``resizer.image_window``);
        all of them for SAM 2."""
        if self.stretched:
            return MASK_INPUT_SIDE, MASK_INPUT_SIDE
        return image_window(self.embedding.input_size, self.resizer.target_length, MASK_INPUT_SIDE)

    def decode(self, prompt: Prompt, image_only: bool = False) -> "Prediction":
        """Decode one prompt (original-image pixels) into a :class:`Prediction`.

        ``image_only=True`` (the hover preview): only the low-res logits over the image
        (:meth:`image_window`) are computed, the padding of the square model input repeats
        their edge. Everything the image shows (``mask``, ``masks``, ``logits_for``) is
        unchanged, but such logits must not be fed back as ``mask_input``, which reads the
        whole ``256 x 256`` square. Saves ~40% of the decoder's upscaling on a 16:9 image.
        Such previews repeat one prompt shape hundreds of times, so they also run through
        the model's recorded decoder (:mod:`samlabel.sam.fast.traced_decoder`; same outputs,
        without Python between the ops); :meth:`warm_hover` records it ahead of the first.
        """
        size = self.embedding.original_size
        device = self.model.device
        coords = labels = boxes = mask = None
        if prompt.has_points:
            pts = self.resizer.scale_points(prompt.points, size)
            coords = torch.as_tensor(pts, dtype=torch.float, device=device)[None]
            labels = torch.as_tensor(prompt.labels, dtype=torch.int, device=device)[None]
        if prompt.box is not None:
            box = self.resizer.scale_boxes(prompt.box, size)
            boxes = torch.as_tensor(box, dtype=torch.float, device=device)
        if prompt.mask_input is not None:
            mask = torch.as_tensor(prompt.mask_input, dtype=torch.float, device=device)[None]
        valid = self.image_window() if image_only else None
        # the Prompt validated these when it was made: the decoder only moves them (checked once)
        low, iou = self.decode_torch(coords, labels, boxes, mask, prompt.multimask, valid, traced=image_only,
                                     checked=True)
        return Prediction(
            logits=low[0].float().cpu().numpy(),
            scores=iou[0].float().cpu().numpy(),
            original_size=self.embedding.original_size,
            input_size=self.embedding.input_size,
            input_side=self.resizer.target_length,
            threshold=self.mask_threshold,
            stretched=self.stretched,
        )

    def decode_torch(
        self,
        point_coords: Optional[torch.Tensor],
        point_labels: Optional[torch.Tensor],
        boxes: Optional[torch.Tensor] = None,
        mask_input: Optional[torch.Tensor] = None,
        multimask_output: bool = True,
        valid_size: Optional[Tuple[int, int]] = None,
        traced: bool = False,
        checked: bool = False,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Batched prompts in the input frame -> ``(B, K, 256, 256)`` logits, ``(B, K)`` scores.

        ``traced=True``: run through the model's :class:`~samlabel.sam.fast.traced_decoder.TracedDecoder`
        (recorded on the first call of each prompt shape; the same outputs), where the model has one.
        ``checked=True``: the tensors come from an already validated :class:`Prompt` (see
        ``input_checks.prompts_on_device``); otherwise the decoder checks them.
        """

        def eager() -> Tuple[torch.Tensor, torch.Tensor]:
            return self.decoder.decode(
                self.context, point_coords, point_labels, boxes, mask_input, multimask_output, valid_size,
                checked=checked,
            )

        recorder = traced_decoder_for(self.model) if traced and self.decoder.path == "fast" else None
        if recorder is None:
            return eager()
        return recorder(self.context, point_coords, point_labels, boxes, mask_input, multimask_output, valid_size,
                        eager)

    def warm_hover(self) -> None:
        """Record the hover preview's decoder ahead of the first hover (see :meth:`decode`).

        One recording serves every image of this size with this model, so after the first
        such image this only decodes one prompt. Decodes a point at the image's centre.
        """
        h, w = self.embedding.original_size
        self.decode(Prompt(points=[[w / 2.0, h / 2.0]], labels=[1], multimask=True), image_only=True)


def decode(model: torch.nn.Module, embedding: ImageEmbedding, prompt: Prompt, context: Any = None) -> "Prediction":
    """One-shot :meth:`DecoderSession.decode` (pass ``context`` from :func:`prepare_context` to reuse it)."""
    return DecoderSession(model, embedding, context).decode(prompt)


# ---------------------------------------------------------------------- upscaling
def _linear_taps(in_size: int, out_size: int, dst: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear (align_corners=False) source indices and weights for output indices ``dst``.

    Same arithmetic as ATen's upsample_bilinear2d: float32 scale, and the source index
    ``scale * (dst + 0.5) - 0.5`` rounded once to float32 (ATen's kernel uses a fused
    multiply-add; rounding twice shifts the weights by up to ~1e-4 at 1000+ px).
    """
    scale = np.float32(in_size) / np.float32(out_size)
    src = (np.float64(scale) * (dst.astype(np.float64) + 0.5) - 0.5).astype(np.float32)
    src = np.maximum(src, np.float32(0.0))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    lam1 = np.clip(src - i0.astype(np.float32), 0, 1).astype(np.float32)
    i1 = np.where(i0 < in_size - 1, i0 + 1, i0)
    return i0, i1, (np.float32(1) - lam1).astype(np.float32), lam1


def _interp_rows(x: np.ndarray, taps) -> np.ndarray:
    """Linear interpolation along axis -2 (numpy: single-threaded gathers beat torch's here)."""
    i0, i1, l0, l1 = taps
    return np.take(x, i0, axis=-2) * l0[:, None] + np.take(x, i1, axis=-2) * l1[:, None]


def _interp_cols(x: np.ndarray, taps) -> np.ndarray:
    """Linear interpolation along the last axis."""
    i0, i1, l0, l1 = taps
    return np.take(x, i0, axis=-1) * l0 + np.take(x, i1, axis=-1) * l1


def upscale_at(
    low_res: torch.Tensor,
    input_side: int,
    input_size: Tuple[int, int],
    original_size: Tuple[int, int],
    rows: np.ndarray,
    cols: np.ndarray,
) -> torch.Tensor:
    """Full-size logits ``postprocess_masks(low_res)[..., rows, :][..., cols]`` without the full size.

    ``low_res (..., 256, 256)``; ``rows``/``cols`` are original-image pixel indices.
    The first upsampling runs (bit-exactly, see :func:`upscale_full`) only on the low-res
    window that the requested pixels depend on; the second is evaluated at the requested
    pixels only, with ATen's weights. Cost is proportional to the window and the output.
    Returns a float32 numpy array ``(..., len(rows), len(cols))``.
    """
    side = low_res.shape[-1]
    h_in, w_in = input_size
    H, W = original_size
    r2 = _linear_taps(h_in, H, rows)  # original pixel -> input-frame pixel
    c2 = _linear_taps(w_in, W, cols)
    if input_side % side or low_res.shape[-2] != side:  # generic (non-integer factor) fallback
        stage1 = F.interpolate(low_res.reshape(-1, 1, side, side), (input_side, input_side), mode="bilinear",
                               align_corners=False).reshape(*low_res.shape[:-2], input_side, input_side)
        return _interp_rows(_interp_cols(stage1.numpy(), c2), r2)
    factor = input_side // side
    # low-res window with one row/col of margin so that border clamping never differs
    a0 = max(0, int(r2[0].min()) // factor - 1)
    a1 = min(side, int(r2[1].max()) // factor + 2)
    b0 = max(0, int(c2[0].min()) // factor - 1)
    b1 = min(side, int(c2[1].max()) // factor + 2)
    lead = low_res.shape[:-2]
    window = low_res[..., a0:a1, b0:b1].reshape(-1, 1, a1 - a0, b1 - b0)
    stage1 = F.interpolate(window, scale_factor=float(factor), mode="bilinear", align_corners=False,
                           recompute_scale_factor=False)
    stage1 = stage1.reshape(*lead, *stage1.shape[-2:]).numpy()
    oy, ox = factor * a0, factor * b0
    r2 = (r2[0] - oy, r2[1] - oy, r2[2], r2[3])
    c2 = (c2[0] - ox, c2[1] - ox, c2[2], c2[3])
    return _interp_rows(_interp_cols(stage1, c2), r2)


# ---------------------------------------------------------------------- prediction
@dataclass(frozen=True)
class Prediction:
    """Result of one prompt: K candidates as low-res logits.

    Attributes:
      logits: ``(K, 256, 256)`` float32 low-res logits (feed one back as ``mask_input``).
      scores: ``(K,)`` predicted IoUs.
      original_size: ``(H, W)`` of the image.
      input_size: ``(h, w)`` of the resized image in the model input.
      input_side: the square model input side (1024).
      threshold: logit threshold of a foreground pixel (``model.mask_threshold``).
      stretched: SAM 2's frame: the logits cover the whole image (stretched to the square)
        and go to the original size by one bilinear resize (SAM 2's ``postprocess_masks``).
    """

    logits: np.ndarray
    scores: np.ndarray
    original_size: Tuple[int, int]
    input_size: Tuple[int, int]
    input_side: int = 1024
    threshold: float = 0.0
    stretched: bool = False

    def best_index(self) -> int:
        """Index of the candidate with the highest predicted IoU."""
        return int(np.argmax(self.scores))

    def _index(self, index: Optional[int]) -> int:
        k = self.best_index() if index is None else int(index)
        if not -len(self.scores) <= k < len(self.scores):
            raise IndexError(f"candidate index {index} out of range for {len(self.scores)} candidates")
        return k % len(self.scores)

    def _pixels(self, region: Optional[Sequence[int]], out_size: Optional[Tuple[int, int]]):
        H, W = self.original_size
        if region is None:
            x0, y0, x1, y1 = 0, 0, W, H
        else:
            if len(region) != 4:
                raise ValueError(f"region must be (x0, y0, x1, y1) in original pixels, got {region!r}")
            x0, y0 = max(0, int(region[0])), max(0, int(region[1]))
            x1, y1 = min(W, int(region[2])), min(H, int(region[3]))
            if x1 <= x0 or y1 <= y0:
                raise ValueError(f"region {tuple(region)} is empty inside the image of size (H, W)={(H, W)}")
        rh, rw = y1 - y0, x1 - x0
        oh, ow = (rh, rw) if out_size is None else (int(out_size[0]), int(out_size[1]))
        if oh <= 0 or ow <= 0:
            raise ValueError(f"out_size must be positive (height, width), got {out_size!r}")
        rows = y0 + np.minimum(((np.arange(oh) + 0.5) * rh / oh).astype(np.int64), rh - 1)
        cols = x0 + np.minimum(((np.arange(ow) + 0.5) * rw / ow).astype(np.int64), rw - 1)
        return rows, cols, (region is None and out_size is None)

    def logits_for(
        self,
        index: Optional[int] = None,
        region: Optional[Sequence[int]] = None,
        out_size: Optional[Tuple[int, int]] = None,
    ) -> np.ndarray:
        """Full-resolution logits of ONE candidate (default: the best), ``(h, w)`` float32.

        ``region=(x0, y0, x1, y1)`` (original pixels, half-open, clipped to the image)
        selects a window; ``out_size=(height, width)`` samples it by nearest neighbour
        (output pixel ``i`` takes original row ``y0 + floor((i + 0.5) * (y1 - y0) / height)``).
        """
        k = self._index(index)
        rows, cols, full = self._pixels(region, out_size)
        low = torch.from_numpy(np.ascontiguousarray(self.logits[k]))
        if self.stretched:
            if full:
                return upscale_stretched(low, self.original_size).numpy()
            H, W = self.original_size
            side_h, side_w = low.shape
            return _interp_rows(_interp_cols(low.numpy(), _linear_taps(side_w, W, cols)), _linear_taps(side_h, H, rows))
        if full:
            out = upscale_full(low[None, None], self.input_side, self.input_size, self.original_size)[0, 0]
        else:
            return upscale_at(low, self.input_side, self.input_size, self.original_size, rows, cols)
        return out.numpy()

    def mask(
        self,
        index: Optional[int] = None,
        region: Optional[Sequence[int]] = None,
        out_size: Optional[Tuple[int, int]] = None,
    ) -> np.ndarray:
        """Boolean mask of one candidate: ``logits_for(...) > threshold``, shape ``(h, w)``."""
        return self.logits_for(index, region, out_size) > self.threshold

    def masks(self, return_logits: bool = False) -> np.ndarray:
        """All K candidates at full size ``(K, H, W)`` (bool, or float32 logits).

        Logits are the reference's bit for bit; booleans come from
        :func:`~samlabel.sam.fast.mask_upscale.binary_masks_full` (OpenCV resizes, faster than ATen's; a
        pixel differs only where its logit is within ~1e-4 of the threshold).
        """
        low = torch.from_numpy(np.ascontiguousarray(self.logits))[None]
        if self.stretched:
            if not return_logits:
                return binary_masks_stretched(low, self.original_size, self.threshold)[0]
            return upscale_stretched(low, self.original_size)[0].numpy()
        if not return_logits:
            return binary_masks_full(low, self.input_side, self.input_size, self.original_size, self.threshold)[0]
        return upscale_full(low, self.input_side, self.input_size, self.original_size)[0].numpy()
