"""Per-image decoding on the fast path: prepare once per image, then decode each prompt cheaply.

    decoder = FastDecoder(model)
    ctx = decoder.prepare(embedding)                                   # (1, C, 64, 64), once per image
    logits, iou = decoder.decode(ctx, point_coords=pts, point_labels=lbl)  # per prompt

Same interface and results (up to float rounding) as ``samlabel.sam.sam1.plain_decoder.PlainDecoder``,
which runs the plain modules as the reference does. Here the prompt-independent work (the
first block's projections of the image, the second block's and the output map's per-image
parts, the stacked hypernetworks) is done once in :meth:`FastDecoder.prepare`, and each prompt
runs :func:`samlabel.sam.fast.mask_head.decode` on its own tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from samlabel.sam.fast import mask_head
from samlabel.sam.fast.prompt_embed import embed_sparse
from samlabel.sam.fast.two_way import precompute_image_side
from samlabel.sam.modeling.input_checks import check_embedding, prompts_on_device


@dataclass(frozen=True)
class DecoderContext:
    """Per-image decoder inputs, computed once by :meth:`FastDecoder.prepare`.

    ``image_embedding``: ``(1, C, h, w)``; ``image_pe``: ``(1, C, h, w)`` dense positional
    encoding; ``keys_no_mask``: ``(1, h*w, C)`` embedding + no-mask embedding, flattened;
    ``pe_tokens``: ``(1, h*w, C)`` flattened positional encoding; ``image_side``: the
    decoder's first-block projections of ``keys_no_mask`` (used when there is no mask input);
    ``output_map``: the per-image part of the decoder's first upscaling product
    (``mask_head.precompute_output_map``, also only without a mask input);
    ``hypernetworks``: the mask decoder's hypernetwork MLPs stacked (``mask_head.stack_hypernetworks``).
    """

    image_embedding: torch.Tensor
    image_pe: torch.Tensor
    keys_no_mask: torch.Tensor
    pe_tokens: torch.Tensor
    image_side: Any = None
    output_map: Any = None
    hypernetworks: Any = None

    @property
    def grid_size(self) -> tuple[int, int]:
        return tuple(self.image_embedding.shape[-2:])


class FastDecoder:
    """The fast path over a plain ``Sam`` (reads its weights, never changes them)."""

    path = "fast"

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    @torch.no_grad()
    def prepare(self, image_embeddings: torch.Tensor) -> DecoderContext:
        """``(1, C, h, w)`` image embedding -> the per-image :class:`DecoderContext`."""
        model = self.model
        emb = check_embedding(image_embeddings, model.prompt_encoder.embed_dim,
                               tuple(model.prompt_encoder.image_embedding_size))
        emb = emb.to(device=model.device, dtype=model.pixel_mean.dtype)
        pe = model.prompt_encoder.get_dense_pe()  # (1, C, h, w)
        no_mask = model.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        keys = (emb + no_mask).flatten(2).transpose(1, 2).contiguous()  # (1, h*w, C)
        pe_tokens = pe.flatten(2).transpose(1, 2).contiguous()  # (1, h*w, C)
        return DecoderContext(
            image_embedding=emb,
            image_pe=pe,
            keys_no_mask=keys,
            pe_tokens=pe_tokens,
            image_side=precompute_image_side(model.mask_decoder.transformer, keys, pe_tokens),
            output_map=mask_head.precompute_output_map(model.mask_decoder, keys),
            hypernetworks=mask_head.stack_hypernetworks(model.mask_decoder),
        )

    @torch.no_grad()
    def decode(
        self,
        ctx: DecoderContext,
        point_coords: Optional[torch.Tensor] = None,
        point_labels: Optional[torch.Tensor] = None,
        boxes: Optional[torch.Tensor] = None,
        mask_input: Optional[torch.Tensor] = None,
        multimask_output: bool = True,
        valid_size: Optional[tuple[int, int]] = None,
        checked: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode B prompts against one image.

        ``point_coords`` ``(B, N, 2)`` float (x, y) and ``point_labels`` ``(B, N)`` (1 fg, 0 bg,
        -1 padding) in input-frame pixels; ``boxes`` ``(B, 4)`` xyxy input frame;
        ``mask_input`` ``(B, 1, 256, 256)`` logits. Returns low-res logits ``(B, K, 256, 256)``
        and IoU predictions ``(B, K)``, K = 3 if ``multimask_output`` else 1.
        ``valid_size=(rows, cols)``: only the top-left corner of the logits is needed (the
        image's part; see ``mask_head.upscale_masks``); the rest repeats its edges.
        """
        model = self.model
        points, boxes, mask_input = prompts_on_device(model, point_coords, point_labels, boxes, mask_input, checked)
        dev = model.device
        if points is None and boxes is None:
            bs = mask_input.shape[0] if mask_input is not None else 1
            sparse = torch.empty((bs, 0, model.prompt_encoder.embed_dim), device=dev)
        else:
            sparse = embed_sparse(model.prompt_encoder, points, boxes)  # (B, N, C)
        if mask_input is not None and mask_input.shape[0] != sparse.shape[0]:
            raise ValueError(
                f"mask_input has batch {mask_input.shape[0]} but the points/boxes have batch {sparse.shape[0]}"
            )
        image_side = output_map = None
        if mask_input is None:
            keys = ctx.keys_no_mask  # (1, h*w, C), broadcast over the prompts
            image_side, output_map = ctx.image_side, ctx.output_map
        else:
            dense = model.prompt_encoder._embed_masks(mask_input)  # (B, C, h, w)
            keys = (ctx.image_embedding + dense).flatten(2).transpose(1, 2)  # (B, h*w, C)
        tokens = mask_head.output_tokens(model.mask_decoder, sparse)
        return mask_head.decode(
            model.mask_decoder, keys, ctx.pe_tokens, tokens, ctx.grid_size, image_side, bool(multimask_output),
            valid_size, output_map, ctx.hypernetworks,
        )
