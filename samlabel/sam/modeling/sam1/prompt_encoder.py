"""SAM's prompt encoder: points, boxes and masks -> sparse and dense embeddings.

Official names and maths (``segment_anything.modeling.prompt_encoder``). Coordinates are in
the model's input frame (pixels of the resized, padded ``input_size`` image).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
from torch import nn

from samlabel.sam.modeling.common import LayerNorm2d


class PromptEncoder(nn.Module):
    def __init__(
        self,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.input_image_size = input_image_size
        self.image_embedding_size = image_embedding_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)

        self.num_point_embeddings: int = 4  # negative point, positive point, 2 box corners
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(self.num_point_embeddings))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)

        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            activation(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            activation(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        """Positional encoding of the embedding grid, ``(1, embed_dim, h, w)``."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """``(B, N, 2)`` points, ``(B, N)`` labels -> ``(B, N (+1 if pad), embed_dim)``."""
        points = points + 0.5  # centre of the pixel
        if pad:
            padding_point = torch.zeros((points.shape[0], 1, 2), device=points.device)
            padding_label = -torch.ones((labels.shape[0], 1), device=labels.device)
            points = torch.cat([points, padding_point], dim=1)
            labels = torch.cat([labels, padding_label], dim=1)
        point_embedding = self.pe_layer.forward_with_coords(points, self.input_image_size)
        # The official form zeroes the padding points' encoding, then adds each label's learned
        # embedding through boolean-mask indexing (eight index ops). One lookup of the label's
        # row (-1: not-a-point, 0: negative, 1: positive, anything else: zeros) gives the same
        # floats: the padding rows are 0 + w, every other row is the encoding + its row.
        table = torch.cat([
            self.not_a_point_embed.weight, self.point_embeddings[0].weight, self.point_embeddings[1].weight,
            torch.zeros_like(self.not_a_point_embed.weight),
        ])  # (4, C)
        padding = labels == -1
        row = torch.where(padding, 0, torch.where(labels == 0, 1, torch.where(labels == 1, 2, 3)))
        padding = padding.unsqueeze(-1)
        return torch.where(padding, torch.zeros_like(point_embedding), point_embedding) + table[row]

    def _embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        """``(B, 4)`` xyxy boxes -> ``(B, 2, embed_dim)`` corner embeddings."""
        boxes = boxes + 0.5
        coords = boxes.reshape(-1, 2, 2)
        corner_embedding = self.pe_layer.forward_with_coords(coords, self.input_image_size)
        corner_embedding[:, 0, :] += self.point_embeddings[2].weight
        corner_embedding[:, 1, :] += self.point_embeddings[3].weight
        return corner_embedding

    def _embed_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 4h, 4w)`` mask logits -> ``(B, embed_dim, h, w)``."""
        return self.mask_downscaling(masks)

    def _get_batch_size(self, points, boxes, masks) -> int:
        if points is not None:
            return points[0].shape[0]
        if boxes is not None:
            return boxes.shape[0]
        if masks is not None:
            return masks.shape[0]
        return 1

    def _get_device(self) -> torch.device:
        return self.point_embeddings[0].weight.device

    def embed_sparse(
        self, points: Optional[tuple[torch.Tensor, torch.Tensor]], boxes: Optional[torch.Tensor]
    ) -> torch.Tensor:
        """Points and boxes -> ``(B, N_tokens, embed_dim)`` sparse embeddings."""
        bs = self._get_batch_size(points, boxes, None)
        sparse_embeddings = torch.empty((bs, 0, self.embed_dim), device=self._get_device())
        if points is not None:
            coords, labels = points
            point_embeddings = self._embed_points(coords, labels, pad=(boxes is None))
            sparse_embeddings = torch.cat([sparse_embeddings, point_embeddings], dim=1)
        if boxes is not None:
            sparse_embeddings = torch.cat([sparse_embeddings, self._embed_boxes(boxes)], dim=1)
        return sparse_embeddings

    def forward(
        self,
        points: Optional[tuple[torch.Tensor, torch.Tensor]],
        boxes: Optional[torch.Tensor],
        masks: Optional[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns sparse ``(B, N, embed_dim)`` and dense ``(B, embed_dim, h, w)`` embeddings."""
        bs = self._get_batch_size(points, boxes, masks)
        if points is None and boxes is None:
            sparse_embeddings = torch.empty((bs, 0, self.embed_dim), device=self._get_device())
        else:
            sparse_embeddings = self.embed_sparse(points, boxes)
        if masks is not None:
            dense_embeddings = self._embed_masks(masks)
        else:
            dense_embeddings = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
                bs, -1, self.image_embedding_size[0], self.image_embedding_size[1]
            )
        return sparse_embeddings, dense_embeddings


class PositionEmbeddingRandom(nn.Module):
    """Positional encoding with random spatial frequencies (a persistent buffer)."""

    def __init__(self, num_pos_feats: int = 64, scale: Optional[float] = None) -> None:
        super().__init__()
        if scale is None or scale <= 0.0:
            scale = 1.0
        self.register_buffer("positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats)))

    def _pe_encoding(self, coords: torch.Tensor) -> torch.Tensor:
        """``(..., 2)`` coords in [0, 1] -> ``(..., 2 * num_pos_feats)``."""
        coords = 2 * coords - 1
        coords = coords @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: tuple[int, int]) -> torch.Tensor:
        """Encoding of an ``(h, w)`` grid of pixel centres, ``(C, h, w)``."""
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        grid = torch.ones((h, w), device=device, dtype=torch.float32)
        y_embed = (grid.cumsum(dim=0) - 0.5) / h
        x_embed = (grid.cumsum(dim=1) - 0.5) / w
        pe = self._pe_encoding(torch.stack([x_embed, y_embed], dim=-1))
        return pe.permute(2, 0, 1)

    def forward_with_coords(self, coords_input: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """``(B, N, 2)`` pixel coords (x, y) in an ``image_size`` (h, w) frame -> ``(B, N, C)``."""
        coords = coords_input.clone()
        coords[:, :, 0] = coords[:, :, 0] / image_size[1]
        coords[:, :, 1] = coords[:, :, 1] / image_size[0]
        return self._pe_encoding(coords.to(torch.float))


# ---------------------------------------------------------------------- argument checks
def describe(x: Any) -> str:
    """Short description of an argument for error messages."""
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    shape = getattr(x, "shape", None)
    if shape is not None:
        return f"a {type(x).__name__} of shape {tuple(shape)}"
    return f"a {type(x).__name__}"


def check_image_tensor(image: Any, channels: int, max_size: int, name: str = "image") -> None:
    """An input-frame image must be a ``(C, H, W)`` float or uint8 tensor, longest side <= ``max_size``."""
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise ValueError(f"{name} must be a ({channels}, H, W) torch tensor, got {describe(image)}")
    if not (image.is_floating_point() or image.dtype == torch.uint8):
        raise ValueError(f"{name} must be float or uint8, got dtype {image.dtype}")
    if image.shape[0] != channels:
        raise ValueError(f"{name} must have {channels} channels first ({channels}, H, W), got shape {tuple(image.shape)}")
    if max(image.shape[1:]) > max_size or min(image.shape[1:]) < 1:
        raise ValueError(
            f"{name} must already be resized so its longest side is at most {max_size}, got shape {tuple(image.shape)}"
        )


def _as_float(x: Any, name: str, expected: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor of shape {expected}, got {describe(x)}")
    if x.dtype == torch.bool or x.is_complex():
        raise ValueError(f"{name} must be a real-valued tensor of shape {expected}, got dtype {x.dtype}")
    return x if x.is_floating_point() else x.float()


def check_prompts(
    point_coords: Any,
    point_labels: Any,
    boxes: Any,
    mask_input: Any,
    mask_size: tuple[int, int],
    require_labels: bool = True,
) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor], Optional[torch.Tensor], Optional[torch.Tensor]]:
    """Validate batched prompts; return ``(coords (B,N,2) float, labels (B,N), boxes (B,4) float, masks)``.

    Raises ``ValueError`` saying which argument is wrong and what was expected.
    """
    if point_coords is None and point_labels is not None:
        raise ValueError("point_labels were given without point_coords")
    if point_coords is not None:
        if point_labels is None and require_labels:
            raise ValueError("point_coords need point_labels of shape (B, N)")
        point_coords = _as_float(point_coords, "point_coords", "(B, N, 2)")
        if point_coords.dim() != 3 or point_coords.shape[-1] != 2:
            raise ValueError(f"point_coords must have shape (B, N, 2), got {tuple(point_coords.shape)}")
        if not isinstance(point_labels, torch.Tensor):
            raise ValueError(f"point_labels must be a torch tensor of shape (B, N), got {describe(point_labels)}")
        if tuple(point_labels.shape) != tuple(point_coords.shape[:2]):
            raise ValueError(
                f"point_labels must have shape (B, N) = {tuple(point_coords.shape[:2])} to match point_coords, "
                f"got {tuple(point_labels.shape)}"
            )
    if boxes is not None:
        boxes = _as_float(boxes, "boxes", "(B, 4)")
        if boxes.dim() == 3 and boxes.shape[1] == 1:
            boxes = boxes[:, 0]
        if boxes.dim() != 2 or boxes.shape[-1] != 4:
            raise ValueError(f"boxes must have shape (B, 4) as x0, y0, x1, y1, got {tuple(boxes.shape)}")
        if point_coords is not None and boxes.shape[0] != point_coords.shape[0]:
            raise ValueError(
                f"boxes have batch {boxes.shape[0]} but point_coords have batch {point_coords.shape[0]}"
            )
    if mask_input is not None:
        expected = (1, *mask_size)
        mask_input = _as_float(mask_input, "mask_input", f"(B, {expected[0]}, {expected[1]}, {expected[2]})")
        if mask_input.dim() != 4 or tuple(mask_input.shape[1:]) != expected:
            raise ValueError(f"mask_input must have shape (B, 1, {mask_size[0]}, {mask_size[1]}), got {tuple(mask_input.shape)}")
    return point_coords, point_labels, boxes, mask_input
