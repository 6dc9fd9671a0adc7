"""The two-way transformer, fast: per-image caches, kept tokens, and both blocks in low-rank form.

Functions over a plain :class:`samlabel.sam.modeling.sam1.transformer.TwoWayTransformer`;
their results equal ``transformer(image, pe, tokens)`` up to float rounding
(``tests/sam/fast/test_fast_second_layer.py``, ``test_fast_decoder_lowrank.py``):

* image tokens come flattened, and with batch 1 for a batch of B prompts (broadcast instead of
  repeating the ``(4096, 256)`` image B times);
* :func:`precompute_image_side` projects the image tokens once per image (the first block's
  keys, values and queries, and the parts :mod:`second_layer`, :mod:`norm_stats` and
  :mod:`output_map` need), so a prompt costs only its own tokens' work;
* ``keep_tokens`` leaves out the output tokens nobody reads in the last attention;
* the cross attentions take the low-rank forms of :mod:`samlabel.sam.fast.attention`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import torch
from torch import Tensor

from samlabel.sam.fast.attention import attend, few_keys_applies, few_keys_attention, project, values_out
from samlabel.sam.fast.lowrank import LowRankUpdate
from samlabel.sam.fast.norm_stats import NormStatsCache
from samlabel.sam.fast.output_map import FinalAttentionCache, TwoBlockTokens, output_tokens
from samlabel.sam.fast.second_layer import SecondLayerCache

if TYPE_CHECKING:
    from samlabel.sam.modeling.sam1.transformer import TwoWayAttentionBlock, TwoWayTransformer


@dataclass(frozen=True)
class ImageSideCache:
    """The transformer's prompt-independent work on one image's tokens: the first two-way
    block's head tensors (``t2i_k``, ``t2i_v``, ``i2t_q``, each ``(1 or B, nH, h*w, c)``);
    ``second``: the second block's per-image parts (:class:`SecondLayerCache`), ``final``: the
    last attention's (:class:`FinalAttentionCache`, two blocks only) and ``stats``: the two
    LayerNorms' (:class:`NormStatsCache`), if any. A cache without them gives the same
    results, computed from the full image tokens.
    """

    t2i_k: Tensor
    t2i_v: Tensor
    i2t_q: Tensor
    second: Optional[SecondLayerCache] = None
    final: Optional[FinalAttentionCache] = None
    stats: Optional[NormStatsCache] = None


@torch.no_grad()
def precompute_image_side(transformer: "TwoWayTransformer", keys: Tensor, key_pe: Tensor) -> Optional[ImageSideCache]:
    """The first block's projections of the image tokens, which do not depend on the prompt.

    ``keys``, ``key_pe``: ``(1, h*w, C)``. Returns ``None`` for a zero-depth transformer.
    """
    layers = transformer.layers
    if not layers:
        return None
    block = layers[0]
    k = keys + key_pe
    two = len(layers) > 1
    return ImageSideCache(
        t2i_k=project(block.cross_attn_token_to_image, k, "k"),
        t2i_v=project(block.cross_attn_token_to_image, keys, "v"),
        i2t_q=project(block.cross_attn_image_to_token, k, "q"),
        second=SecondLayerCache.build(block, layers[1], keys, key_pe) if two else None,
        final=(
            FinalAttentionCache.build(block.norm4, layers[1].norm4, transformer.final_attn_token_to_image, keys, key_pe)
            if len(layers) == 2 else None
        ),
        stats=NormStatsCache.build(block, layers[1], keys) if two else None,
    )


def forward_tokens(
    transformer: "TwoWayTransformer",
    keys: Tensor,
    key_pe: Tensor,
    point_embedding: Tensor,
    image_side: Optional[ImageSideCache] = None,
    keep_tokens: Optional[Sequence[int]] = None,
    need_keys: bool = True,
) -> tuple[Tensor, Optional[Tensor], Optional[TwoBlockTokens]]:
    """``transformer`` on flattened image tokens: ``keys`` ``(B or 1, h*w, C)``, ``key_pe``
    ``(1 or B, h*w, C)``, tokens ``(B, N, C)`` -> queries, image tokens, factored image tokens.

    ``image_side``: :func:`precompute_image_side` of these very ``keys``.
    ``keep_tokens``: indices of the output tokens wanted (default: all N). The last
    token-to-image attention is per query token, so leaving out the tokens nobody reads is
    exact; the queries are then ``(B, len(keep_tokens), C)``.
    The third result is the output image tokens in factored form when they are
    ``LN1(LN0(keys + A0 M0) + A1 M1)`` (two blocks, the factored path taken; ``output_map``
    maps them linearly without the tokens), else ``None``. On that path the ``(B, h*w, C)``
    tokens are formed only if ``need_keys`` (else the second result is ``None``).
    """
    layers = transformer.layers
    queries = point_embedding
    start = 0
    updates = None
    if image_side is not None and image_side.second is not None and _second_layer_factored(layers[0], queries, keys):
        # both blocks from their low-rank image updates: see SecondLayerCache, NormStatsCache
        queries, first = forward_with_factors(layers[0], queries, point_embedding, image_side)
        queries, second = image_side.second.forward(layers[1], queries, point_embedding, first, image_side.stats)
        factored = TwoBlockTokens.of(first, second)
        if len(layers) == 2:  # these are the output tokens
            updates = factored
        if need_keys or updates is None:
            keys = output_tokens(layers[0].norm4, layers[1].norm4, keys, factored)
        else:
            keys = None
        start = 2
    for i in range(start, len(layers)):
        cache = image_side if i == 0 else None
        queries, keys = block_forward(layers[i], queries, keys, point_embedding, key_pe, cache)
    query_pe = point_embedding
    if keep_tokens is not None:
        index = torch.as_tensor(list(keep_tokens), dtype=torch.long, device=queries.device)
        queries, query_pe = queries.index_select(1, index), query_pe.index_select(1, index)
    q = queries + query_pe
    if updates is not None and image_side.final is not None:
        attn_out = image_side.final.forward(transformer.final_attn_token_to_image, q, updates)
    else:
        attn_out = attend(transformer.final_attn_token_to_image, q, keys + key_pe, keys)
    queries = transformer.norm_final_attn(queries + attn_out)
    if keys is not None and keys.shape[0] != queries.shape[0]:  # depth 0, broadcast image: one per prompt
        keys = keys.expand(queries.shape[0], -1, -1)
    return queries, keys, updates


def _second_layer_factored(block: "TwoWayAttentionBlock", tokens: Tensor, keys: Tensor) -> bool:
    """The first block's image update is low-rank for these tokens (``attention.few_keys``)."""
    return few_keys_applies(block.cross_attn_image_to_token, keys.shape[-2], tokens.shape[-2])


