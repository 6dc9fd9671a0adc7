"""Per-image decoding of a SAM 2 image model: the reference computation, prompt batch by batch.

Same interface as SAM 1's decoders (``prepare`` once per image, ``decode`` per batch of
prompts; see ``samlabel.sam.compute_path``), computed as Meta's
``SAM2ImagePredictor._predict`` does: a box becomes two points labelled 2 and 3 placed
before the clicks, the prompt encoder always pads the points (SAM 2 passes boxes as points),
and the mask decoder reads the image embedding and the two high-resolution feature maps,
repeating the image for a batch of several prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn

from samlabel.sam.modeling.input_checks import check_embedding, prompts_on_device


@dataclass(frozen=True)
class Sam2Context:
    """One image's decoder inputs on the model's device.

    ``image_embedding (1, C, h, w)`` (``no_mem_embed`` added), ``high_res_features``
    ``[(1, C/8, 4h, 4w), (1, C/4, 2h, 2w)]``, ``image_pe (1, C, h, w)``.
    """

    image_embedding: torch.Tensor
    high_res_features: tuple
    image_pe: torch.Tensor

    @property
    def grid_size(self) -> tuple[int, int]:
        return tuple(self.image_embedding.shape[-2:])


def sam2_prompt_points(model: nn.Module, point_coords, point_labels, boxes, mask_input, checked: bool = False):
    """Prompts of SAM 2 on the model's device: ``(points, mask_input)``, where ``points`` is the
    ``(coords (B, N, 2), labels (B, N) int)`` pair or None, a box becoming two points labelled
    2 and 3 placed before the clicks (as the reference predictor does). ``checked``: see
    ``input_checks.prompts_on_device``."""
    points, boxes, mask_input = prompts_on_device(model, point_coords, point_labels, boxes, mask_input, checked)
    dev = model.device
    if points is not None:
        points = (points[0], points[1].to(dtype=torch.int))
    if boxes is not None:
        box_coords = boxes.to(dev).reshape(-1, 2, 2)
        box_labels = torch.tensor([[2, 3]], dtype=torch.int, device=dev).repeat(box_coords.shape[0], 1)
        if points is not None:
            points = (torch.cat([box_coords, points[0]], dim=1), torch.cat([box_labels, points[1]], dim=1))
        else:
            points = (box_coords, box_labels)
    if mask_input is not None:
        mask_input = mask_input.to(dev)
    return points, mask_input


class Sam2Decoder:
    """Prompt encoder then mask decoder of a ``SAM2Image``, as the reference predictor runs them."""

    path = "plain"

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    @torch.no_grad()
    def prepare(self, image_embeddings: torch.Tensor, high_res_features: Sequence[torch.Tensor] = ()) -> Sam2Context:
        """``(1, C, h, w)`` embedding and the high-resolution maps -> :class:`Sam2Context`."""
        model = self.model
        pe = model.sam_prompt_encoder
        emb = check_embedding(image_embeddings, pe.embed_dim, tuple(pe.image_embedding_size))
        levels = model.num_feature_levels - 1
        if len(high_res_features) != levels:
            raise ValueError(
                f"a SAM 2 image embedding needs {levels} high-resolution feature maps, got {len(high_res_features)} "
                "(an embedding saved by SAM 1 or by an older samlabel? recompute it)"
            )
        sizes = model.feature_sizes[:-1]
        for i, (feat, size) in enumerate(zip(high_res_features, sizes)):
            if feat.ndim != 4 or feat.shape[0] != 1 or tuple(feat.shape[-2:]) != tuple(size):
                raise ValueError(f"high-resolution feature map {i} must be (1, C, {size[0]}, {size[1]}), "
                                 f"got {tuple(feat.shape)}")
        dev, dtype = model.device, model.no_mem_embed.dtype
        return Sam2Context(
            emb.to(device=dev, dtype=dtype),
            tuple(f.to(device=dev, dtype=dtype) for f in high_res_features),
            pe.get_dense_pe(),
        )

    @torch.no_grad()
    def decode(
        self,
        ctx: Sam2Context,
        point_coords: Optional[torch.Tensor] = None,
        point_labels: Optional[torch.Tensor] = None,
        boxes: Optional[torch.Tensor] = None,
        mask_input: Optional[torch.Tensor] = None,
        multimask_output: bool = True,
        valid_size: Optional[tuple[int, int]] = None,
        checked: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """B prompts in the input frame -> low-res logits ``(B, K, 256, 256)`` (not clamped),
        IoU ``(B, K)``; K = 3 with ``multimask_output`` else 1.

        ``point_coords (B, N, 2)``, ``point_labels (B, N)``, ``boxes (B, 4)`` xyxy,
        ``mask_input (B, 1, 256, 256)``. ``valid_size`` is accepted and ignored (SAM 2's input
        has no padding: every low-res pixel shows the image).
        """
        model = self.model
        pe = model.sam_prompt_encoder
        points, mask_input = sam2_prompt_points(model, point_coords, point_labels, boxes, mask_input, checked)
        sparse, dense = pe(points=points, boxes=None, masks=mask_input)
        if mask_input is not None and points is not None and mask_input.shape[0] not in (1, sparse.shape[0]):
            raise ValueError(
                f"mask_input has batch {mask_input.shape[0]} but the points/boxes have batch {sparse.shape[0]}"
            )
        # several prompts: repeat the image (the reference asks this only of points; a batch of
        # mask prompts alone would fail its assertion)
        batched = sparse.shape[0] > 1
        low, iou, _, _ = model.sam_mask_decoder(
            image_embeddings=ctx.image_embedding,
            image_pe=ctx.image_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=bool(multimask_output),
            repeat_image=batched,
            high_res_features=list(ctx.high_res_features),
        )
        return low, iou
