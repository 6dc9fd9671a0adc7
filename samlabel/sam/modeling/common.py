"""Small building blocks shared by the encoder and the decoder (official names and maths)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class MLPBlock(nn.Module):
    """Two linear layers with an activation: ``(..., C) -> (..., mlp_dim) -> (..., C)``."""

    def __init__(self, embedding_dim: int, mlp_dim: int, act: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.lin1 = nn.Linear(embedding_dim, mlp_dim)
        self.lin2 = nn.Linear(mlp_dim, embedding_dim)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a ``(B, C, H, W)`` tensor."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (the decoder's heads)."""

    def __init__(
        self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int, sigmoid_output: bool = False
    ) -> None:
        super().__init__()
        self.num_layers = num_layers
        h = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))
        self.sigmoid_output = sigmoid_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < self.num_layers - 1 else layer(x)
        if self.sigmoid_output:
            x = torch.sigmoid(x)
        return x


@dataclass(frozen=True)
class StackedMLP:
    """Several same-shaped :class:`MLP` s, each applied to its own input, one batched product
    per layer instead of one small product per MLP and layer.

    The decoder's hypernetworks are 3-4 MLPs of three ``(1 x 256) @ (256 x 256)``-sized
    layers, each reading its own weights for one token: twelve tiny products, bound by
    reading the weights and by the per-call cost. ``weights_t[i]``: ``(M, in_i, out_i)``
    (layer ``i`` of every MLP, transposed); ``biases[i]``: ``(M, 1, out_i)``. Built from the
    weights at one moment (a per-image decoder context), like the decoder's other caches.
    """

    weights_t: tuple[torch.Tensor, ...]
    biases: tuple[torch.Tensor, ...]

    @classmethod
    @torch.no_grad()
    def of(cls, mlps: Sequence[MLP]) -> Optional["StackedMLP"]:
        """The stack of ``mlps``, or ``None`` if they differ in shape or end in a sigmoid."""
        if not mlps or any(m.sigmoid_output for m in mlps):
            return None
        if len({tuple(tuple(layer.weight.shape) for layer in m.layers) for m in mlps}) != 1:
            return None
        depth = len(mlps[0].layers)
        return cls(
            weights_t=tuple(torch.stack([m.layers[i].weight.t() for m in mlps]).contiguous() for i in range(depth)),
            biases=tuple(torch.stack([m.layers[i].bias for m in mlps]).unsqueeze(1) for i in range(depth)),
        )

    def __call__(self, x: torch.Tensor, first: int = 0) -> torch.Tensor:
        """``x (B, K, in)``: column ``j`` through MLP ``first + j`` -> ``(B, K, out)``."""
        k = x.shape[1]
        h = x.transpose(0, 1)  # (K, B, in)
        last = len(self.weights_t) - 1
        for i, (w, b) in enumerate(zip(self.weights_t, self.biases)):
            h = torch.baddbmm(b.narrow(0, first, k), h, w.narrow(0, first, k))  # (K, B, out_i)
            if i < last:
                h = F.relu(h)
        return h.transpose(0, 1)
