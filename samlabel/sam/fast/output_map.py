"""A linear map of the decoder transformer's output image tokens, without those tokens.

The mask decoder's upscaling starts with a per-token linear map of the transformer's output
image tokens (``ConvTranspose2d`` with kernel = stride = 2 is ``tokens @ W + b``, ``W`` of
``(C, 4 * C/4)``): a ``(tokens under the image) x 256 x 256`` product, the largest single
product of a hover decode. In the interactive path (no mask input, two blocks; see
``samlabel.sam.fast.second_layer``) those tokens are::

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

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from samlabel.sam.fast.attention import project
from samlabel.sam.fast.lowrank import LowRankUpdate, centre_rows, heads, heads_t


def select_window(x: Tensor, dim: int, grid: tuple[int, int], window: Optional[tuple[int, int]]) -> Tensor:
    """The tokens of the top-left ``window = (rows, cols)`` of an ``h x w`` grid along ``dim``."""
    if window is None or tuple(window) == tuple(grid):
        return x
    h, w = grid
    rows, cols = window
    if cols == w:
        return x.narrow(dim, 0, rows * w)
    shape = x.shape[:dim] + (h, w) + x.shape[dim + 1 :]
    part = x.reshape(shape).narrow(dim, 0, rows).narrow(dim + 1, 0, cols)
    return part.reshape(x.shape[:dim] + (rows * cols,) + x.shape[dim + 1 :])


@dataclass(frozen=True)
class TwoBlockTokens:
    """One decode's output image tokens ``K2`` in factored form (module docstring).

    ``a_t``: ``(B, R0 + R1, h*w)`` = ``[rstd0 * A0; A1]`` (transposed), shared by every map.
    """

    first: LowRankUpdate
    second: LowRankUpdate
    a_t: Tensor

    @classmethod
    def of(cls, first: LowRankUpdate, second: LowRankUpdate) -> "TwoBlockTokens":
        return cls(first, second, torch.cat([first.a_t * first.rstd.transpose(1, 2), second.a_t], dim=1))


@dataclass(frozen=True)
class MapWeights:
    """A map ``K2 @ w + b`` without its per-image part: ``w (C, K)``, the LayerNorm weights
    ``g0``, ``g1`` ``(C,)``, ``beta0_map`` ``(K,)`` = ``beta0 P G1 w`` and ``const`` ``(K,)`` =
    ``beta1 w + b``."""

    w: Tensor
    g0: Tensor
    g1: Tensor
    beta0_map: Tensor
    const: Tensor

    @classmethod
    def of(cls, norm0: nn.LayerNorm, norm1: nn.LayerNorm, w: Tensor, b: Tensor) -> "MapWeights":
        g1 = norm1.weight
        return cls(w=w, g0=norm0.weight, g1=g1, beta0_map=(centre_rows(norm0.bias) * g1) @ w, const=norm1.bias @ w + b)

    def base(self, keys: Tensor) -> Tensor:
        """The per-image part ``Dc G0 P G1 w``: ``(1, h*w, K)`` for ``keys = D (1, h*w, C)``."""
        return torch.matmul(centre_rows(centre_rows(keys) * self.g0) * self.g1, self.w)

    def s(self, tokens: TwoBlockTokens) -> Tensor:
        """``[S0; S1]``, ``(B, R0 + R1, K)``: what ``tokens.a_t`` multiplies."""
        first, second = tokens.first, tokens.second
        s0 = torch.matmul(centre_rows(centre_rows(first.m) * self.g0) * self.g1, self.w)  # (B, R0, K)
        s1 = torch.matmul(centre_rows(second.m) * self.g1, self.w).add_(self.beta0_map / second.heads)  # (B, R1, K)
        return torch.cat([s0, s1], dim=1)


@dataclass(frozen=True)
class OutputMapCache:
    """Per-image parts of ``K2 @ w + b``: the map and its ``base`` ``(1, h*w, K)``."""

    weights: MapWeights
    base: Tensor

    @classmethod
    def build(cls, norm0: nn.LayerNorm, norm1: nn.LayerNorm, keys: Tensor, w: Tensor, b: Tensor) -> "OutputMapCache":
        """``norm0``/``norm1``: the two blocks' ``norm4``; ``keys (1, h*w, C)`` the first block's
        image tokens ``D``; ``w (C, K)``, ``b (K,)`` the map."""
        weights = MapWeights.of(norm0, norm1, w, b)
        return cls(weights=weights, base=weights.base(keys))

    def apply(
        self, tokens: TwoBlockTokens, grid: Optional[tuple[int, int]] = None, window: Optional[tuple[int, int]] = None
    ) -> Tensor:
        """``K2 @ w + b`` for the tokens of ``window`` of the ``grid`` (default: all): ``(B, rows*cols, K)``."""
        rstd0 = select_window(tokens.first.rstd, 1, grid, window)  # (B, n, 1)
        out = select_window(self.base, 1, grid, window) * rstd0  # (B, n, K)
        out.baddbmm_(select_window(tokens.a_t, 2, grid, window).transpose(1, 2), self.weights.s(tokens))
        return torch.addcmul(self.weights.const, select_window(tokens.second.rstd, 1, grid, window), out)


def output_tokens(norm0: nn.LayerNorm, norm1: nn.LayerNorm, keys: Tensor, tokens: TwoBlockTokens) -> Tensor:
    """The output image tokens ``K2`` themselves, ``(B, h*w, C)`` (the identity map; for callers
    that want them: the decoder's own paths use the maps only)."""
    c = keys.shape[-1]
    eye = torch.eye(c, dtype=keys.dtype, device=keys.device)
    return OutputMapCache.build(norm0, norm1, keys, eye, torch.zeros(c, dtype=keys.dtype, device=keys.device)).apply(
        tokens
    )


@dataclass(frozen=True)
class FinalAttentionCache:
    """Per-image parts of the transformer's last attention (tokens -> ``K2 + pe``, values ``K2``).

    Its keys and values are two maps of ``K2`` (``weights``: ``w = [W_k^T | W_v^T]``), used
    head by head as in ``samlabel.sam.fast.second_layer``: for each head the scores are
    ``rstd1 * (rstd0 * Q_h E_k,h^T + (Q_h S_k,h^T) a_t) + Q_h (pe W_k,h^T)^T``, never the
    ``(h*w, C)`` tokens. ``k_base_t``, ``pe_k_t``: ``(1, nH, c, h*w)``; ``v_base``:
    ``(1, nH, h*w, c)``.
    """

    weights: MapWeights
    k_base_t: Tensor
    pe_k_t: Tensor
    v_base: Tensor
    num_heads: int

    @classmethod
    def build(
        cls, norm0: nn.LayerNorm, norm1: nn.LayerNorm, attention: nn.Module, keys: Tensor, key_pe: Tensor
    ) -> "FinalAttentionCache":
        """``attention``: the transformer's ``final_attn_token_to_image``; ``keys``/``key_pe`` ``(1, h*w, C)``."""
        nH, width = attention.num_heads, attention.internal_dim
        w = torch.cat([attention.k_proj.weight, attention.v_proj.weight]).t()  # (C, 2I)
        weights = MapWeights.of(norm0, norm1, w, torch.cat([attention.k_proj.bias, attention.v_proj.bias]))
        base = weights.base(keys)  # (1, h*w, 2I)
        return cls(
            weights=weights,
            k_base_t=heads_t(base[..., :width], nH),
            pe_k_t=heads_t(torch.matmul(key_pe, attention.k_proj.weight.t()), nH),
            v_base=heads(base[..., width:], nH),
            num_heads=nH,
        )

    def forward(self, attention: nn.Module, q: Tensor, tokens: TwoBlockTokens) -> Tensor:
        """``attention(q=q, k=K2 + pe, v=K2)`` for tokens ``q (B, T, C)`` -> ``(B, T, C)``."""
        nH = self.num_heads
        qh = project(attention, q, "q")  # (B, nH, T, c)
        B, _, T, c = qh.shape
        qh = qh * (1.0 / math.sqrt(c))
        n = self.k_base_t.shape[-1]
        s = self.weights.s(tokens)  # (B, R, 2I)
        R, width = s.shape[1], s.shape[2] // 2
        s_k_t = s[..., :width].reshape(B, R, nH, c).permute(0, 2, 3, 1)  # (B, nH, c, R)
        s_v = s[..., width:].reshape(B, R, nH, c).transpose(1, 2)  # (B, nH, R, c)
        rstd0_row = tokens.first.rstd.transpose(1, 2)  # (B, 1, h*w)
        rstd1_row = tokens.second.rstd.transpose(1, 2)
        w = torch.matmul(qh, self.k_base_t).view(B, nH * T, n).mul_(rstd0_row)
        w = torch.baddbmm(w, torch.matmul(qh, s_k_t).view(B, nH * T, R), tokens.a_t)
        scores = torch.addcmul(torch.matmul(qh, self.pe_k_t).view(B, nH * T, n), w, rstd1_row)
        pr = torch.softmax(scores, dim=-1).mul_(rstd1_row)  # (B, nH*T, h*w)
        out = torch.matmul((pr * rstd0_row).view(B, nH, T, n), self.v_base)  # (B, nH, T, c)
        pa = torch.bmm(pr, tokens.a_t.transpose(1, 2)).view(B, nH, T, R)
        v_const = self.weights.const[width:].view(1, nH, 1, c)  # beta1 W_v^T + b_v: softmax rows sum to 1
        out = torch.matmul(pa, s_v).add_(out).add_(v_const)
        return attention.out_proj(attention._recombine_heads(out))
