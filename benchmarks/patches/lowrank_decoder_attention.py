"""Prepared patch for ``samlabel.sam.modeling.sam1.transformer.Attention.forward``: few-token cross attention
without projecting the 4096 image tokens.

In the mask decoder's cross attentions one side is the 64x64 = 4096 image tokens and the
other ~7 prompt tokens. The official code projects the image tokens (256 -> 128 channels) for
every prompt: 4096 x 256 x 128 MACs per projection, five per decode plus two output
projections back to 256 channels. Re-associating the products moves the projection onto the
few tokens instead (exact in real arithmetic; float rounding only):

* token -> image:  softmax(Q_h (X W_k,h^T + b_k,h)^T) (X W_v,h^T + b_v,h)
                 = softmax((Q_h W_k,h) X^T) (A_h X) W_v,h^T + b_v,h
  (Q_h b_k,h is constant along each softmax row and cancels; softmax rows sum to 1.)
* image -> token:  out_proj(concat_h softmax(Q_h K_h^T) V_h)
                 = sum_h softmax(X (W_q,h^T K_h^T) + b_q,h K_h^T) (V_h W_out,h^T) + b_out

Each 4096 x 256 x 128 GEMM becomes a 4096 x 256 x (heads * tokens) = 4096 x 256 x 56 one.
Used only while heads * tokens < internal width (fewer than 16 prompt tokens with SAM's
8 heads / 128 channels); otherwise the original path runs.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor


def _t2i(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Few queries (tokens, ``(B, Nq, C)``) over many keys (image, ``(Bk, Nk, C)``)."""
    nH = self.num_heads
    Q = self.project(q, "q")  # (B, nH, Nq, c)
    B, _, Nq, c = Q.shape
    C = k.shape[-1]
    Wk = self.k_proj.weight.view(nH, c, C)
    Qk = torch.matmul(Q, Wk).reshape(B, nH * Nq, C)  # (B, nH*Nq, C)
    scores = torch.matmul(Qk, k.transpose(1, 2))  # (B, nH*Nq, Nk)
    attn = torch.softmax(scores.mul_(1.0 / math.sqrt(c)), dim=-1)
    av = torch.matmul(attn, v).view(B, nH, Nq, C)  # (B, nH, Nq, C)
    Wv = self.v_proj.weight.view(nH, c, C)
    out = torch.matmul(av, Wv.transpose(1, 2)) + self.v_proj.bias.view(nH, 1, c)  # (B, nH, Nq, c)
    return self.out_proj(self._recombine_heads(out))


def _i2t(self, q: Optional[Tensor], k: Tensor, v: Tensor, pre_q: Optional[Tensor]) -> Tensor:
    """Many queries (image ``(Bq, Nq, C)`` or projected ``pre_q (1, nH, Nq, c)``) over few keys (tokens)."""
    nH = self.num_heads
    K = self.project(k, "k")  # (B, nH, Nk, c)
    V = self.project(v, "v")  # (B, nH, Nk, c)
    B, _, Nk, c = K.shape
    C = self.out_proj.weight.shape[0]
    if pre_q is not None:
        scores = torch.matmul(pre_q, K.transpose(-1, -2))  # (B, nH, Nq, Nk)
        Nq = scores.shape[-2]
        scores = scores.permute(0, 2, 1, 3).reshape(B, Nq, nH * Nk)
    else:
        Cin = q.shape[-1]
        Wq = self.q_proj.weight.view(nH, c, Cin)
        M = torch.matmul(Wq.transpose(1, 2), K.transpose(-1, -2))  # (B, nH, Cin, Nk)
        M = M.permute(0, 2, 1, 3).reshape(B, Cin, nH * Nk)
        bias = torch.matmul(self.q_proj.bias.view(nH, 1, c), K.transpose(-1, -2))  # (B, nH, 1, Nk)
        scores = torch.matmul(q, M) + bias.reshape(B, 1, nH * Nk)  # (B, Nq, nH*Nk)
        Nq = scores.shape[1]
    attn = torch.softmax(scores.mul_(1.0 / math.sqrt(c)).view(B, Nq, nH, Nk), dim=-1)
    Wo = self.out_proj.weight.view(C, nH, c).permute(1, 2, 0)  # (nH, c, C)
    Vo = torch.matmul(V, Wo).reshape(B, nH * Nk, C)  # (B, nH*Nk, C)
    return torch.baddbmm(self.out_proj.bias.view(1, 1, C), attn.reshape(B, Nq, nH * Nk), Vo)


def install(attention_cls) -> None:
    """Wrap ``attention_cls.forward`` (idempotent)."""
    original = getattr(attention_cls.forward, "_lowrank_original", attention_cls.forward)

    def forward(self, q, k, v, heads=None):
        pre_q, pre_k, pre_v = heads if heads is not None else (None, None, None)
        nq = (pre_q if pre_q is not None else q).shape[-2]
        nk = (pre_k if pre_k is not None else k).shape[-2]
        width = self.internal_dim
        if pre_k is None and pre_v is None and nq < nk and self.num_heads * nq < width:
            return _t2i(self, q, k, v)
        if pre_k is None and pre_v is None and nk < nq and self.num_heads * nk < width:
            return _i2t(self, q, k, v, pre_q)
        return original(self, q, k, v, heads)

    forward._lowrank_original = original
    attention_cls.forward = forward
