"""The two blocks' LayerNorm statistics of the image tokens, without forming the tokens.

In the factored decoder path (``samlabel.sam.fast.second_layer``, ``samlabel.sam.fast.output_map``)
every use of the image tokens goes through a linear map, except the two ``norm4``
LayerNorms, which need each token's standard deviation. The tokens are (rows; ``P`` centres
a row, ``G = diag(g)``)::

    X0 = D + A0 M0                      X0 P = Dc + A0 Mc0
    X1 = LN0(X0) + A1 M1                X1 P = rstd0 * Z + beta0c + A1 Mc1,   Z = (Dc + A0 Mc0) G0 P

and a row's variance is its squared norm after centring, divided by ``C``. Expanding the
squares, only three kinds of terms appear, none of them ``(h*w) x C x R``:

* per-image squared norms (``|Dc|^2``, ``|Dc G0 P|^2``);
* a per-image matrix times an update's rows: ``M`` stacks each head's values through its
  slice of the output projection, ``M[(h, t)] = V[h, t] Wo_h^T + bo / heads``, so
  ``L M^T = V_h . (L Wo_h) + (L bo) / heads`` with ``L Wo`` (``(h*w, I)``) per image: per
  head a ``(tokens x c) x (c x h*w)`` product;
* an update's own Gram matrix, ``rowsum(A (M M^T) * A)``: ``R x R x (h*w)``.

``A`` is used transposed, ``a_t (B, R, h*w)``, as the attention computes it; its columns
sum to ``heads`` (one softmax per head), which turns ``bo / heads`` into ``bo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from samlabel.sam.fast.lowrank import centre_rows, heads_t

if TYPE_CHECKING:  # pragma: no cover
    from samlabel.sam.fast.lowrank import LowRankUpdate
    from samlabel.sam.modeling.sam1.transformer import TwoWayAttentionBlock


def _values_map(v: Tensor, l_wo_t: Tensor) -> Tensor:
    """``(L M^T)^T`` without the bias rows, for ``M[(h, t)] = V[h, t] Wo_h^T + bo / heads``.

    ``v (B, nH, T, c)``, ``l_wo_t (1, nH, c, h*w)`` = heads of ``L Wo``; returns ``(B, R, h*w)``.
    """
    B, nH, T, _ = v.shape
    return torch.matmul(v, l_wo_t).view(B, nH * T, -1)


def _weighted_rows(a_t: Tensor, x: Tensor) -> Tensor:
    """``rowsum(A * X)`` for ``a_t``, ``x`` ``(B, R, h*w)`` (both transposed): ``(B, h*w)``."""
    return (a_t * x).sum(dim=1)


def _vec_rows(a_t: Tensor, vec: Tensor) -> Tensor:
    """``A @ vec`` for ``a_t (B, R, h*w)``, ``vec (B, R)``: ``(B, h*w)``."""
    return torch.bmm(vec.unsqueeze(1), a_t).squeeze(1)


@dataclass(frozen=True)
class NormStatsCache:
    """Per-image parts of both ``rstd`` (module docstring). ``F = Dc G0 P``, ``F2 = F G0 P``.

    ``dd``: ``|Dc|^2``; ``dc_wo0_t``/``dc_bo0``: ``Dc Wo0``, ``Dc bo0``; ``ff``: ``|F|^2``;
    ``f2_wo0_t``/``f2_bo0``: ``F2 Wo0``, ``F2 bo0``; ``f_beta``: ``F beta0c``; ``f_wo1_t``/
    ``f_bo1``: ``F Wo1``, ``F bo1``. Vectors ``(1, h*w)``, head tensors ``(1, nH, c, h*w)``;
    ``Wo``/``bo`` are each block's image-to-token output projection.
    """

    dd: Tensor
    dc_wo0_t: Tensor
    dc_bo0: Tensor
    ff: Tensor
    f2_wo0_t: Tensor
    f2_bo0: Tensor
    f_beta: Tensor
    f_wo1_t: Tensor
    f_bo1: Tensor
    g0: Tensor
    beta0c: Tensor
    bb: float
    eps0: float
    eps1: float

    @classmethod
    def build(cls, first: "TwoWayAttentionBlock", second: "TwoWayAttentionBlock", keys: Tensor) -> "NormStatsCache":
        """``keys``: ``(1, h*w, C)``, the first block's image tokens ``D``."""
        out0, out1 = first.cross_attn_image_to_token.out_proj, second.cross_attn_image_to_token.out_proj
        nh0, nh1 = first.cross_attn_image_to_token.num_heads, second.cross_attn_image_to_token.num_heads
        g0 = first.norm4.weight
        beta0c = centre_rows(first.norm4.bias)
        dc = centre_rows(keys)
        f = centre_rows(dc * g0)
        f2 = centre_rows(f * g0)
        return cls(
            dd=dc.square().sum(-1),
            dc_wo0_t=heads_t(dc @ out0.weight, nh0),
            dc_bo0=dc @ out0.bias,
            ff=f.square().sum(-1),
            f2_wo0_t=heads_t(f2 @ out0.weight, nh0),
            f2_bo0=f2 @ out0.bias,
            f_beta=f @ beta0c,
            f_wo1_t=heads_t(f @ out1.weight, nh1),
            f_bo1=f @ out1.bias,
            g0=g0,
            beta0c=beta0c,
            bb=float(beta0c.square().sum()),
            eps0=float(first.norm4.eps),
            eps1=float(second.norm4.eps),
        )

    def rstd0(self, a_t: Tensor, v: Tensor, m: Tensor) -> Tensor:
        """``norm4`` of the first block on ``D + A0 M0``: its ``rstd (B, h*w, 1)``.

        ``a_t (B, R0, h*w)``, ``v (B, nH, T, c)`` value heads, ``m (B, R0, C)`` = their ``M0``.
        ``|Dc + A Mc|^2 = |Dc|^2 + 2 Dc bo + rowsum(A * (2 (Dc M)'^T + (Mc Mc^T) A^T)^T)``, the
        bias part of ``Dc M^T`` summing to ``Dc bo`` over each row of ``A``.
        """
        c = m.shape[-1]
        mc = centre_rows(m)
        y = torch.baddbmm(_values_map(v, self.dc_wo0_t), torch.bmm(mc, mc.transpose(1, 2)), a_t, beta=2.0)
        sq = self.dd + 2 * self.dc_bo0 + _weighted_rows(a_t, y)
        return torch.rsqrt(sq / c + self.eps0).unsqueeze(-1)

    def rstd1(self, first: "LowRankUpdate", a_t: Tensor, m: Tensor, v: Tensor, heads: int) -> Tensor:
        """``norm4`` of the second block on ``LN0(D + A0 M0) + A1 M1``: its ``rstd (B, h*w, 1)``.

        ``a_t (B, R1, h*w)``, ``v (B, heads, T, c)``, ``m (B, R1, C)``: the second update, as in
        :meth:`rstd0`.

        With ``u = LN0(X0) P = rstd0 Z + beta0c`` and ``w = A1 Mc1``: ``|u + w|^2 = rstd0^2
        |Z|^2 + 2 rstd0 Z.beta0c + |beta0c|^2 + 2 u.w + |w|^2``; ``Z = F + A0 H`` (``H = Mc0 G0 P``),
        ``u.w = rowsum(A1 * (rstd0 Z M1^T + beta0c M1^T))`` with ``Z M1^T = F M1^T + A0 H M1^T``.
        """
        a0, a1, m1 = first.a_t, a_t, m
        c = m1.shape[-1]
        h = centre_rows(centre_rows(first.m) * self.g0)  # (B, R0, C): Mc0 G0 P
        r0 = first.rstd.squeeze(-1)  # (B, h*w)
        y0 = torch.baddbmm(_values_map(first.v, self.f2_wo0_t), torch.bmm(h, h.transpose(1, 2)), a0, beta=2.0)
        zz = self.ff + 2 * self.f2_bo0 + _weighted_rows(a0, y0)  # |Z|^2
        zb = self.f_beta + _vec_rows(a0, h @ self.beta0c)  # Z . beta0c
        # (Z M1^T)^T without its bias rows (those sum to F bo1 over each row of A1)
        x = torch.baddbmm(_values_map(v, self.f_wo1_t), torch.bmm(m1, h.transpose(1, 2)), a0)
        mc1 = centre_rows(m1)
        y1 = torch.baddbmm(x.mul_((2 * r0).unsqueeze(1)), torch.bmm(mc1, mc1.transpose(1, 2)), a1)
        sq = (
            r0.square() * zz + 2 * r0 * zb + self.bb  # |u|^2
            + 2 * r0 * self.f_bo1 + 2 * _vec_rows(a1, m1 @ self.beta0c)  # 2 u.w, the bias and beta parts
            + _weighted_rows(a1, y1)  # 2 rstd0 rowsum(A1 * Z M1^T) + |w|^2
        )
        return torch.rsqrt(sq / c + self.eps1).unsqueeze(-1)