def block_forward(
    block: "TwoWayAttentionBlock", queries: Tensor, keys: Tensor, query_pe: Tensor, key_pe: Tensor,
    cache: Optional[ImageSideCache] = None,
) -> tuple[Tensor, Tensor]:
    """``block(queries, keys, query_pe, key_pe)``, with the first block's per-image ``cache``."""
    queries, k = _token_side(block, queries, keys, query_pe, key_pe, cache)
    q = queries + query_pe
    pre = (cache.i2t_q, None, None) if cache is not None else None
    keys = block.norm4(attend(block.cross_attn_image_to_token, k, q, queries, heads=pre, residual=keys))
    return queries, keys


def _token_side(
    block: "TwoWayAttentionBlock", queries: Tensor, keys: Optional[Tensor], query_pe: Tensor,
    key_pe: Optional[Tensor], cache: Optional[ImageSideCache],
) -> tuple[Tensor, Optional[Tensor]]:
    """Self-attention, token-to-image attention and MLP: the new queries, and ``keys + key_pe``
    (``(B, h*w, C)``, also read by the image-to-token attention; ``None`` with a cache)."""
    if block.skip_first_layer_pe:
        queries = attend(block.self_attn, queries, queries, queries)
    else:
        q = queries + query_pe
        queries = queries + attend(block.self_attn, q, q, queries)
    queries = block.norm1(queries)

    q = queries + query_pe
    k = None if cache is not None else keys + key_pe
    pre = (None, cache.t2i_k, cache.t2i_v) if cache is not None else None
    queries = block.norm2(queries + attend(block.cross_attn_token_to_image, q, k, keys, heads=pre))

    queries = block.norm3(queries + block.mlp(queries))
    return queries, k


def forward_with_factors(
    block: "TwoWayAttentionBlock", queries: Tensor, query_pe: Tensor, cache: ImageSideCache
) -> tuple[Tensor, LowRankUpdate]:
    """:func:`block_forward` with the cache, returning the image update instead of the image tokens.

    The image tokens become ``norm4(keys + a_t^T @ m)``; returns ``(queries,
    LowRankUpdate(a_t, m, rstd, heads, v))`` with ``norm4``'s reciprocal standard deviation
    from ``cache.stats``. Needs the low-rank image-to-token form (heads x tokens < width).
    """
    queries, _ = _token_side(block, queries, None, query_pe, None, cache)
    q = queries + query_pe
    att = block.cross_attn_image_to_token
    attn_t, values = few_keys_attention(att, None, q, queries, cache.i2t_q)
    m = values_out(att, values)
    rstd = cache.stats.rstd0(attn_t, values, m)
    return queries, LowRankUpdate(a_t=attn_t, m=m, rstd=rstd, heads=att.num_heads, v=values)
