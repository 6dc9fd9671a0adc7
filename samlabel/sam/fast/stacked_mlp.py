"""The decoder's hypernetwork MLPs as one batched product per layer (fast path)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from samlabel.sam.modeling.common import MLP


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
    def of(cls, mlps: Sequence["MLP"]) -> Optional["StackedMLP"]:
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
