"""tfimm's ``SAMPredictor``: set an image once, then predict masks for prompts in its own pixels.

    predictor = SAMPredictor(model)            # a tfimm-style SegmentAnythingModel or a samlabel Sam
    predictor.set_image(image)                 # (H0, W0, 3) uint8 RGB
    masks, scores, logits = predictor(points=np.array([[x, y]]), labels=np.array([1]))
    # masks (K, H0, W0) bool, scores (K,), logits (K, 256, 256)
    masks, scores, logits = predictor(points=pts, labels=lbl)   # batched: (N, M1, 2), (N, M1) -> (N, K, H0, W0)

A thin layer over samlabel's :class:`~samlabel.sam.predictor.SamPredictor`: the embedding is
its ``set_image``, unbatched prompts are its ``predict`` and batched ones its
``predict_torch``, so the answers are SamPredictor's own. Prompts: ``points (M1, 2)`` /
``(N, M1, 2)`` xy and ``labels (M1,)`` / ``(N, M1)`` (1 foreground, 0 background),
``boxes (M2, 4)`` / ``(N, M2, 4)`` xyxy, ``masks (M3, H', W')`` / ``(N, M3, H', W')`` low-res
logits (see :meth:`SAMPredictor.preprocess_masks`), with M2 and M3 in {0, 1}.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import numpy as np
import torch

from samlabel.sam.compat.tfimm_model import SegmentAnythingModel
from samlabel.sam.compat.tfimm_resizer import ImageResizer
from samlabel.sam.predictor import SamPredictor


class SAMPredictor:
    """tfimm's predictor API (``set_image``, ``clear_image``, ``preprocess_masks``, call).

    Arguments: ``model`` (a :class:`SegmentAnythingModel` or a samlabel ``Sam``);
    ``preprocessing`` must be None: the model normalises with its own mean and std.
    """

    def __init__(self, model: Any, preprocessing: Optional[Callable] = None, path: Optional[str] = None) -> None:
        if preprocessing is not None:
            raise ValueError("preprocessing must be None: images are normalised with the model's own mean and std")
        self.model = model if isinstance(model, SegmentAnythingModel) else SegmentAnythingModel.from_sam(model, path)
        self._predictor = SamPredictor(self.model.sam, path=path if path is not None else self.model.path)
        self.resizer: Optional[ImageResizer] = None

    @property
    def image_set(self) -> bool:
        return self._predictor.is_image_set

    @property
    def image_embedding(self) -> Optional[torch.Tensor]:
        """The embedding channels-last, as tfimm's: ``(1, H'', W'', D)`` (None before ``set_image``)."""
        feats = self._predictor.features
        return None if feats is None else feats.permute(0, 2, 3, 1)

    def set_image(self, image: np.ndarray) -> None:
        """Compute the embedding of ``image`` (``(H0, W0, C)``, values in [0, 255]; as ``SamPredictor.set_image``)."""
        self.clear_image()
        self._predictor.set_image(image)
        self.resizer = ImageResizer(src_size=self._predictor.original_size, dst_size=self.input_size())

    def clear_image(self) -> None:
        """Forget the image and its embedding."""
        self._predictor.reset_image()
        self.resizer = None

    def input_size(self) -> Tuple[int, int]:
        """The model's input size ``(H, W)``."""
        return self.model.input_size

    def mask_size(self) -> Tuple[int, int]:
        """The low-res mask size ``(H', W')``."""
        return self.model.mask_size(self.input_size())

    def _require_image(self) -> None:
        if not self.image_set:
            raise ValueError("Need to set image before calling predict().")

    def preprocess_masks(self, mask: np.ndarray) -> np.ndarray:
        """Logits ``(M, H0, W0)`` or ``(N, M, H0, W0)`` in original pixels -> ``(M, H', W')`` / ``(N, M, H', W')``.

        ``SamPredictor.preprocess_masks``: bilinear to the low-res frame, zero padding.
        """
        self._require_image()
        mask = np.asarray(mask)
        if mask.ndim not in (3, 4):
            raise ValueError(f"mask must be (M, H0, W0) or (N, M, H0, W0), got shape {mask.shape}")
        return self._predictor.preprocess_masks(mask).cpu().numpy()

    # ------------------------------------------------------------------ call
    def __call__(
        self,
        points: Optional[np.ndarray] = None,
        labels: Optional[np.ndarray] = None,
        boxes: Optional[np.ndarray] = None,
        masks: Optional[np.ndarray] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ):
        """Masks ``(K, H0, W0)`` / ``(N, K, H0, W0)``, scores ``(K,)`` / ``(N, K)``, logits ``(K, H', W')`` / ``(N, K, H', W')``."""
        self._require_image()
        points, labels, boxes, masks = (None if a is None else np.asarray(a) for a in (points, labels, boxes, masks))
        batch = self._batch_shape(points, labels, boxes, masks)
        mh, mw = self.mask_size()
        points = np.zeros(batch + (0, 2), np.float32) if points is None else points
        labels = np.zeros(batch + (0,), np.int64) if labels is None else labels
        boxes = np.zeros(batch + (0, 4), np.float32) if boxes is None else boxes
        masks = np.zeros(batch + (0, mh, mw), np.float32) if masks is None else masks
        if (points.ndim != len(batch) + 2 or points.shape[-1] != 2 or labels.ndim != len(batch) + 1
                or boxes.ndim != len(batch) + 2 or boxes.shape[-1] != 4
                or masks.ndim != len(batch) + 3 or masks.shape[-2:] != (mh, mw)):
            raise ValueError(
                "prompts must be points (M1, 2), labels (M1,), boxes (M2, 4), masks (M3, H', W') with (H', W') = "
                f"{(mh, mw)}, or all with a leading batch axis N; got {points.shape}, {labels.shape}, {boxes.shape}, "
                f"{masks.shape}"
            )
        if (points.shape[:-2] != batch or labels.shape[:-1] != batch or boxes.shape[:-2] != batch
                or masks.shape[:-3] != batch):
            raise ValueError("All prompts must have the same batch shape.")
        if labels.shape[-1] != points.shape[-2]:
            raise ValueError(f"labels must have one label per point, got {labels.shape} for points {points.shape}")
        if boxes.shape[-2] > 1 or masks.shape[-3] > 1:
            raise ValueError(f"at most one box and one mask per prompt (M2, M3 in {{0, 1}}), got "
                             f"M2={boxes.shape[-2]}, M3={masks.shape[-3]}")
        if batch == ():
            return self._predictor.predict(
                point_coords=points if points.shape[0] else None,
                point_labels=labels if points.shape[0] else None,
                box=boxes[0] if boxes.shape[0] else None,
                mask_input=masks if masks.shape[0] else None,
                multimask_output=multimask_output,
                return_logits=return_logits,
            )
        return self._batched(points, labels, boxes, masks, multimask_output, return_logits, batch[0])

    def _batched(self, points, labels, boxes, masks, multimask_output, return_logits, n):
        p = self._predictor
        size = p.original_size
        dev = p.device
        coords = lab = box = mask = None
        if points.shape[1]:
            coords = torch.as_tensor(p.transform.scale_points(points, size), dtype=torch.float, device=dev)
            lab = torch.as_tensor(labels, dtype=torch.int, device=dev)
        if boxes.shape[1]:
            ordered = np.concatenate([np.minimum(boxes[:, 0, :2], boxes[:, 0, 2:]),
                                      np.maximum(boxes[:, 0, :2], boxes[:, 0, 2:])], axis=-1)  # as Prompt does
            box = torch.as_tensor(p.transform.scale_boxes(ordered, size), dtype=torch.float, device=dev)
        if masks.shape[1]:
            mask = torch.as_tensor(masks, dtype=torch.float, device=dev)
        out_masks, scores, logits = p.predict_torch(coords, lab, box, mask, multimask_output, return_logits)
        if out_masks.shape[0] != n:  # no prompt at all: the same answer for each element
            out_masks, scores, logits = (t.expand(n, *t.shape[1:]) for t in (out_masks, scores, logits))
        return out_masks.cpu().numpy(), scores.float().cpu().numpy(), logits.float().cpu().numpy()

    @staticmethod
    def _batch_shape(points, labels, boxes, masks) -> tuple:
        """``()`` for unbatched prompts, ``(N,)`` for batched ones (from the first one given)."""
        for value, core in ((points, 2), (labels, 1), (boxes, 2), (masks, 3)):
            if value is not None:
                if value.ndim not in (core, core + 1):
                    raise ValueError(f"a prompt of shape {value.shape} has neither the unbatched nor the batched rank")
                return tuple(value.shape[: value.ndim - core])
        return ()
