"""What the factored mask decoder's modules share: a block's low-rank image update, and
the row and head reshapes they all use.

``samlabel.sam.fast.second_layer`` (the second two-way block), ``samlabel.sam.fast.norm_stats`` (both
LayerNorms' statistics) and ``samlabel.sam.fast.output_map`` (the first upscaling product and the
last attention) each work from :class:`LowRankUpdate` s instead of the ``(h*w, C)`` image
tokens; see ``second_layer``'s docstring for the algebra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from torch import Tensor


@dataclass(frozen=True)
class LowRankUpdate:
    """The first block's image update ``X = D + a_t^T m`` and its LayerNorm's ``rstd``.

    ``a_t``: ``(B, R, h*w)`` attention weights (keys first, as computed), ``R = heads x
    tokens``: each head's weights sum to 1 per image token, so every column of ``a_t``
    sums to ``heads``; ``m``: ``(B, R, C)``; ``rstd``: ``(B, h*w, 1)``; ``v``: the value heads
    ``(B, heads, tokens, c)`` whose rows of ``out_proj`` make ``m`` (``samlabel.sam.fast.attention.values_out``).
    """

    a_t: Tensor
    m: Tensor
    rstd: Tensor
    heads: int
    v: Optional[Tensor] = None


def centre_rows(x: Tensor) -> Tensor:
    """``x P``: each row (last dim) minus its mean."""
    return x - x.mean(dim=-1, keepdim=True)


def heads_t(x: Tensor, num_heads: int) -> Tensor:
    """``(1, N, I)`` -> ``(1, nH, c, N)`` contiguous (each head's projection, transposed)."""
    b, n, width = x.shape
    return x.reshape(b, n, num_heads, width // num_heads).permute(0, 2, 3, 1).contiguous()


def heads(x: Tensor, num_heads: int) -> Tensor:
    """``(1, N, I)`` -> ``(1, nH, N, c)`` contiguous (each head's projection)."""
    b, n, width = x.shape
    return x.reshape(b, n, num_heads, width // num_heads).transpose(1, 2).contiguous()
