"""Small building blocks of SAM 2 (as in Meta's ``sam2/modeling/sam2_utils.py``).

SAM 2's ``MLP`` takes the activation as an argument (the Hiera blocks use GELU, the
decoder ReLU), so it is its own class here; ``LayerNorm2d`` is the same maths as SAM 1's
and is shared.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from samlabel.sam.modeling.common import LayerNorm2d

__all__ = ["MLP", "LayerNorm2d"]


class MLP(nn.Module):
    """``num_layers`` linear layers, ``activation`` between them, optional final sigmoid.

    ``(..., input_dim) -> (..., hidden_dim) -> ... -> (..., output_dim)``.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        activation: type[nn.Module] = nn.ReLU,
        sigmoid_output: bool = False,
    ) -> None:
        super().__init__()
        self.num_layers = num_layers
        h = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))
        self.sigmoid_output = sigmoid_output
        self.act = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = self.act(layer(x)) if i < self.num_layers - 1 else layer(x)
        if self.sigmoid_output:
            x = F.sigmoid(x)
        return x
