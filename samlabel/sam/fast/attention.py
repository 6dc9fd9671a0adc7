"""The mask decoder's attention, fast: prompt-side low-rank forms and a keys-first softmax.

Every function takes a plain :class:`samlabel.sam.modeling.sam1.transformer.Attention` and
reads its weights; the result equals ``att(q, k, v)`` up to float rounding
(``tests/sam/fast/test_fast_decoder_lowrank.py``).

One side of a decoder cross attention is the ``h*w`` image tokens (4096), the other the ~7
prompt tokens. Re-associating the products moves the 256 -> 128 projections from the image
tokens onto the prompt tokens, turning each 4096x256x128 GEMM into a 4096x256x(heads*tokens)
one (:func:`few_queries`, :func:`few_keys`). Exact in real arithmetic.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

import torch
from torch import Tensor

if TYPE_CHECKING:
    from samlabel.sam.modeling.sam1.transformer import Attention


def project(att: "Attention", x: Tensor, which: str) -> Tensor:
    """``(B, N, C)`` -> ``(B, nH, N, c)`` through ``q_proj``, ``k_proj`` or ``v_proj``."""
    proj = {"q": att.q_proj, "k": att.k_proj, "v": att.v_proj}[which]
    return att._separate_heads(proj(x), att.num_heads)


def few_queries_applies(att: "Attention", nq: int, nk: int) -> bool:
    """Whether ``nq`` queries on ``nk`` keys take the low-rank :func:`few_queries` form."""
    return nq < nk and att.num_heads * nq < att.internal_dim


def few_keys_applies(att: "Attention", nq: int, nk: int) -> bool:
    """Whether ``nq`` queries on ``nk`` keys take the low-rank :func:`few_keys` form."""
    return nk < nq and att.num_heads * nk < att.internal_dim


def attend(
    att: "Attention", q: Optional[Tensor], k: Optional[Tensor], v: Tensor, heads=None, residual: Optional[Tensor] = None
) -> Tensor:
    """``att(q, k, v)``, in the cheapest exact form for these shapes; batch 1 broadcasts against B.

    ``heads``: optional ``(q, k, v)`` already projected and split (``None`` entries are computed).
    ``residual``: a tensor shaped like the output, added to it (``residual + attention``); the
    image-side low-rank form folds the addition into its last product.
    """
    pre_q, pre_k, pre_v = heads if heads is not None else (None, None, None)
    if pre_k is None and pre_v is None:
        nq = (pre_q if pre_q is not None else q).shape[-2]
        nk = k.shape[-2]
        if pre_q is None and few_queries_applies(att, nq, nk):
            out = few_queries(att, q, k, v)
            return out if residual is None else residual + out
        if few_keys_applies(att, nq, nk):
            return few_keys(att, q, k, v, pre_q, residual)
    out = _attend(att, q, k, v, pre_q, pre_k, pre_v)
    return out if residual is None else residual + out


def _attend(att: "Attention", q, k, v, pre_q, pre_k, pre_v) -> Tensor:
    """The plain computation, with a keys-first softmax when there are more queries than keys."""
    q = pre_q if pre_q is not None else project(att, q, "q")
    k = pre_k if pre_k is not None else project(att, k, "k")
    v = pre_v if pre_v is not None else project(att, v, "v")
    c_per_head = q.shape[-1]
    if q.shape[-2] > k.shape[-2]:
        # many queries, few keys (image tokens attending to the prompt tokens): a softmax
        # along a last dim of ~7 is slow; the same maths with keys first keeps the softmax
        # along the long dim, which runs several times faster
        attn_t = k @ q.transpose(-1, -2)  # (B, nH, Nk, Nq)
        attn_t = torch.softmax(attn_t / math.sqrt(c_per_head), dim=-2)
        return att.out_proj(att._recombine_heads(attn_t.transpose(-1, -2) @ v))
    attn = q @ k.permute(0, 1, 3, 2)  # (B, nH, Nq, Nk)
    attn = torch.softmax(attn / math.sqrt(c_per_head), dim=-1)
    return att.out_proj(att._recombine_heads(attn @ v))


def few_queries(att: "Attention", q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Tokens ``(B, Nq, C)`` attending to image tokens ``(1 or B, Nk, C)``.

    softmax(Q_h (X W_k,h^T + b_k,h)^T) (X W_v,h^T + b_v,h) = softmax((Q_h W_k,h) X^T) (A_h X) W_v,h^T + b_v,h:
    ``Q_h b_k,h`` is constant along each softmax row, and softmax rows sum to 1.
    """
    nH = att.num_heads
    Q = project(att, q, "q")  # (B, nH, Nq, c)
    B, _, Nq, c = Q.shape
    C = k.shape[-1]
    qk = torch.matmul(Q, att.k_proj.weight.view(nH, c, C)).reshape(B, nH * Nq, C)  # (B, nH*Nq, C)
    scores = torch.matmul(qk, k.transpose(1, 2))  # (B, nH*Nq, Nk)
    attn = torch.softmax(scores.mul_(1.0 / math.sqrt(c)), dim=-1)
    ax = torch.matmul(attn, v).view(B, nH, Nq, C)  # (B, nH, Nq, C)
    out = torch.matmul(ax, att.v_proj.weight.view(nH, c, C).transpose(1, 2))  # (B, nH, Nq, c)
    out = out + att.v_proj.bias.view(nH, 1, c)
    return att.out_proj(att._recombine_heads(out))


