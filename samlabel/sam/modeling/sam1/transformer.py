"""The two-way transformer of SAM's mask decoder (official names and maths).

One addition: ``forward_tokens`` takes the image tokens already flattened, and accepts image
tokens with batch 1 for a batch of B prompts, relying on broadcasting instead of repeating
the image embedding B times (``(B, 4096, 256)`` floats per prompt saved in the first layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from samlabel.sam.modeling.common import MLPBlock
from samlabel.sam.fast.norm_stats import NormStatsCache
from samlabel.sam.fast.output_map import FinalAttentionCache, TwoBlockTokens, output_tokens
from samlabel.sam.fast.lowrank import LowRankUpdate
from samlabel.sam.fast.second_layer import SecondLayerCache


class TwoWayTransformer(nn.Module):
    def __init__(
        self,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
    ) -> None:
        super().__init__()
        self.depth = depth
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                embedding_dim=embedding_dim,
                num_heads=num_heads,
                mlp_dim=mlp_dim,
                activation=activation,
                attention_downsample_rate=attention_downsample_rate,
                skip_first_layer_pe=(i == 0),
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(embedding_dim, num_heads, downsample_rate=attention_downsample_rate)
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(self, image_embedding: Tensor, image_pe: Tensor, point_embedding: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, C, h, w)`` image, ``(B, C, h, w)`` PE, ``(B, N, C)`` tokens -> tokens, ``(B, h*w, C)`` image."""
        image_embedding = image_embedding.flatten(2).permute(0, 2, 1)  # (B, h*w, C)
        image_pe = image_pe.flatten(2).permute(0, 2, 1)
        return self.forward_tokens(image_embedding, image_pe, point_embedding)

    def forward_tokens(
        self,
        keys: Tensor,
        key_pe: Tensor,
        point_embedding: Tensor,
        first_layer: Optional[FirstLayerCache] = None,
        keep_tokens: Optional[Sequence[int]] = None,
    ) -> tuple[Tensor, Tensor]:
        """Flattened form: ``keys`` ``(B or 1, h*w, C)``, ``key_pe`` ``(1 or B, h*w, C)``, tokens ``(B, N, C)``.

        ``first_layer``: projections of these very ``keys`` from ``precompute_first_layer``.
        ``keep_tokens``: indices of the output tokens wanted (default: all N). The last
        token-to-image attention is per query token, so leaving out the tokens nobody reads
        (the prompt tokens; the unused mask tokens) is exact and saves its share of the two
        ``(tokens x heads) x h*w x C`` products. Returns ``(B, len(keep_tokens), C)`` then.
        """
        queries, keys, _ = self.forward_tokens_factored(keys, key_pe, point_embedding, first_layer, keep_tokens)
        return queries, keys

    def forward_tokens_factored(
        self,
        keys: Tensor,
        key_pe: Tensor,
        point_embedding: Tensor,
        first_layer: Optional[FirstLayerCache] = None,
        keep_tokens: Optional[Sequence[int]] = None,
        need_keys: bool = True,
    ) -> tuple[Tensor, Optional[Tensor], Optional[TwoBlockTokens]]:
        """:meth:`forward_tokens`, plus the output image tokens in factored form when they are
        ``LN1(LN0(keys + A0 M0) + A1 M1)`` (two blocks, the factored path taken;
        ``samlabel.sam.fast.output_map`` maps them linearly without the tokens), else ``None``.
        On that path the ``(B, h*w, C)`` tokens are formed only if ``need_keys`` (else ``None``).
        """
        queries = point_embedding
        start = 0
        updates = None
        if first_layer is not None and first_layer.second is not None and self._second_layer_factored(queries, keys):
            # both blocks from their low-rank image updates: see SecondLayerCache, NormStatsCache
            queries, first = self.layers[0].forward_with_factors(queries, point_embedding, first_layer)
            queries, second = first_layer.second.forward(self.layers[1], queries, point_embedding, first,
                                                         first_layer.stats)
            factored = TwoBlockTokens.of(first, second)
            if len(self.layers) == 2:  # these are the output tokens
                updates = factored
            if need_keys or updates is None:
                keys = output_tokens(self.layers[0].norm4, self.layers[1].norm4, keys, factored)
            else:
                keys = None
            start = 2
        for i in range(start, len(self.layers)):
            cache = first_layer if i == 0 else None
            queries, keys = self.layers[i](queries=queries, keys=keys, query_pe=point_embedding, key_pe=key_pe,
                                           cache=cache)
        query_pe = point_embedding
        if keep_tokens is not None:
            index = torch.as_tensor(list(keep_tokens), dtype=torch.long, device=queries.device)
            queries, query_pe = queries.index_select(1, index), query_pe.index_select(1, index)
        q = queries + query_pe
        if updates is not None and first_layer.final is not None:
            attn_out = first_layer.final.forward(self.final_attn_token_to_image, q, updates)
        else:
            attn_out = self.final_attn_token_to_image(q=q, k=keys + key_pe, v=keys)
        queries = self.norm_final_attn(queries + attn_out)
        if keys is not None and keys.shape[0] != queries.shape[0]:  # depth 0, broadcast image: one per prompt
            keys = keys.expand(queries.shape[0], -1, -1)
        return queries, keys, updates

    @torch.no_grad()
    def precompute_first_layer(self, keys: Tensor, key_pe: Tensor) -> Optional[FirstLayerCache]:
        """The first block's projections of the image tokens, which do not depend on the prompt.

        ``keys``, ``key_pe``: ``(1, h*w, C)``. Returns ``None`` for a zero-depth transformer.
        """
        if not self.layers:
            return None
        block = self.layers[0]
        k = keys + key_pe
        return FirstLayerCache(
            t2i_k=block.cross_attn_token_to_image.project(k, "k"),
            t2i_v=block.cross_attn_token_to_image.project(keys, "v"),
            i2t_q=block.cross_attn_image_to_token.project(k, "q"),
            second=SecondLayerCache.build(block, self.layers[1], keys, key_pe) if len(self.layers) > 1 else None,
            final=(
                FinalAttentionCache.build(block.norm4, self.layers[1].norm4, self.final_attn_token_to_image, keys,
                                          key_pe)
                if len(self.layers) == 2 else None
            ),
            stats=NormStatsCache.build(block, self.layers[1], keys) if len(self.layers) > 1 else None,
        )

    def _second_layer_factored(self, tokens: Tensor, keys: Tensor) -> bool:
        """The first block's image update is low-rank for these tokens (``Attention._few_keys``)."""
        return self.layers[0].cross_attn_image_to_token.few_keys_applies(keys.shape[-2], tokens.shape[-2])


