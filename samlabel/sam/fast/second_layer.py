"""The mask decoder's second two-way block, computed from the first block's low-rank update.

Why. In the interactive path (no mask input) the first block reads the per-image tokens
``D`` (``(h*w, C)``, 4096 x 256) through projections cached once per image, and updates them
by a low-rank product (``samlabel.sam.fast.attention.few_keys_factors``)::

    X = D + A M        A (h*w, R) attention weights, M (R, C), R = heads x tokens (~56)
    K = LayerNorm(X) = rstd * (X - mean(X)) * g + beta        (row by row)

The row mean of ``X`` is that of ``D`` plus ``A`` times the row means of ``M``, so with both
centred (``Dc``, ``Mc``), ``K = rstd * (Dc + A Mc) * g + beta``. The second block reads ``K``
only through three projections to ``I = C / 2`` channels (token-to-image keys and values,
image-to-token queries; keys and queries also add the positional encoding ``pe``). For a
projection ``W`` (``(I, C)``, bias ``b``), exactly in real arithmetic::

    (K + pe) W^T + b = rstd * (Base + A S) + Const
    Base = (Dc * g) W^T,  Const = pe W^T + W beta + b     (per image: here)
    S = (Mc * g) W^T                                       (per prompt: (R, I))

and each head's attention only ever multiplies that by a few token vectors ``Q_h``
(``(T, c)``), so the scores are ``rstd * (Q_h Base_h^T + (Q_h S_h^T) A^T) + Q_h Const_h^T``:
products of width ``c`` (16) or ``R`` instead of the ``(h*w) x C`` image tokens. The
``(h*w, I)`` projections are never formed. ``W beta + b`` is dropped from the keys (constant
along each softmax row) and added once to the values (softmax rows sum to 1).

All tensors here are ``(B, ...)`` with ``B`` prompts; the per-image ones have batch 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from samlabel.sam.fast.attention import attend, project, values_out
from samlabel.sam.fast.lowrank import LowRankUpdate, centre_rows, heads, heads_t

if TYPE_CHECKING:  # pragma: no cover
    from samlabel.sam.fast.norm_stats import NormStatsCache
    from samlabel.sam.modeling.sam1.transformer import TwoWayAttentionBlock


@dataclass(frozen=True)
class SecondLayerCache:
    """Per-image parts of the second block (module docstring). Shapes, ``c = I / nH``:

    ``k_base_t``, ``k_pe_t``, ``q_base_t``, ``q_const_t``: ``(1, nH, c, h*w)``;
    ``v_base``: ``(1, nH, h*w, c)``; ``v_const``: ``(1, nH, 1, c)``; ``gw``: ``(C, 3I)``, the
    three weights stacked (k, v, q) and scaled by the first block's ``norm4`` weight.
    """

    k_base_t: Tensor
    k_pe_t: Tensor
    v_base: Tensor
    v_const: Tensor
    q_base_t: Tensor
    q_const_t: Tensor
    gw: Tensor
    num_heads: int

    @classmethod
    def build(
        cls, first: "TwoWayAttentionBlock", second: "TwoWayAttentionBlock", keys: Tensor, key_pe: Tensor
    ) -> "SecondLayerCache":
        """``keys``, ``key_pe``: ``(1, h*w, C)``, the first block's image tokens and PE."""
        g, beta = first.norm4.weight, first.norm4.bias
        t2i, i2t = second.cross_attn_token_to_image, second.cross_attn_image_to_token
        if t2i.num_heads != i2t.num_heads or t2i.internal_dim != i2t.internal_dim or second.skip_first_layer_pe:
            raise ValueError("the second block needs equal cross-attention heads and widths, and PE on its queries")
        nH = t2i.num_heads
        w = torch.cat([t2i.k_proj.weight, t2i.v_proj.weight, i2t.q_proj.weight])  # (3I, C)
        gw = (w * g).t().contiguous()  # (C, 3I)
        base = torch.matmul(centre_rows(keys), gw)  # (1, h*w, 3I)
        k_base, v_base, q_base = base.chunk(3, dim=-1)
        v_const = t2i.v_proj.weight @ beta + t2i.v_proj.bias
        q_const = F.linear(key_pe, i2t.q_proj.weight) + (i2t.q_proj.weight @ beta + i2t.q_proj.bias)
        return cls(
            k_base_t=heads_t(k_base, nH),
            k_pe_t=heads_t(F.linear(key_pe, t2i.k_proj.weight), nH),
            v_base=heads(v_base, nH),
            v_const=v_const.view(1, nH, 1, -1),
            q_base_t=heads_t(q_base, nH),
            q_const_t=heads_t(q_const, nH),
            gw=gw,
            num_heads=nH,
        )

    @staticmethod
    def _scores(q: Tensor, base_t: Tensor, const_t: Tensor, s_t: Tensor, upd: LowRankUpdate) -> Tensor:
        """``q (B, nH, T, c)`` against ``rstd * (Base + A S) + Const`` -> ``(B, nH*T, h*w)``.

        ``s_t``: ``(B, nH, c, R)``, each head's ``S_h^T``.
        """
        B, nH, T, _ = q.shape
        n = base_t.shape[-1]
        w = torch.matmul(q, base_t).view(B, nH * T, n)
        qs = torch.matmul(q, s_t).view(B, nH * T, -1)  # (B, nH*T, R)
        w = torch.baddbmm(w, qs, upd.a_t)
        return torch.addcmul(torch.matmul(q, const_t).view(B, nH * T, n), w, upd.rstd.transpose(1, 2))

    def forward(
        self,
        block: "TwoWayAttentionBlock",
        queries: Tensor,
        query_pe: Tensor,
        upd: LowRankUpdate,
        stats: "NormStatsCache",
    ) -> tuple[Tensor, LowRankUpdate]:
        """``block.forward`` (a block with PE on its self-attention) for ``keys = LN0(D + A0 M0)``.

        ``queries``, ``query_pe``: ``(B, T, C)``. Returns ``(queries, this block's update)``:
        its image tokens are ``norm4(keys + a_t^T m)``, whose ``rstd`` comes from ``stats``
        (``samlabel.sam.fast.norm_stats``); the tokens themselves are never formed.
        """
        nH = self.num_heads
        B, T, _ = queries.shape
        R, n = upd.a_t.shape[1], upd.a_t.shape[2]
        m = upd.m
        s = torch.matmul(centre_rows(m), self.gw)  # (B, R, 3I)
        s_k, s_v, s_q = (x.reshape(B, R, nH, -1).permute(0, 2, 3, 1) for x in s.chunk(3, dim=-1))  # (B, nH, c, R)
        rstd_row = upd.rstd.transpose(1, 2)  # (B, 1, h*w)

        q = queries + query_pe
        queries = block.norm1(queries + attend(block.self_attn, q, q, queries))

        # tokens -> image: softmax(Q K^T / sqrt(c)) V with K, V from the factors
        att = block.cross_attn_token_to_image
        qh = project(att, queries + query_pe, "q")
        qh = qh * (1.0 / math.sqrt(qh.shape[-1]))
        p = torch.softmax(self._scores(qh, self.k_base_t, self.k_pe_t, s_k, upd), dim=-1)  # (B, nH*T, h*w)
        pr = p * rstd_row
        out = torch.matmul(pr.view(B, nH, T, n), self.v_base)  # (B, nH, T, c)
        pa = torch.bmm(pr, upd.a_t.transpose(1, 2)).view(B, nH, T, R)
        out = torch.matmul(pa, s_v.transpose(-1, -2)).add_(out).add_(self.v_const)
        queries = block.norm2(queries + att.out_proj(att._recombine_heads(out)))

        queries = block.norm3(queries + block.mlp(queries))

        # image -> tokens: keys first, softmax over the T tokens
        att = block.cross_attn_image_to_token
        kh = project(att, queries + query_pe, "k")
        kh = kh * (1.0 / math.sqrt(kh.shape[-1]))
        scores_t = self._scores(kh, self.q_base_t, self.q_const_t, s_q, upd).view(B, nH, T, n)
        attn_t = torch.softmax(scores_t, dim=-2).view(B, nH * T, n)
        values = project(att, queries, "v")  # (B, nH, T, c)
        m1 = values_out(att, values)
        rstd = stats.rstd1(upd, attn_t, m1, values, nH)
        return queries, LowRankUpdate(a_t=attn_t, m=m1, rstd=rstd, heads=nH, v=values)