def few_keys(
    att: "Attention", q: Optional[Tensor], k: Tensor, v: Tensor, pre_q: Optional[Tensor],
    residual: Optional[Tensor] = None,
) -> Tensor:
    """Image tokens ``(1 or B, Nq, C)`` (or projected ``pre_q (1, nH, Nq, c)``) attending to tokens ``(B, Nk, C)``.

    The output is ``a @ m`` (see :func:`few_keys_factors`); with ``residual`` the product
    accumulates into it.
    """
    a, m = few_keys_factors(att, q, k, v, pre_q)
    if residual is None:
        return torch.bmm(a, m)  # (B, Nq, C)
    if residual.shape[0] != a.shape[0]:
        residual = residual.expand(a.shape[0], -1, -1)
    return torch.baddbmm(residual, a, m)  # (B, Nq, C)


def few_keys_factors(
    att: "Attention", q: Optional[Tensor], k: Tensor, v: Tensor, pre_q: Optional[Tensor]
) -> tuple[Tensor, Tensor]:
    """The image-to-token attention as a product ``a @ m``: ``a (B, Nq, nH*Nk)``, ``m (B, nH*Nk, C)``.

    Scores ``X (W_q,h^T K_h^T) + b_q,h K_h^T``; output ``sum_h A_h (V_h W_out,h^T) + b_out``.
    Each head's attention row sums to 1, so ``b_out / nH`` added to every row of
    ``V_h W_out,h^T`` yields ``b_out``. ``a`` holds the heads' attention weights side by side.
    """
    attn_t, values = few_keys_attention(att, q, k, v, pre_q)
    return attn_t.transpose(1, 2), values_out(att, values)


def few_keys_attention(
    att: "Attention", q: Optional[Tensor], k: Tensor, v: Tensor, pre_q: Optional[Tensor]
) -> tuple[Tensor, Tensor]:
    """Attention weights ``(B, nH*Nk, Nq)`` (keys first) and value heads ``(B, nH, Nk, c)``
    of image tokens ``q`` (or projected ``pre_q``) attending to the few tokens ``k``, ``v``."""
    nH = att.num_heads
    K = project(att, k, "k")  # (B, nH, Nk, c)
    V = project(att, v, "v")  # (B, nH, Nk, c)
    B, _, Nk, c = K.shape
    if pre_q is not None:
        scores_t = torch.matmul(K, pre_q.transpose(-1, -2))  # (B, nH, Nk, Nq)
    else:
        Cin = q.shape[-1]
        mq = torch.matmul(K, att.q_proj.weight.view(nH, c, Cin))  # (B, nH, Nk, Cin)
        mq = mq.reshape(B, nH * Nk, Cin)
        bias = torch.matmul(K, att.q_proj.bias.view(nH, c, 1)).reshape(B, nH * Nk, 1)
        qt = q.transpose(1, 2)  # (1 or B, Cin, Nq)
        if qt.shape[0] != B:
            qt = qt.expand(B, -1, -1)
        scores_t = torch.baddbmm(bias, mq, qt)  # (B, nH*Nk, Nq)
        scores_t = scores_t.view(B, nH, Nk, -1)
    Nq = scores_t.shape[-1]
    # softmax over the few keys: keys-first layout (a softmax along a last dim of ~7 is slow)
    attn_t = torch.softmax(scores_t.mul_(1.0 / math.sqrt(c)), dim=-2).reshape(B, nH * Nk, Nq)
    return attn_t, V


def values_out(att: "Attention", v_heads: Tensor) -> Tensor:
    """``(B, nH, Nk, c)`` value heads -> ``(B, nH*Nk, C)``: each through its slice of ``out_proj``.

    The output bias is spread over the heads (``b_out / nH`` per row), so that attention
    weights summing to 1 per head add ``b_out`` once.
    """
    B, nH, Nk, c = v_heads.shape
    C = att.out_proj.weight.shape[0]
    vo = torch.matmul(v_heads, att.out_proj.weight.view(C, nH, c).permute(1, 2, 0)).reshape(B, nH * Nk, C)
    return vo + att.out_proj.bias / nH
