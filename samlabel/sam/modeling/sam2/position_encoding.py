"""Position encodings of SAM 2 (Meta's ``sam2/modeling/position_encoding.py``, image part).

``PositionEmbeddingSine``: the FPN neck's sine encoding of a feature map's grid.
``PositionEmbeddingRandom``: the prompt encoder's random-Fourier encoding of points and
of the embedding grid (same as SAM 1's).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import nn


class PositionEmbeddingSine(nn.Module):
    """Sine/cosine encoding of a ``(B, C, H, W)`` map's positions -> ``(B, num_pos_feats, H, W)``."""

    def __init__(
        self, num_pos_feats: int, temperature: int = 10000, normalize: bool = True, scale: Optional[float] = None
    ) -> None:
        super().__init__()
        assert num_pos_feats % 2 == 0, "Expecting even model width"
        self.num_pos_feats = num_pos_feats // 2
        self.temperature = temperature
        self.normalize = normalize
        if scale is not None and normalize is False:
            raise ValueError("normalize should be True if scale is passed")
        self.scale = 2 * math.pi if scale is None else scale
        self.cache: dict[tuple[int, int], torch.Tensor] = {}

    @torch.no_grad()
    def _pe(self, B: int, device: torch.device, H: int, W: int) -> torch.Tensor:
        if (H, W) in self.cache:
            return self.cache[(H, W)].to(device)[None].repeat(B, 1, 1, 1)
        y_embed = torch.arange(1, H + 1, dtype=torch.float32, device=device).view(1, -1, 1).repeat(B, 1, W)
        x_embed = torch.arange(1, W + 1, dtype=torch.float32, device=device).view(1, 1, -1).repeat(B, H, 1)
        if self.normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)
        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
        pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)
        self.cache[(H, W)] = pos[0]
        return pos

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._pe(x.shape[0], x.device, x.shape[-2], x.shape[-1])


class PositionEmbeddingRandom(nn.Module):
    """Positional encoding with random spatial frequencies (``positional_encoding_gaussian_matrix``, ``(2, F)``)."""

    def __init__(self, num_pos_feats: int = 64, scale: Optional[float] = None) -> None:
        super().__init__()
        if scale is None or scale <= 0.0:
            scale = 1.0
        self.register_buffer("positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats)))

    def _pe_encoding(self, coords: torch.Tensor) -> torch.Tensor:
        """Points normalised to [0, 1], ``(..., 2)`` -> ``(..., 2F)``."""
        coords = 2 * coords - 1
        coords = coords @ self.positional_encoding_gaussian_matrix
        coords = 2 * np.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: tuple[int, int]) -> torch.Tensor:
        """Encoding of the centres of an ``(h, w)`` grid -> ``(2F, h, w)``."""
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        grid = torch.ones((h, w), device=device, dtype=torch.float32)
        y_embed = (grid.cumsum(dim=0) - 0.5) / h
        x_embed = (grid.cumsum(dim=1) - 0.5) / w
        pe = self._pe_encoding(torch.stack([x_embed, y_embed], dim=-1))
        return pe.permute(2, 0, 1)

    def forward_with_coords(self, coords_input: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """Pixel coordinates ``(B, N, 2)`` (x, y) in an ``image_size`` (H, W) frame -> ``(B, N, 2F)``."""
        coords = coords_input.clone()
        coords[:, :, 0] = coords[:, :, 0] / image_size[1]
        coords[:, :, 1] = coords[:, :, 1] / image_size[0]
        return self._pe_encoding(coords.to(torch.float))
