"""``SamModel`` with ``transformers``' signature, over samlabel's ``Sam`` and its decoder path.

    model = SamModel.from_pretrained("sam-vit-base/")   # a local facebook/sam-vit-* snapshot folder
    outputs = model(**processor(images=image, input_points=[[[450, 600]]]))
    outputs.iou_scores      # (B, P, K)
    outputs.pred_masks      # (B, P, K, 256, 256) low-res logits

The weights load through samlabel's checkpoint reader and the Hugging Face key map
(``samlabel.sam.files.hf_mapping``); ``config.json`` maps onto samlabel's config through
:mod:`samlabel.sam.compat.hf_config`. The encoder runs through
``compute_path.encode_image`` and the decoder through ``compute_path.decoder_for``, one image
at a time, its P prompts as one batch. The one thing ``transformers`` adds to Meta's model is
the pad label ``-10``: such a point is a zero token (Meta's ``-1`` is the not-a-point
embedding). Prompts with it are decoded on the plain path through :class:`_PadLabelModel`,
a view of the model whose prompt encoder zeroes those tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from samlabel.sam.compat.hf_config import SamConfig
from samlabel.sam.compute_path import decoder_for, encode_image, resolve_path

PAD_LABEL = -10
PathLike = Union[str, Path]


@dataclass
class SamImageSegmentationOutput:
    """``iou_scores (B, P, K)`` and ``pred_masks (B, P, K, h, w)`` low-res logits.

    Indexable like ``transformers``' ``ModelOutput``: ``out[0]``, ``out["pred_masks"]``.
    """

    iou_scores: torch.Tensor
    pred_masks: torch.Tensor
    vision_hidden_states: Optional[Any] = None
    vision_attentions: Optional[Any] = None
    mask_decoder_attentions: Optional[Any] = None

    def to_tuple(self) -> tuple:
        return tuple(v for v in (self.iou_scores, self.pred_masks, self.vision_hidden_states,
                                 self.vision_attentions, self.mask_decoder_attentions) if v is not None)

    def __getitem__(self, key: Union[int, str]) -> Any:
        return getattr(self, key) if isinstance(key, str) else self.to_tuple()[key]


class _PadLabelPromptEncoder:
    """samlabel's prompt encoder, with ``transformers``' pad label: a ``-10`` point is a zero token."""

    def __init__(self, encoder: nn.Module) -> None:
        self._encoder = encoder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)

    def __call__(self, points=None, boxes=None, masks=None):
        if points is None:
            return self._encoder(points=points, boxes=boxes, masks=masks)
        coords, labels = points
        pad = labels == PAD_LABEL
        sparse, dense = self._encoder(points=(coords, torch.where(pad, -1, labels)), boxes=boxes, masks=masks)
        sparse = sparse.clone()
        sparse[:, : pad.shape[1]][pad] = 0.0
        return sparse, dense


class _PadLabelModel:
    """A view of a ``Sam`` whose prompt encoder is :class:`_PadLabelPromptEncoder` (for ``PlainDecoder``)."""

    def __init__(self, model: nn.Module) -> None:
        self._model = model
        self.prompt_encoder = _PadLabelPromptEncoder(model.prompt_encoder)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


class SamModel(nn.Module):
    """``transformers``' ``SamModel`` interface over a samlabel ``Sam``.

    Arguments:
      sam: the samlabel model (``build_sam``); ``config``: its ``transformers`` config
        (derived from ``sam.config`` when omitted); ``path``: ``"fast"`` or ``"plain"``
        (``samlabel.sam.compute_path``).
    """

    def __init__(self, sam: nn.Module, config: Optional[SamConfig] = None, path: Optional[str] = None) -> None:
        super().__init__()
        self.sam = sam
        self.config = config if config is not None else SamConfig.from_sam_config(sam.config)
        self.path = resolve_path(path)

    @classmethod
    def from_pretrained(cls, path: PathLike, device: Optional[Union[str, torch.device]] = None,
                        compute_path: Optional[str] = None) -> "SamModel":
        """A local folder with ``config.json`` and ``model.safetensors`` (or ``pytorch_model.bin``).

        Hub names are not fetched: download the snapshot first (``huggingface_hub.snapshot_download``).
        """
        from samlabel.sam.build import build_sam

        folder = Path(path)
        _check(folder.is_dir(), f"{path}: not a folder; pass a local Hugging Face snapshot folder "
                                "(config.json + model.safetensors)")
        config = SamConfig.from_pretrained(folder)
        native = config.to_sam_config(name=f"hf:{folder.name}")
        return cls(build_sam(native, checkpoint=folder, device=device), config, compute_path)

    @property
    def device(self) -> torch.device:
        return self.sam.device

    @property
    def image_size(self) -> int:
        return int(self.sam.config.input_size)

    # ------------------------------------------------------------------ embeddings
    @torch.no_grad()
    def get_image_embeddings(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, C, S, S)`` normalised, padded pixels (the processor's) -> ``(B, D, S/16, S/16)``."""
        s = self.image_size
        channels = self.sam.in_channels
        _check(isinstance(pixel_values, torch.Tensor) and pixel_values.ndim == 4
               and tuple(pixel_values.shape[1:]) == (channels, s, s),
               f"pixel_values must be a (B, {channels}, {s}, {s}) tensor, got "
               f"{tuple(pixel_values.shape) if hasattr(pixel_values, 'shape') else type(pixel_values).__name__}")
        x = pixel_values.to(device=self.device, dtype=self.sam.pixel_mean.dtype)
        return encode_image(self.sam, x, None, self.path)

    def get_image_wide_positional_embeddings(self) -> torch.Tensor:
        """``(1, D, h, w)``: the dense positional encoding of the embedding grid."""
        return self.sam.prompt_encoder.get_dense_pe()

    # ------------------------------------------------------------------ forward
    @torch.no_grad()
    def forward(
        self,
        pixel_values: Optional[torch.Tensor] = None,
        input_points: Optional[torch.Tensor] = None,
        input_labels: Optional[torch.Tensor] = None,
        input_boxes: Optional[torch.Tensor] = None,
        input_masks: Optional[torch.Tensor] = None,
        image_embeddings: Optional[torch.Tensor] = None,
        multimask_output: bool = True,
        attention_similarity: Optional[torch.Tensor] = None,
        target_embedding: Optional[torch.Tensor] = None,
        original_sizes: Any = None,
        reshaped_input_sizes: Any = None,
    ) -> SamImageSegmentationOutput:
        """Masks for B images and P prompts each.

        Arguments (the processor's output can be passed as ``**inputs``; its sizes are ignored):
          pixel_values ``(B, 3, S, S)`` or image_embeddings ``(B, D, h, w)`` (exactly one);
          input_points ``(B, P, N, 2)`` and input_labels ``(B, P, N)`` (1, 0, -1, or -10 for
          padding; ones when omitted), input_boxes ``(B, P, 4)``, all in the resized frame;
          input_masks ``(B, 1, 4h, 4w)`` low-res logits, one per image for all its prompts.
        Returns ``iou_scores (B, P, K)`` and ``pred_masks (B, P, K, 4h, 4w)``; K = 3 or 1.
        """
        _check(attention_similarity is None and target_embedding is None,
               "attention_similarity and target_embedding (PerSAM) are not supported")
        _check((pixel_values is None) != (image_embeddings is None),
               "Exactly one of pixel_values and image_embeddings must be provided.")
        embeddings = self.get_image_embeddings(pixel_values) if pixel_values is not None else image_embeddings
        pe = self.sam.prompt_encoder
        grid = tuple(pe.image_embedding_size)
        _check(isinstance(embeddings, torch.Tensor) and embeddings.ndim == 4
               and tuple(embeddings.shape[1:]) == (pe.embed_dim, *grid),
               f"image_embeddings must be (B, {pe.embed_dim}, {grid[0]}, {grid[1]}), got "
               f"{tuple(getattr(embeddings, 'shape', ()))}")
        batch = embeddings.shape[0]
        points, labels, boxes, masks = self._check_prompts(input_points, input_labels, input_boxes, input_masks, batch)
        embeddings = embeddings.to(device=self.device, dtype=self.sam.pixel_mean.dtype)
        ious, lows = [], []
        for b in range(batch):
            coords = points[b] if points is not None else None
            labs = labels[b] if labels is not None else None
            box = boxes[b] if boxes is not None else None
            n = coords.shape[0] if coords is not None else box.shape[0] if box is not None else 1
            mask = masks[b : b + 1].expand(n, -1, -1, -1) if masks is not None else None
            padded = labs is not None and bool((labs == PAD_LABEL).any())
            decoder = decoder_for(_PadLabelModel(self.sam), "plain") if padded else decoder_for(self.sam, self.path)
            ctx = decoder.prepare(embeddings[b : b + 1])
            low, iou = decoder.decode(ctx, coords, labs, box, mask, bool(multimask_output))
            lows.append(low)
            ious.append(iou)
        return SamImageSegmentationOutput(iou_scores=torch.stack(ious), pred_masks=torch.stack(lows))

    def _check_prompts(self, points, labels, boxes, masks, batch: int):
        dev = self.device
        if points is not None:
            points = torch.as_tensor(points)
            _check(points.ndim == 4 and points.shape[-1] == 2,
                   f"input_points must be a 4D tensor (batch_size, point_batch_size, nb_points_per_image, 2), "
                   f"got {tuple(points.shape)}")
            _check(points.shape[0] == batch,
                   f"input_points have batch {points.shape[0]} but there are {batch} images")
            if labels is None:
                labels = torch.ones(points.shape[:3], dtype=torch.int64)
            labels = torch.as_tensor(labels)
            _check(tuple(labels.shape) == tuple(points.shape[:3]),
                   f"input_labels must have shape {tuple(points.shape[:3])}, got {tuple(labels.shape)}")
            _check(bool(torch.isin(labels, torch.tensor([1, 0, -1, PAD_LABEL])).all()),
                   f"input_labels must be 1, 0, -1 or {PAD_LABEL}, got {torch.unique(labels).tolist()}")
            points, labels = points.to(dev, torch.float32), labels.to(dev, torch.int64)
        elif labels is not None:
            raise ValueError("input_labels were given without input_points")
        if boxes is not None:
            boxes = torch.as_tensor(boxes)
            _check(boxes.ndim == 3 and boxes.shape[-1] == 4,
                   f"input_boxes must be a 3D tensor (batch_size, nb_boxes, 4), got {tuple(boxes.shape)}")
            _check(boxes.shape[0] == batch, f"input_boxes have batch {boxes.shape[0]} but there are {batch} images")
            if points is not None:
                _check(points.shape[1] == boxes.shape[1],
                       "You should provide as many bounding boxes as input points per box. "
                       f"Got {points.shape[1]} and {boxes.shape[1]}.")
            boxes = boxes.to(dev, torch.float32)
        if masks is not None:
            masks = torch.as_tensor(masks)
            side = tuple(self.sam.prompt_encoder.mask_input_size)
            if masks.ndim == 3:
                masks = masks[:, None]
            _check(masks.ndim == 4 and tuple(masks.shape[1:]) == (1, *side) and masks.shape[0] == batch,
                   f"input_masks must be ({batch}, 1, {side[0]}, {side[1]}), got {tuple(masks.shape)}")
            masks = masks.to(dev, torch.float32)
        return points, labels, boxes, masks