@dataclass(frozen=True)
class FirstLayerCache:
    """Per-image head tensors of the first two-way block, each ``(1 or B, nH, h*w, c)``.

    ``second``: the second block's per-image parts (:class:`SecondLayerCache`), ``final``: the
    last attention's (``samlabel.sam.fast.output_map.FinalAttentionCache``, two blocks only) and
    ``stats``: the two LayerNorms' (``samlabel.sam.fast.norm_stats``), if any. A cache without
    them gives the same results, computed from the full image tokens.
    """

    t2i_k: Tensor
    t2i_v: Tensor
    i2t_q: Tensor
    second: Optional[SecondLayerCache] = None
    final: Optional[FinalAttentionCache] = None
    stats: Optional[NormStatsCache] = None


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, token->image attention, token MLP, image->token attention."""

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int = 2048,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
        skip_first_layer_pe: bool = False,
    ) -> None:
        super().__init__()
        self.self_attn = Attention(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(embedding_dim, num_heads, downsample_rate=attention_downsample_rate)
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = MLPBlock(embedding_dim, mlp_dim, activation)
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(embedding_dim, num_heads, downsample_rate=attention_downsample_rate)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self, queries: Tensor, keys: Tensor, query_pe: Tensor, key_pe: Tensor, cache: Optional[FirstLayerCache] = None
    ) -> tuple[Tensor, Tensor]:
        queries, k = self._token_side(queries, keys, query_pe, key_pe, cache)
        q = queries + query_pe
        pre = (cache.i2t_q, None, None) if cache is not None else None
        keys = self.norm4(self.cross_attn_image_to_token(q=k, k=q, v=queries, heads=pre, residual=keys))
        return queries, keys

    def _token_side(
        self, queries: Tensor, keys: Optional[Tensor], query_pe: Tensor, key_pe: Optional[Tensor],
        cache: Optional[FirstLayerCache],
    ) -> tuple[Tensor, Optional[Tensor]]:
        """Self-attention, token-to-image attention and MLP: the new queries, and ``keys + key_pe``
        (``(B, h*w, C)``, also read by the image-to-token attention; ``None`` with a cache)."""
        if self.skip_first_layer_pe:
            queries = self.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q=q, k=q, v=queries)
        queries = self.norm1(queries)

        q = queries + query_pe
        k = None if cache is not None else keys + key_pe
        pre = (None, cache.t2i_k, cache.t2i_v) if cache is not None else None
        queries = self.norm2(queries + self.cross_attn_token_to_image(q=q, k=k, v=keys, heads=pre))

        queries = self.norm3(queries + self.mlp(queries))
        return queries, k

    def forward_with_factors(
        self, queries: Tensor, query_pe: Tensor, cache: FirstLayerCache
    ) -> tuple[Tensor, LowRankUpdate]:
        """``forward`` with the cache, returning the image update instead of the image tokens.

        The image tokens become ``norm4(keys + a_t^T @ m)``; returns ``(queries,
        LowRankUpdate(a_t, m, rstd, heads, v))`` with ``norm4``'s reciprocal standard
        deviation from ``cache.stats``. Needs the low-rank image-to-token form (heads x
        tokens < internal width).
        """
        queries, _ = self._token_side(queries, None, query_pe, None, cache)
        q = queries + query_pe
        att = self.cross_attn_image_to_token
        attn_t, values = att.few_keys_attention(None, q, queries, cache.i2t_q)
        m = att.values_out(values)
        rstd = cache.stats.rstd0(attn_t, values, m)
        return queries, LowRankUpdate(a_t=attn_t, m=m, rstd=rstd, heads=att.num_heads, v=values)


class Attention(nn.Module):
    """Multi-head attention whose projections may downscale the width by ``downsample_rate``.

    Batch dimensions of ``q`` and ``k``/``v`` broadcast (1 vs B).
    """

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        assert self.internal_dim % num_heads == 0, "num_heads must divide embedding_dim."
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.v_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)

    def _separate_heads(self, x: Tensor, num_heads: int) -> Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, num_heads, c // num_heads).transpose(1, 2)  # (B, nH, N, c)

    def _recombine_heads(self, x: Tensor) -> Tensor:
        b, n_heads, n_tokens, c_per_head = x.shape
        return x.transpose(1, 2).reshape(b, n_tokens, n_heads * c_per_head)  # (B, N, C)

    def project(self, x: Tensor, which: str) -> Tensor:
        """``(B, N, C)`` -> ``(B, nH, N, c)`` through ``q_proj``, ``k_proj`` or ``v_proj``."""
        proj = {"q": self.q_proj, "k": self.k_proj, "v": self.v_proj}[which]
        return self._separate_heads(proj(x), self.num_heads)

    def few_queries_applies(self, nq: int, nk: int) -> bool:
        """Whether ``nq`` queries on ``nk`` keys take the low-rank ``_few_queries`` form."""
        return nq < nk and self.num_heads * nq < self.internal_dim

    def few_keys_applies(self, nq: int, nk: int) -> bool:
        """Whether ``nq`` queries on ``nk`` keys take the low-rank ``_few_keys`` form."""
        return nk < nq and self.num_heads * nk < self.internal_dim

    def forward(
        self, q: Optional[Tensor], k: Optional[Tensor], v: Tensor, heads=None, residual: Optional[Tensor] = None
    ) -> Tensor:
        """``heads``: optional ``(q, k, v)`` already projected and split (``None`` entries are computed).

        ``residual``: a tensor shaped like the output, added to it (``residual + attention``);
        the image-side low-rank form folds the addition into its last product.
        """
        pre_q, pre_k, pre_v = heads if heads is not None else (None, None, None)
        if pre_k is None and pre_v is None:
            nq = (pre_q if pre_q is not None else q).shape[-2]
            nk = k.shape[-2]
            # few prompt tokens on one side (heads x tokens < internal width): project those
            # tokens instead of the many image tokens (see _few_queries / _few_keys)
            if pre_q is None and self.few_queries_applies(nq, nk):
                out = self._few_queries(q, k, v)
                return out if residual is None else residual + out
            if self.few_keys_applies(nq, nk):
                return self._few_keys(q, k, v, pre_q, residual)
        out = self._attend(q, k, v, pre_q, pre_k, pre_v)
        return out if residual is None else residual + out

    def _attend(self, q, k, v, pre_q, pre_k, pre_v) -> Tensor:
        """The official computation (projections, softmax attention, output projection)."""
        q = pre_q if pre_q is not None else self.project(q, "q")
        k = pre_k if pre_k is not None else self.project(k, "k")
        v = pre_v if pre_v is not None else self.project(v, "v")
        c_per_head = q.shape[-1]
        if q.shape[-2] > k.shape[-2]:
            # many queries, few keys (image tokens attending to the prompt tokens): a softmax
            # along a last dim of ~7 is slow; the same maths with keys first runs ~3x faster
            attn_t = k @ q.transpose(-1, -2)  # (B, nH, Nk, Nq)
            attn_t = torch.softmax(attn_t / math.sqrt(c_per_head), dim=-2)
            return self.out_proj(self._recombine_heads(attn_t.transpose(-1, -2) @ v))
        attn = q @ k.permute(0, 1, 3, 2)  # (B, nH, Nq, Nk)
        attn = torch.softmax(attn / math.sqrt(c_per_head), dim=-1)
        return self.out_proj(self._recombine_heads(attn @ v))

    # Low-rank forms of the cross attentions. One side is the h*w image tokens (4096), the other
    # ~7 prompt tokens; re-associating the products moves the 256 -> 128 projections from the
    # image tokens onto the prompt tokens, turning each 4096x256x128 GEMM into a
    # 4096x256x(heads*tokens) one. Exact in real arithmetic (float rounding differs only).

    def _few_queries(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Tokens ``(B, Nq, C)`` attending to image tokens ``(1 or B, Nk, C)``.

        softmax(Q_h (X W_k,h^T + b_k,h)^T) (X W_v,h^T + b_v,h) = softmax((Q_h W_k,h) X^T) (A_h X) W_v,h^T + b_v,h:
        ``Q_h b_k,h`` is constant along each softmax row, and softmax rows sum to 1.
        """
        nH = self.num_heads
        Q = self.project(q, "q")  # (B, nH, Nq, c)
        B, _, Nq, c = Q.shape
        C = k.shape[-1]
        qk = torch.matmul(Q, self.k_proj.weight.view(nH, c, C)).reshape(B, nH * Nq, C)  # (B, nH*Nq, C)
        scores = torch.matmul(qk, k.transpose(1, 2))  # (B, nH*Nq, Nk)
        attn = torch.softmax(scores.mul_(1.0 / math.sqrt(c)), dim=-1)
        ax = torch.matmul(attn, v).view(B, nH, Nq, C)  # (B, nH, Nq, C)
        out = torch.matmul(ax, self.v_proj.weight.view(nH, c, C).transpose(1, 2))  # (B, nH, Nq, c)
        out = out + self.v_proj.bias.view(nH, 1, c)
        return self.out_proj(self._recombine_heads(out))

    def _few_keys(
        self, q: Optional[Tensor], k: Tensor, v: Tensor, pre_q: Optional[Tensor], residual: Optional[Tensor] = None
    ) -> Tensor:
        """Image tokens ``(1 or B, Nq, C)`` (or projected ``pre_q (1, nH, Nq, c)``) attending to tokens ``(B, Nk, C)``.

        The output is ``a @ m`` (see :meth:`few_keys_factors`); with ``residual`` the product
        accumulates into it.
        """
        a, m = self.few_keys_factors(q, k, v, pre_q)
        if residual is None:
            return torch.bmm(a, m)  # (B, Nq, C)
        if residual.shape[0] != a.shape[0]:
            residual = residual.expand(a.shape[0], -1, -1)
        return torch.baddbmm(residual, a, m)  # (B, Nq, C)

    def few_keys_factors(
        self, q: Optional[Tensor], k: Tensor, v: Tensor, pre_q: Optional[Tensor]
    ) -> tuple[Tensor, Tensor]:
        """The image-to-token attention as a product ``a @ m``: ``a (B, Nq, nH*Nk)``, ``m (B, nH*Nk, C)``.

        Scores ``X (W_q,h^T K_h^T) + b_q,h K_h^T``; output ``sum_h A_h (V_h W_out,h^T) + b_out``.
        Each head's attention row sums to 1, so ``b_out / nH`` added to every row of
        ``V_h W_out,h^T`` yields ``b_out``. ``a`` holds the heads' attention weights side by side.
        """
        attn_t, values = self.few_keys_attention(q, k, v, pre_q)
        return attn_t.transpose(1, 2), self.values_out(values)

    def few_keys_attention(
        self, q: Optional[Tensor], k: Tensor, v: Tensor, pre_q: Optional[Tensor]
    ) -> tuple[Tensor, Tensor]:
        """Attention weights ``(B, nH*Nk, Nq)`` (keys first) and value heads ``(B, nH, Nk, c)``
        of image tokens ``q`` (or projected ``pre_q``) attending to the few tokens ``k``, ``v``."""
        nH = self.num_heads
        K = self.project(k, "k")  # (B, nH, Nk, c)
        V = self.project(v, "v")  # (B, nH, Nk, c)
        B, _, Nk, c = K.shape
        if pre_q is not None:
            scores_t = torch.matmul(K, pre_q.transpose(-1, -2))  # (B, nH, Nk, Nq)
        else:
            Cin = q.shape[-1]
            mq = torch.matmul(K, self.q_proj.weight.view(nH, c, Cin))  # (B, nH, Nk, Cin)
            mq = mq.reshape(B, nH * Nk, Cin)
            bias = torch.matmul(K, self.q_proj.bias.view(nH, c, 1)).reshape(B, nH * Nk, 1)
            qt = q.transpose(1, 2)  # (1 or B, Cin, Nq)
            if qt.shape[0] != B:
                qt = qt.expand(B, -1, -1)
            scores_t = torch.baddbmm(bias, mq, qt)  # (B, nH*Nk, Nq)
            scores_t = scores_t.view(B, nH, Nk, -1)
        Nq = scores_t.shape[-1]
        # softmax over the few keys: keys-first layout (a softmax along a last dim of ~7 is slow)
        attn_t = torch.softmax(scores_t.mul_(1.0 / math.sqrt(c)), dim=-2).reshape(B, nH * Nk, Nq)
        return attn_t, V

    def values_out(self, v_heads: Tensor) -> Tensor:
        """``(B, nH, Nk, c)`` value heads -> ``(B, nH*Nk, C)``: each through its slice of ``out_proj``.

        The output bias is spread over the heads (``b_out / nH`` per row), so that attention
        weights summing to 1 per head add ``b_out`` once.
        """
        B, nH, Nk, c = v_heads.shape
        C = self.out_proj.weight.shape[0]
        vo = torch.matmul(v_heads, self.out_proj.weight.view(C, nH, c).permute(1, 2, 0)).reshape(B, nH * Nk, C)
        return vo + self.out_proj.bias / nH
