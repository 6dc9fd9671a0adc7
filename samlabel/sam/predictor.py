"""``SamPredictor``: the official interactive API, on top of ImageEmbedding + DecoderSession.

Same methods and return values as Meta's ``segment_anything.SamPredictor``. The per-image
state is one immutable :class:`~samlabel.sam.embedding.ImageEmbedding` plus its cached
:class:`~samlabel.sam.interactive.DecoderSession`; ``set_embedding`` installs an embedding
computed elsewhere (worker thread, disk cache). Decoding goes through the same
``DecoderSession`` as the GUI's fast path.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from samlabel.sam.compute_path import resolve_path
from samlabel.sam.embedding import ImageEmbedding, compute_embedding, embed_input_tensor
from samlabel.sam.interactive import MASK_INPUT_SIDE, DecoderSession, Prompt
from samlabel.sam.fast.mask_upscale import binary_masks_full
from samlabel.sam.model_family import is_sam2, resizer_for
from samlabel.sam.sam1.resizer import longest_side_shape, upscale_full
from samlabel.sam.sam2.transforms import binary_masks_stretched, upscale_stretched

# SAM 2's predictor returns its low-res logits clamped to this range (and feeds them back so).
SAM2_LOGIT_CLAMP = 32.0

_NOT_SET = "An image must be set with .set_image(...) (or .set_embedding(...)) before mask prediction."


class SamPredictor:
    """Computes an image embedding once, then predicts masks for many prompts.

    Arguments:
      sam_model: a ``samlabel.sam.Sam`` (SAM 1, MobileSAM) or a SAM 2 / 2.1 image model
        (``build_sam("sam2.1_hiera_tiny", ...)``).
      path: ``"fast"`` or ``"plain"``; default ``$SAMLABEL_COMPUTE_PATH``, else ``"fast"``
        (``samlabel.sam.compute_path``). Both give the same results up to float rounding.

    With a SAM 2 model the results are those of Meta's ``SAM2ImagePredictor`` (its image
    transform, its box-as-points prompts, masks resized straight to the image, low-res
    logits clamped to [-32, 32]); ``transform`` is then SAM 2's stretch to the input square.
    """

    def __init__(self, sam_model: torch.nn.Module, path: Optional[str] = None) -> None:
        self.model = sam_model
        self.path = resolve_path(path)
        self.is_sam2 = is_sam2(sam_model)
        self.transform = resizer_for(sam_model)
        self.reset_image()

    # ------------------------------------------------------------------ image
    def set_image(
        self,
        image: np.ndarray,
        image_format: str = "RGB",
        cancel: Optional[Callable[[], bool]] = None,
    ) -> None:
        """Compute the embedding of ``image`` (``(H, W, 3)`` uint8 in ``image_format``).

        Also accepted: grayscale ``(H, W)``/``(H, W, 1)``, RGBA (alpha dropped), uint16
        (scaled to 8 bits). Other shapes or dtypes raise ``ValueError``.
        The previous image is forgotten first, so after a failure (bad image, ``Cancelled``)
        ``predict`` raises instead of silently answering for the previous image.
        """
        self.reset_image()
        self.set_embedding(compute_embedding(self.model, image, cancel=cancel, image_format=image_format,
                                             path=self.path))

    @torch.no_grad()
    def set_torch_image(self, transformed_image: torch.Tensor, original_image_size: Tuple[int, ...]) -> None:
        """Set an already resized ``(1, 3, h, w)`` image (long side = model input size)."""
        self.reset_image()
        self.set_embedding(embed_input_tensor(self.model, transformed_image, tuple(original_image_size),
                                               path=self.path))

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        """Install a precomputed embedding (raises EmbeddingError if another model made it)."""
        session = DecoderSession(self.model, embedding, path=self.path)
        self._session = session

    @property
    def embedding(self) -> Optional[ImageEmbedding]:
        """The current :class:`ImageEmbedding` (None before ``set_image``)."""
        return None if self._session is None else self._session.embedding

    @property
    def session(self) -> DecoderSession:
        """The cached decoder session of the current image (RuntimeError if none)."""
        if self._session is None:
            raise RuntimeError(_NOT_SET)
        return self._session

    @property
    def is_image_set(self) -> bool:
        return self._session is not None

    @property
    def features(self) -> Optional[torch.Tensor]:
        return None if self._session is None else self._session.embedding.features

    @property
    def original_size(self) -> Optional[Tuple[int, int]]:
        return None if self._session is None else self._session.embedding.original_size

    @property
    def input_size(self) -> Optional[Tuple[int, int]]:
        return None if self._session is None else self._session.embedding.input_size

    @property
    def device(self) -> torch.device:
        return self.model.device

    def get_image_embedding(self) -> torch.Tensor:
        """The image features ``(1, C, h, w)`` (``(1, 256, 64, 64)`` for SAM)."""
        if self._session is None:
            raise RuntimeError("An image must be set with .set_image(...) to generate an embedding.")
        return self._session.embedding.features

    def reset_image(self) -> None:
        """Forget the current image."""
        self._session: Optional[DecoderSession] = None

    clear_image = reset_image

    # ------------------------------------------------------------------ prompts
    def predict(
        self,
        point_coords: Optional[np.ndarray] = None,
        point_labels: Optional[np.ndarray] = None,
        box: Optional[np.ndarray] = None,
        mask_input: Optional[np.ndarray] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks for one prompt, in original-image pixels.

        Arguments:
          point_coords: ``(N, 2)`` xy; point_labels: ``(N,)`` (1 foreground, 0 background).
          box: ``(4,)`` xyxy. mask_input: ``(1, 256, 256)`` logits from a previous call.
        Returns ``masks (K, H, W)`` (bool, or float logits with ``return_logits``),
        ``scores (K,)`` and low-res ``logits (K, 256, 256)``; K is 3 or 1.
        """
        session = self.session
        if point_coords is not None and point_labels is None:
            raise ValueError("point_labels must be supplied if point_coords is supplied.")
        if point_labels is not None and point_coords is None:
            raise ValueError("point_coords must be supplied if point_labels is supplied.")
        prompt = Prompt(
            points=np.zeros((0, 2)) if point_coords is None else point_coords,
            labels=np.zeros((0,), np.int64) if point_labels is None else point_labels,
            box=box,
            mask_input=mask_input,
            multimask=multimask_output,
        )
        pred = session.decode(prompt)
        logits = pred.logits
        if self.is_sam2:
            logits = np.clip(logits, -SAM2_LOGIT_CLAMP, SAM2_LOGIT_CLAMP)
        return pred.masks(return_logits=return_logits), pred.scores, logits

    @torch.no_grad()
    def predict_torch(
        self,
        point_coords: Optional[torch.Tensor],
        point_labels: Optional[torch.Tensor],
        boxes: Optional[torch.Tensor] = None,
        mask_input: Optional[torch.Tensor] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batched prompts already in the INPUT frame (use ``self.transform.scale_points``).

        Arguments: ``point_coords (B, N, 2)``, ``point_labels (B, N)``, ``boxes (B, 4)``,
        ``mask_input (B, 1, 256, 256)``. Returns ``masks (B, K, H, W)``, ``scores (B, K)``,
        ``logits (B, K, 256, 256)``.
        """
        session = self.session
        b = _check_batched(point_coords, point_labels, boxes, mask_input)
        low, iou = session.decode_torch(point_coords, point_labels, boxes, mask_input, multimask_output)
        assert low.shape[0] == b
        emb = session.embedding
        if self.is_sam2:
            if return_logits or low.device.type != "cpu":
                masks = upscale_stretched(low, emb.original_size)
                masks = masks if return_logits else masks > self.model.mask_threshold
            else:
                masks = torch.from_numpy(binary_masks_stretched(low, emb.original_size, self.model.mask_threshold))
            return masks, iou, low.clamp(-SAM2_LOGIT_CLAMP, SAM2_LOGIT_CLAMP)
        if self.path == "plain":  # the reference's upscaling, as Sam.postprocess_masks does it
            masks = self.model.postprocess_masks(low, emb.input_size, emb.original_size)
            return (masks if return_logits else masks > self.model.mask_threshold), iou, low
        if not return_logits and low.device.type == "cpu":
            masks = torch.from_numpy(binary_masks_full(low, self.transform.target_length, emb.input_size,
                                                       emb.original_size, self.model.mask_threshold))
            return masks, iou, low
        masks = upscale_full(low, self.transform.target_length, emb.input_size, emb.original_size)
        if not return_logits:
            masks = masks > self.model.mask_threshold
        return masks, iou, low

    def preprocess_masks(self, masks) -> torch.Tensor:
        """Full-resolution mask logits ``(..., H, W)`` -> ``(..., 1?, 256, 256)`` mask input.

        The inverse of the upscaling: bilinear resize of the original-size logits to the
        low-res frame (longest side 256) and zero padding to 256x256. Boolean masks are
        first turned into logits of +/-10. Returns a float32 tensor; for ``(H, W)`` input
        the result is ``(1, 256, 256)``, ready for ``predict(mask_input=...)``.
        """
        if self._session is None:
            raise RuntimeError(_NOT_SET)
        t = torch.as_tensor(np.asarray(masks) if not isinstance(masks, torch.Tensor) else masks)
        H, W = self._session.embedding.original_size
        if t.ndim < 2 or tuple(t.shape[-2:]) != (H, W):
            raise ValueError(f"masks must have shape (..., H, W) = (..., {H}, {W}), got {tuple(t.shape)}")
        t = torch.where(t, 10.0, -10.0) if t.dtype == torch.bool else t.to(torch.float32)
        lead = t.shape[:-2] if t.ndim > 2 else (1,)
        flat = t.reshape(1, -1, H, W)
        if self.is_sam2:  # SAM 2's low-res grid covers the whole image, stretched
            small = F.interpolate(flat, (MASK_INPUT_SIDE, MASK_INPUT_SIDE), mode="bilinear", align_corners=False)
            return small.reshape(*lead, MASK_INPUT_SIDE, MASK_INPUT_SIDE)
        h, w = longest_side_shape(H, W, MASK_INPUT_SIDE)
        small = F.interpolate(flat, (h, w), mode="bilinear", align_corners=False)
        small = F.pad(small, (0, MASK_INPUT_SIDE - w, 0, MASK_INPUT_SIDE - h))
        return small.reshape(*lead, MASK_INPUT_SIDE, MASK_INPUT_SIDE)


def _check_batched(point_coords, point_labels, boxes, mask_input) -> int:
    """Validate batched torch prompts; returns the batch size B."""
    sizes = []
    if (point_coords is None) != (point_labels is None):
        raise ValueError("point_coords and point_labels must be given together")
    if point_coords is not None:
        if point_coords.ndim != 3 or point_coords.shape[-1] != 2:
            raise ValueError(f"point_coords must have shape (B, N, 2), got {tuple(point_coords.shape)}")
        if tuple(point_labels.shape) != tuple(point_coords.shape[:2]):
            raise ValueError(
                f"point_labels must have shape (B, N) = {tuple(point_coords.shape[:2])}, got {tuple(point_labels.shape)}"
            )
        sizes.append(point_coords.shape[0])
    if boxes is not None:
        if boxes.ndim != 2 or boxes.shape[-1] != 4:
            raise ValueError(f"boxes must have shape (B, 4), got {tuple(boxes.shape)}")
        sizes.append(boxes.shape[0])
    if mask_input is not None:
        if mask_input.ndim != 4 or tuple(mask_input.shape[1:]) != (1, MASK_INPUT_SIDE, MASK_INPUT_SIDE):
            raise ValueError(f"mask_input must have shape (B, 1, 256, 256), got {tuple(mask_input.shape)}")
        sizes.append(mask_input.shape[0])
    if len(set(sizes)) > 1:
        raise ValueError(f"prompt batch sizes differ: {sizes}")
    return sizes[0] if sizes else 1
