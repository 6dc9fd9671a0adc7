"""EdgeTAM's 2D spatial Perceiver: each frame's memory ``(B, 64, H, W)`` -> a few tokens.

``num_latents`` learned global latents cross-attend to the whole map (keys and values carry
the memory's sine position encoding; their own output encoding is zero), and
``num_latents_2d`` latents each cross-attend to one window of a ``g x g`` grid over the map
(their output encoding is a sine encoding of that grid); each layer is cross-attention,
MLP, self-attention, MLP, all pre-norm and residual. What the memory attention then reads per
frame is ``num_latents + g * g`` tokens (512 in EdgeTAM) instead of ``H * W`` (4096), which
is most of why EdgeTAM tracks faster than SAM 2. Parameter names are Hugging Face
``EdgeTamVideoPerceiverResampler``'s.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from samlabel.sam.modeling.sam2.position_encoding import PositionEmbeddingSine


class PerceiverMLP(nn.Module):
    """LayerNorm, linear (no bias), GELU, linear (no bias)."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(dim)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=False)
        self.act_fn = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act_fn(self.up_proj(self.layer_norm(x))))


class PerceiverAttention(nn.Module):
    """Multi-head attention without biases; ``pos`` (``(B, Nk, heads * head_dim)``) is added to
    the projected keys and values."""

    def __init__(self, dim: int, num_heads: int, head_dim: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        inner = num_heads * head_dim
        self.q_proj = nn.Linear(dim, inner, bias=False)
        self.k_proj = nn.Linear(dim, inner, bias=False)
        self.v_proj = nn.Linear(dim, inner, bias=False)
        self.o_proj = nn.Linear(inner, dim, bias=False)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                pos: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``query (B, Nq, dim)``, ``key`` / ``value`` ``(B, Nk, dim)`` -> ``(B, Nq, dim)``."""
        q = self._heads(self.q_proj(query))
        k = self._heads(self.k_proj(key))
        v = self._heads(self.v_proj(value))
        if pos is not None:
            p = self._heads(pos)
            k = k + p
            v = v + p
        out = F.scaled_dot_product_attention(q, k, v)
        return self.o_proj(out.transpose(1, 2).reshape(query.shape[0], query.shape[1], -1))


class PerceiverLayer(nn.Module):
    """Latents: += cross-attention to the (normed) inputs, += MLP, += self-attention, += MLP."""

    def __init__(self, dim: int, num_heads: int, head_dim: int, ff_dim: int) -> None:
        super().__init__()
        self.cross_attention = PerceiverAttention(dim, num_heads, head_dim)
        self.mlp = PerceiverMLP(dim, ff_dim)
        self.self_attention = PerceiverAttention(dim, num_heads, head_dim)
        self.self_mlp = PerceiverMLP(dim, ff_dim)
        self.layer_norm_input = nn.LayerNorm(dim)
        self.layer_norm_latents = nn.LayerNorm(dim)
        self.layer_norm_self = nn.LayerNorm(dim)

    def forward(self, latents: torch.Tensor, inputs: torch.Tensor, pos: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``latents (B, N, dim)``, ``inputs (B, M, dim)`` (``pos`` like ``inputs``) -> ``(B, N, dim)``."""
        x = self.layer_norm_input(inputs)
        latents = latents + self.cross_attention(self.layer_norm_latents(latents), x, x, pos)
        latents = latents + self.mlp(latents)
        y = self.layer_norm_self(latents)
        latents = latents + self.self_attention(y, y, y)
        return latents + self.self_mlp(latents)


class PerceiverResampler(nn.Module):
    """``forward(x (B, C, H, W), pos (B, C, H, W))`` -> ``(latents (B, N, C), pos (B, N, C))`` with
    ``N = num_latents + num_latents_2d``, global latents first. ``H`` and ``W`` must be
    multiples of the 2D grid's side."""

    def __init__(self, dim: int = 64, depth: int = 2, num_latents: int = 256, num_latents_2d: int = 256,
                 num_heads: int = 1, head_dim: int = 64, ff_dim: int = 256) -> None:
        super().__init__()
        self.num_latents_1d = num_latents
        self.num_latents_2d = num_latents_2d
        self.grid_side = int(round(num_latents_2d**0.5))
        if self.grid_side**2 != num_latents_2d:
            raise ValueError(f"num_latents_2d must be a square number, got {num_latents_2d}")
        if num_latents > 0:
            self.latents_1d = nn.Parameter(torch.randn(num_latents, dim))
        if num_latents_2d > 0:
            self.latents_2d = nn.Parameter(torch.randn(num_latents_2d, dim))
        self.positional_encoding = PositionEmbeddingSine(dim, normalize=True)
        self.layers = nn.ModuleList(PerceiverLayer(dim, num_heads, head_dim, ff_dim) for _ in range(depth))
        self.layer_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latents, encodings = [], []
        if self.num_latents_1d > 0:
            lat, enc = self._forward_1d(x, pos)
            latents.append(lat)
            encodings.append(enc)
        if self.num_latents_2d > 0:
            lat, enc = self._forward_2d(x)
            latents.append(lat)
            encodings.append(enc)
        return torch.cat(latents, dim=1), torch.cat(encodings, dim=1)

    def _forward_1d(self, x: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B = x.shape[0]
        latents = self.latents_1d.unsqueeze(0).expand(B, -1, -1)
        inputs = x.permute(0, 2, 3, 1).flatten(1, 2)
        pos = pos.permute(0, 2, 3, 1).flatten(1, 2)
        for layer in self.layers:
            latents = layer(latents, inputs, pos)
        latents = self.layer_norm(latents)
        return latents, torch.zeros_like(latents)

    def _forward_2d(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, C, H, W = x.shape
        g = self.grid_side
        if H % g or W % g:
            raise ValueError(f"the memory map ({H} x {W}) must split into {g} x {g} equal windows")
        wh, ww = H // g, W // g
        # (B, C, g, wh, g, ww) -> one window per row: (B * g * g, wh * ww, C), windows row-major
        windows = x.permute(0, 2, 3, 1).reshape(B, g, wh, g, ww, C).permute(0, 1, 3, 2, 4, 5).reshape(B * g * g, wh * ww, C)
        latents = self.latents_2d.unsqueeze(0).expand(B, -1, -1).reshape(B * g * g, 1, C)
        for layer in self.layers:
            latents = layer(latents, windows)
        grid = latents.view(B, g, g, C).permute(0, 3, 1, 2)
        enc = self.positional_encoding(grid).to(x.dtype).permute(0, 2, 3, 1).flatten(1, 2)
        latents = self.layer_norm(grid.permute(0, 2, 3, 1).flatten(1, 2))
        return latents, enc
