"""``Sam``: image encoder + prompt encoder + mask decoder, assembled from injected parts.

Mirrors ``segment_anything.modeling.Sam``: same attributes, ``preprocess``,
``postprocess_masks`` and end-to-end ``forward`` (with its inputs checked). Per-image
decoding for interactive work goes through ``samlabel.sam.decoders``, on the plain or the
fast path.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from samlabel.sam.config import SamConfig
from samlabel.sam.modeling.input_checks import check_image_tensor, check_prompts


class Sam(nn.Module):
    mask_threshold: float = 0.0
    image_format: str = "RGB"

    def __init__(
        self,
        image_encoder: nn.Module,
        prompt_encoder: nn.Module,
        mask_decoder: nn.Module,
        pixel_mean: tuple[float, ...] = (123.675, 116.28, 103.53),
        pixel_std: tuple[float, ...] = (58.395, 57.12, 57.375),
        config: Optional[SamConfig] = None,
        model_id: str = "",
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(-1, 1, 1), False)
        self.config = config
        self.model_id = model_id
        if config is not None:
            self.mask_threshold = config.mask_threshold

    @property
    def device(self) -> Any:
        return self.pixel_mean.device

    def grid_size(self) -> tuple[int, int]:
        """Image embedding grid ``(h, w)``, e.g. ``(64, 64)``."""
        return tuple(self.prompt_encoder.image_embedding_size)

    def mask_size(self) -> tuple[int, int]:
        """Low-resolution mask logits size ``(H, W)``, e.g. ``(256, 256)``."""
        return tuple(self.prompt_encoder.mask_input_size)

    @property
    def in_channels(self) -> int:
        return int(self.pixel_mean.shape[0])

    # ------------------------------------------------------------------ official API
    @torch.no_grad()
    def forward(
        self, batched_input: list[dict[str, Any]], multimask_output: bool, return_logits: bool = False
    ) -> list[dict[str, torch.Tensor]]:
        """End-to-end prediction, as the official ``Sam.forward``.

        Each record: ``image`` ``(3, H, W)`` already resized (longest side = input size),
        ``original_size`` ``(H0, W0)``, optional ``point_coords`` ``(B, N, 2)`` with
        ``point_labels`` ``(B, N)``, ``boxes`` ``(B, 4)``, ``mask_inputs`` ``(B, 1, 256, 256)``.
        Returns per image ``masks`` ``(B, K, H0, W0)`` (bool, or logits with ``return_logits``),
        ``iou_predictions`` ``(B, K)`` and ``low_res_logits`` ``(B, K, 256, 256)``.
        """
        if not isinstance(batched_input, (list, tuple)) or not batched_input:
            raise ValueError("batched_input must be a non-empty list of dicts with an 'image' key")
        for i, record in enumerate(batched_input):
            if not isinstance(record, dict) or "image" not in record or "original_size" not in record:
                raise ValueError(f"batched_input[{i}] must be a dict with 'image' and 'original_size'")
            check_image_tensor(record["image"], self.in_channels, self.image_encoder.img_size, f"batched_input[{i}]['image']")
        input_images = torch.stack([self.preprocess(x["image"]) for x in batched_input], dim=0)
        image_embeddings = self.image_encoder(input_images)

        outputs = []
        for record, curr_embedding in zip(batched_input, image_embeddings):
            coords, labels, boxes, masks = check_prompts(
                record.get("point_coords"), record.get("point_labels"), record.get("boxes"),
                record.get("mask_inputs"), self.mask_size(), require_labels="point_coords" in record,
            )
            points = (coords, labels) if coords is not None else None
            sparse_embeddings, dense_embeddings = self.prompt_encoder(points=points, boxes=boxes, masks=masks)
            low_res_masks, iou_predictions = self.mask_decoder(
                image_embeddings=curr_embedding.unsqueeze(0),
                image_pe=self.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse_embeddings,
                dense_prompt_embeddings=dense_embeddings,
                multimask_output=multimask_output,
            )
            out_masks = self.postprocess_masks(
                low_res_masks, input_size=record["image"].shape[-2:], original_size=record["original_size"]
            )
            if not return_logits:
                out_masks = out_masks > self.mask_threshold
            outputs.append({"masks": out_masks, "iou_predictions": iou_predictions, "low_res_logits": low_res_masks})
        return outputs

    def postprocess_masks(
        self, masks: torch.Tensor, input_size: tuple[int, ...], original_size: tuple[int, ...]
    ) -> torch.Tensor:
        """``(B, K, 256, 256)`` -> ``(B, K, H0, W0)``: upscale to the input, crop padding, resize."""
        size = self.image_encoder.img_size
        masks = F.interpolate(masks, (size, size), mode="bilinear", align_corners=False)
        masks = masks[..., : input_size[0], : input_size[1]]
        return F.interpolate(masks, tuple(int(s) for s in original_size), mode="bilinear", align_corners=False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """``(3, H, W)`` pixels -> normalised and zero-padded (bottom/right) to ``(3, S, S)``."""
        x = (x - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        size = self.image_encoder.img_size
        return F.pad(x, (0, size - w, 0, size - h))
