"""Point and box prompts to sparse embeddings, with one table lookup for the point labels.

The plain ``PromptEncoder._embed_points`` zeroes the padding points' encoding, then adds each
label's learned embedding through boolean-mask indexing (eight index ops). One lookup of the
label's row (-1: not-a-point, 0: negative, 1: positive, anything else: zeros) gives the same
floats: the padding rows are 0 + w, every other row is the encoding + its row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch

if TYPE_CHECKING:
    from samlabel.sam.modeling.sam1.prompt_encoder import PromptEncoder


def embed_points(encoder: "PromptEncoder", points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
    """``(B, N, 2)`` points, ``(B, N)`` labels -> ``(B, N (+1 if pad), embed_dim)``."""
    points = points + 0.5  # centre of the pixel
    if pad:
        padding_point = torch.zeros((points.shape[0], 1, 2), device=points.device)
        padding_label = -torch.ones((labels.shape[0], 1), device=labels.device)
        points = torch.cat([points, padding_point], dim=1)
        labels = torch.cat([labels, padding_label], dim=1)
    point_embedding = encoder.pe_layer.forward_with_coords(points, encoder.input_image_size)
    table = torch.cat([
        encoder.not_a_point_embed.weight, encoder.point_embeddings[0].weight, encoder.point_embeddings[1].weight,
        torch.zeros_like(encoder.not_a_point_embed.weight),
    ])  # (4, C)
    padding = labels == -1
    row = torch.where(padding, 0, torch.where(labels == 0, 1, torch.where(labels == 1, 2, 3)))
    padding = padding.unsqueeze(-1)
    return torch.where(padding, torch.zeros_like(point_embedding), point_embedding) + table[row]


def embed_sparse(
    encoder: "PromptEncoder", points: Optional[tuple[torch.Tensor, torch.Tensor]], boxes: Optional[torch.Tensor]
) -> torch.Tensor:
    """Points and boxes -> ``(B, N_tokens, embed_dim)``, the sparse half of ``encoder(points, boxes, None)``."""
    bs = encoder._get_batch_size(points, boxes, None)
    sparse = torch.empty((bs, 0, encoder.embed_dim), device=encoder._get_device())
    if points is not None:
        coords, labels = points
        sparse = torch.cat([sparse, embed_points(encoder, coords, labels, pad=(boxes is None))], dim=1)
    if boxes is not None:
        sparse = torch.cat([sparse, encoder._embed_boxes(boxes)], dim=1)
    return sparse
