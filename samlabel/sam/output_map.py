"""A linear map of the decoder transformer's output image tokens, without those tokens.

The mask decoder's upscaling starts with a per-token linear map of the transformer's output
image tokens (``ConvTranspose2d`` with kernel = stride = 2 is ``tokens @ W + b``, ``W`` of
``(C, 4 * C/4)``): a ``(tokens under the image) x 256 x 256`` product, the largest single
product of a hover decode. In the interactive path (no mask input, two blocks; see
``samlabel.sam.second_layer``) those tokens are::

    K1 = LN0(D + A0 M0) = rstd0 * (D + A0 M0) P G0 + beta0
    K2 = LN1(K1 + A1 M1) = rstd1 * (K1 + A1 M1) P G1 + beta1

with ``P`` the centring of each row (``x P = x - mean(x)``), ``G = diag(g)`` the LayerNorms'
weights, ``A (h*w, R)``, ``M (R, C)`` each block's low-rank image update. Expanding, exactly
in real arithmetic::

    K2 W + b = rstd1 * ( rstd0 * (Dc G0 P G1 W) + (rstd0 * A0) S0 + A1 S1 ) + (beta1 W + b)
    S0 = M0 P G0 P G1 W          S1 = M1 P G1 W + (beta0 P G1 W) / heads1

``Dc G0 P G1 W`` (``(h*w, K)``) is per image (:meth:`OutputMapCache.build`); per prompt one
``(tokens) x (R0 + R1) x K`` product remains (R ~56 each instead of C = 256). ``beta0``'s
term rides on ``A1``: each of its ``heads1`` softmaxes sums to 1 per token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from samlabel.sam.second_layer import LowRankUpdate


def _centre(x: Tensor) -> Tensor:
    return x - x.mean(dim=-1, keepdim=True)


def select_window(x: Tensor, dim: int, grid: tuple[int, int], window: Optional[tuple[int, int]]) -> Tensor:
    """The tokens of the top-left ``window = (rows, cols)`` of an ``h x w`` grid along ``dim``."""
    h, w = grid
    if window is None or tuple(window) == (h, w):
        return x
    rows, cols = window
    if cols == w:
        return x.narrow(dim, 0, rows * w)
    shape = x.shape[:dim] + (h, w) + x.shape[dim + 1 :]
    part = x.reshape(shape).narrow(dim, 0, rows).narrow(dim + 1, 0, cols)
    return part.reshape(x.shape[:dim] + (rows * cols,) + x.shape[dim + 1 :])


@dataclass(frozen=True)
class OutputMapCache:
    """Per-image parts of ``K2 @ w + b`` (module docstring).

    ``base``: ``(1, h*w, K)`` = ``Dc G0 P G1 w``; ``w``: ``(C, K)``; ``g0``, ``g1``: ``(C,)``
    the two LayerNorms' weights; ``beta0_map``: ``(K,)`` = ``beta0 P G1 w``; ``const``:
    ``(K,)`` = ``beta1 w + b``.
    """

    base: Tensor
    w: Tensor
    g0: Tensor
    g1: Tensor
    beta0_map: Tensor
    const: Tensor

    @classmethod
    def build(cls, norm0: nn.LayerNorm, norm1: nn.LayerNorm, keys: Tensor, w: Tensor, b: Tensor) -> "OutputMapCache":
        """``norm0``/``norm1``: the two blocks' ``norm4``; ``keys (1, h*w, C)`` the first block's
        image tokens ``D``; ``w (C, K)``, ``b (K,)`` the map."""
        g0, g1 = norm0.weight, norm1.weight
        base = torch.matmul(_centre(_centre(keys) * g0) * g1, w)
        return cls(
            base=base,
            w=w,
            g0=g0,
            g1=g1,
            beta0_map=(_centre(norm0.bias) * g1) @ w,
            const=norm1.bias @ w + b,
        )

    def apply(
        self,
        first: LowRankUpdate,
        second: LowRankUpdate,
        grid: tuple[int, int],
        window: Optional[tuple[int, int]] = None,
    ) -> Tensor:
        """``K2 @ w + b`` for the tokens of ``window`` (default: all): ``(B, rows*cols, K)``."""
        s0 = torch.matmul(_centre(_centre(first.m) * self.g0) * self.g1, self.w)  # (B, R0, K)
        s1 = torch.matmul(_centre(second.m) * self.g1, self.w).add_(self.beta0_map / second.heads)  # (B, R1, K)
        a0 = select_window(first.a_t, 2, grid, window)
        rstd0 = select_window(first.rstd, 1, grid, window)  # (B, n, 1)
        a = torch.cat([a0 * rstd0.transpose(1, 2), select_window(second.a_t, 2, grid, window)], dim=1)
        out = select_window(self.base, 1, grid, window) * rstd0  # (B, n, K)
        out.baddbmm_(a.transpose(1, 2), torch.cat([s0, s1], dim=1))
        return torch.addcmul(self.const, select_window(second.rstd, 1, grid, window), out)
