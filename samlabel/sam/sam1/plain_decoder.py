"""Per-image decoding on the plain path: the reference computation, prompt by prompt.

Same interface as ``samlabel.sam.fast.decoder.FastDecoder`` (``prepare`` once per image,
``decode`` per batch of prompts), computed as ``segment_anything``'s ``SamPredictor.predict_torch``
does: the prompt encoder, then the mask decoder on the full image embedding. It is the
reference the fast path is checked against (the equivalence tests run on both paths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from samlabel.sam.modeling.input_checks import check_embedding, prompts_on_device


@dataclass(frozen=True)
class PlainContext:
    """The image embedding ``(1, C, h, w)`` on the model's device, checked."""

    image_embedding: torch.Tensor

    @property
    def grid_size(self) -> tuple[int, int]:
        return tuple(self.image_embedding.shape[-2:])


class PlainDecoder:
    """The plain path over a ``Sam``: ``prompt_encoder`` then ``mask_decoder``, as the reference."""

    path = "plain"

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    @torch.no_grad()
    def prepare(self, image_embeddings: torch.Tensor) -> PlainContext:
        """``(1, C, h, w)`` image embedding -> :class:`PlainContext`."""
        model = self.model
        emb = check_embedding(image_embeddings, model.prompt_encoder.embed_dim,
                               tuple(model.prompt_encoder.image_embedding_size))
        return PlainContext(emb.to(device=model.device, dtype=model.pixel_mean.dtype))

    @torch.no_grad()
    def decode(
        self,
        ctx: PlainContext,
        point_coords: Optional[torch.Tensor] = None,
        point_labels: Optional[torch.Tensor] = None,
        boxes: Optional[torch.Tensor] = None,
        mask_input: Optional[torch.Tensor] = None,
        multimask_output: bool = True,
        valid_size: Optional[tuple[int, int]] = None,
        checked: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """B prompts in the input frame -> low-res logits ``(B, K, 256, 256)``, IoU ``(B, K)``.

        Arguments as ``FastDecoder.decode``. ``valid_size`` is accepted and ignored: the plain
        path computes the whole square.
        """
        model = self.model
        points, boxes, mask_input = prompts_on_device(model, point_coords, point_labels, boxes, mask_input, checked)
        sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
        if mask_input is not None and mask_input.shape[0] != sparse.shape[0]:
            raise ValueError(
                f"mask_input has batch {mask_input.shape[0]} but the points/boxes have batch {sparse.shape[0]}"
            )
        return model.mask_decoder(
            image_embeddings=ctx.image_embedding,
            image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=bool(multimask_output),
        )
