"""``Sam``: image encoder + prompt encoder + mask decoder, assembled from injected parts.

Mirrors ``segment_anything.modeling.Sam`` (same attributes, ``preprocess``,
``postprocess_masks`` and end-to-end ``forward``) and adds the per-image fast path used
for interactive work::

    emb = model.image_encoder(model.preprocess(image)[None])     # (1, C, 64, 64), once per image
    ctx = model.prepare_decoder(emb)                              # once per image
    logits, iou = model.decode_prompts(ctx, point_coords=pts, point_labels=lbl)  # per prompt
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from samlabel.sam.config import SamConfig
from samlabel.sam.modeling.sam1.prompt_encoder import check_image_tensor, check_prompts, describe


@dataclass(frozen=True)
class DecoderContext:
    """Per-image decoder inputs, computed once by ``Sam.prepare_decoder``.

    ``image_embedding``: ``(1, C, h, w)``; ``image_pe``: ``(1, C, h, w)`` dense positional
    encoding; ``keys_no_mask``: ``(1, h*w, C)`` embedding + no-mask embedding, flattened;
    ``pe_tokens``: ``(1, h*w, C)`` flattened positional encoding; ``first_layer``: the
    decoder's first-block projections of ``keys_no_mask`` (used when there is no mask input);
    ``output_map``: the per-image part of the decoder's first upscaling product
    (``MaskDecoder.precompute_output_map``, also only without a mask input);
    ``hypernetworks``: the mask decoder's hypernetwork MLPs stacked
    (``MaskDecoder.stack_hypernetworks``).
    """

    image_embedding: torch.Tensor
    image_pe: torch.Tensor
    keys_no_mask: torch.Tensor
    pe_tokens: torch.Tensor
    first_layer: Any = None
    output_map: Any = None
    hypernetworks: Any = None

    @property
    def grid_size(self) -> tuple[int, int]:
        return tuple(self.image_embedding.shape[-2:])


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

    # ------------------------------------------------------------------ per-image fast path
    @torch.no_grad()
    def prepare_decoder(self, image_embeddings: torch.Tensor) -> DecoderContext:
        """``(1, C, h, w)`` image embedding -> the per-image ``DecoderContext``."""
        c = self.prompt_encoder.embed_dim
        h, w = self.grid_size()
        if (
            not isinstance(image_embeddings, torch.Tensor)
            or image_embeddings.dim() not in (3, 4)
            or tuple(image_embeddings.shape[-3:]) != (c, h, w)
            or (image_embeddings.dim() == 4 and image_embeddings.shape[0] != 1)
        ):
            raise ValueError(
                f"image_embeddings must have shape (1, {c}, {h}, {w}), got {describe(image_embeddings)}"
            )
        emb = image_embeddings.reshape(1, c, h, w).to(device=self.device, dtype=self.pixel_mean.dtype)
        pe = self.prompt_encoder.get_dense_pe()  # (1, C, h, w)
        no_mask = self.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        keys = (emb + no_mask).flatten(2).transpose(1, 2).contiguous()  # (1, h*w, C)
        pe_tokens = pe.flatten(2).transpose(1, 2).contiguous()  # (1, h*w, C)
        first_layer = output_map = None
        stack = getattr(self.mask_decoder, "stack_hypernetworks", None)
        hypernetworks = stack() if stack is not None else None
        transformer = self.mask_decoder.transformer
        if hasattr(transformer, "precompute_first_layer"):
            first_layer = transformer.precompute_first_layer(keys, pe_tokens)
            precompute = getattr(self.mask_decoder, "precompute_output_map", None)
            output_map = precompute(keys) if precompute is not None else None
        return DecoderContext(
            image_embedding=emb,
            image_pe=pe,
            keys_no_mask=keys,
            pe_tokens=pe_tokens,
            first_layer=first_layer,
            output_map=output_map,
            hypernetworks=hypernetworks,
        )

    @torch.no_grad()
    def decode_prompts(
        self,
        ctx: DecoderContext,
        point_coords: Optional[torch.Tensor] = None,
        point_labels: Optional[torch.Tensor] = None,
        boxes: Optional[torch.Tensor] = None,
        mask_input: Optional[torch.Tensor] = None,
        multimask_output: bool = True,
        valid_size: Optional[tuple[int, int]] = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode B prompts against one image.

        ``point_coords`` ``(B, N, 2)`` float (x, y) and ``point_labels`` ``(B, N)`` (1 fg, 0 bg,
        -1 padding) in input-frame pixels; ``boxes`` ``(B, 4)`` xyxy input frame;
        ``mask_input`` ``(B, 1, 256, 256)`` logits. Returns low-res logits ``(B, K, 256, 256)``
        and IoU predictions ``(B, K)``, K = 3 if ``multimask_output`` else 1.
        ``valid_size=(rows, cols)``: only the top-left corner of the logits is needed (the
        image's part; see ``MaskDecoder.upscale_masks``); the rest repeats its edges.
        """
        coords, labels, boxes, mask_input = check_prompts(
            point_coords, point_labels, boxes, mask_input, self.mask_size(), require_labels=point_coords is not None
        )
        dev = self.device
        coords = None if coords is None else coords.to(dev)
        labels = None if labels is None else labels.to(dev)
        boxes = None if boxes is None else boxes.to(dev)
        points = (coords, labels) if coords is not None else None
        if points is None and boxes is None:
            bs = mask_input.shape[0] if mask_input is not None else 1
            sparse = torch.empty((bs, 0, self.prompt_encoder.embed_dim), device=dev)
        else:
            sparse = self.prompt_encoder.embed_sparse(points, boxes)  # (B, N, C)
        if mask_input is not None and mask_input.shape[0] != sparse.shape[0]:
            raise ValueError(
                f"mask_input has batch {mask_input.shape[0]} but the points/boxes have batch {sparse.shape[0]}"
            )
        first_layer = output_map = None
        if mask_input is None:
            keys = ctx.keys_no_mask  # (1, h*w, C), broadcast over the prompts
            first_layer, output_map = ctx.first_layer, ctx.output_map
        else:
            dense = self.prompt_encoder._embed_masks(mask_input.to(dev))  # (B, C, h, w)
            keys = (ctx.image_embedding + dense).flatten(2).transpose(1, 2)  # (B, h*w, C)
        tokens = self.mask_decoder.output_tokens(sparse)
        return self.mask_decoder.decode(
            keys, ctx.pe_tokens, tokens, ctx.grid_size, first_layer, bool(multimask_output), valid_size, output_map,
            ctx.hypernetworks,
        )
