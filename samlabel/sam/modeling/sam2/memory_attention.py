"""SAM 2's memory attention (Meta's ``sam2/modeling/memory_attention.py``) and the rotary
attention it uses (``RoPEAttention`` of ``sam2/modeling/sam/transformer.py`` with the axial
RoPE helpers of ``sam2/modeling/position_encoding.py``).

The current frame's tokens ``(HW, B, C)`` self-attend (RoPE on queries and keys), then
cross-attend to the memory bank ``(M, B, mem_dim)``: spatial memories of past frames (RoPE
on their keys, repeated per memory frame) followed by ``num_obj_ptr_tokens`` object-pointer
tokens (no RoPE). Parameter names equal the reference's.
"""

from __future__ import annotations

import copy
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samlabel.sam.modeling.sam2.transformer import Attention


def init_t_xy(end_x: int, end_y: int) -> tuple[Tensor, Tensor]:
    t = torch.arange(end_x * end_y, dtype=torch.float32)
    t_x = (t % end_x).float()
    t_y = torch.div(t, end_x, rounding_mode="floor").float()
    return t_x, t_y


def compute_axial_cis(dim: int, end_x: int, end_y: int, theta: float = 10000.0) -> Tensor:
    """Complex rotations ``(end_x * end_y, dim // 2)``: half for x, half for y."""
    freqs_x = 1.0 / (theta ** (torch.arange(0, dim, 4)[: (dim // 4)].float() / dim))
    freqs_y = 1.0 / (theta ** (torch.arange(0, dim, 4)[: (dim // 4)].float() / dim))
    t_x, t_y = init_t_xy(end_x, end_y)
    freqs_x = torch.outer(t_x, freqs_x)
    freqs_y = torch.outer(t_y, freqs_y)
    freqs_cis_x = torch.polar(torch.ones_like(freqs_x), freqs_x)
    freqs_cis_y = torch.polar(torch.ones_like(freqs_y), freqs_y)
    return torch.cat([freqs_cis_x, freqs_cis_y], dim=-1)


def reshape_for_broadcast(freqs_cis: Tensor, x: Tensor) -> Tensor:
    ndim = x.ndim
    assert freqs_cis.shape == (x.shape[-2], x.shape[-1])
    shape = [d if i >= ndim - 2 else 1 for i, d in enumerate(x.shape)]
    return freqs_cis.view(*shape)


def apply_rotary_enc(xq: Tensor, xk: Tensor, freqs_cis: Tensor, repeat_freqs_k: bool = False) -> tuple[Tensor, Tensor]:
    """Rotate ``xq (B, heads, N, c)`` and ``xk (B, heads, r*N, c)`` (``repeat_freqs_k``: the same
    rotations for each of the r blocks of N keys)."""
    xq_ = torch.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
    xk_ = torch.view_as_complex(xk.float().reshape(*xk.shape[:-1], -1, 2)) if xk.shape[-2] != 0 else None
    freqs_cis = reshape_for_broadcast(freqs_cis, xq_)
    xq_out = torch.view_as_real(xq_ * freqs_cis).flatten(3)
    if xk_ is None:
        return xq_out.type_as(xq).to(xq.device), xk
    if repeat_freqs_k:
        r = xk_.shape[-2] // xq_.shape[-2]
        freqs_cis = freqs_cis.unsqueeze(2).expand(-1, -1, r, -1, -1).flatten(2, 3)
    xk_out = torch.view_as_real(xk_ * freqs_cis).flatten(3)
    return xq_out.type_as(xq).to(xq.device), xk_out.type_as(xk).to(xk.device)


class RoPEAttention(Attention):
    """Attention with axial rotary position encoding on a square ``sqrt(N) x sqrt(N)`` query grid.

    ``rope_k_repeat``: the keys are several such grids one after the other (memory frames);
    the last ``num_k_exclude_rope`` keys (object pointers) are not rotated.
    """

    def __init__(self, *args, rope_theta: float = 10000.0, rope_k_repeat: bool = False,
                 feat_sizes: tuple[int, int] = (64, 64), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rope_theta = rope_theta
        self.rope_dim = self.internal_dim // self.num_heads
        self.rope_k_repeat = rope_k_repeat
        self.freqs_cis = compute_axial_cis(dim=self.rope_dim, end_x=feat_sizes[0], end_y=feat_sizes[1], theta=rope_theta)

    def _freqs_for(self, n: int, device: torch.device) -> Tensor:
        if self.freqs_cis.shape[0] != n:
            side = math.isqrt(n)
            assert side * side == n, f"RoPE attention needs a square feature map, got {n} tokens"
            self.freqs_cis = compute_axial_cis(dim=self.rope_dim, end_x=side, end_y=side, theta=self.rope_theta)
        self.freqs_cis = self.freqs_cis.to(device)
        return self.freqs_cis

    def forward(self, q: Tensor, k: Tensor, v: Tensor, num_k_exclude_rope: int = 0) -> Tensor:
        q = self._separate_heads(self.q_proj(q), self.num_heads)
        k = self._separate_heads(self.k_proj(k), self.num_heads)
        v = self._separate_heads(self.v_proj(v), self.num_heads)
        freqs_cis = self._freqs_for(q.shape[-2], q.device)
        if q.shape[-2] != k.shape[-2]:
            assert self.rope_k_repeat
        num_k_rope = k.size(-2) - num_k_exclude_rope
        q, k_rope = apply_rotary_enc(q, k[:, :, :num_k_rope], freqs_cis=freqs_cis, repeat_freqs_k=self.rope_k_repeat)
        if num_k_exclude_rope > 0:
            k = torch.cat([k_rope, k[:, :, num_k_rope:]], dim=2)
        else:
            k = k_rope
        dropout_p = self.dropout_p if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        return self.out_proj(self._recombine_heads(out))


def get_activation_fn(activation: str):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if activation == "glu":
        return F.glu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}.")


class MemoryAttentionLayer(nn.Module):
    """Pre-norm self-attention, cross-attention to the memory, MLP."""

    def __init__(
        self,
        activation: str,
        cross_attention: nn.Module,
        d_model: int,
        dim_feedforward: int,
        dropout: float,
        pos_enc_at_attn: bool,
        pos_enc_at_cross_attn_keys: bool,
        pos_enc_at_cross_attn_queries: bool,
        self_attention: nn.Module,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.dim_feedforward = dim_feedforward
        self.dropout_value = dropout
        self.self_attn = self_attention
        self.cross_attn_image = cross_attention
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.activation_str = activation
        self.activation = get_activation_fn(activation)
        self.pos_enc_at_attn = pos_enc_at_attn
        self.pos_enc_at_cross_attn_queries = pos_enc_at_cross_attn_queries
        self.pos_enc_at_cross_attn_keys = pos_enc_at_cross_attn_keys

    def _forward_sa(self, tgt: Tensor, query_pos: Optional[Tensor]) -> Tensor:
        tgt2 = self.norm1(tgt)
        q = k = tgt2 + query_pos if self.pos_enc_at_attn else tgt2
        tgt2 = self.self_attn(q, k, v=tgt2)
        return tgt + self.dropout1(tgt2)

    def _forward_ca(self, tgt: Tensor, memory: Tensor, query_pos: Optional[Tensor], pos: Optional[Tensor],
                    num_k_exclude_rope: int = 0) -> Tensor:
        kwds = {}
        if num_k_exclude_rope > 0:
            assert isinstance(self.cross_attn_image, RoPEAttention)
            kwds = {"num_k_exclude_rope": num_k_exclude_rope}
        tgt2 = self.norm2(tgt)
        tgt2 = self.cross_attn_image(
            q=tgt2 + query_pos if self.pos_enc_at_cross_attn_queries else tgt2,
            k=memory + pos if self.pos_enc_at_cross_attn_keys else memory,
            v=memory,
            **kwds,
        )
        return tgt + self.dropout2(tgt2)

    def forward(self, tgt: Tensor, memory: Tensor, pos: Optional[Tensor] = None, query_pos: Optional[Tensor] = None,
                num_k_exclude_rope: int = 0) -> Tensor:
        tgt = self._forward_sa(tgt, query_pos)
        tgt = self._forward_ca(tgt, memory, query_pos, pos, num_k_exclude_rope)
        tgt2 = self.norm3(tgt)
        tgt2 = self.linear2(self.dropout(self.activation(self.linear1(tgt2))))
        return tgt + self.dropout3(tgt2)


class MemoryAttention(nn.Module):
    """``forward(curr (HW, B, C), memory (M, B, mem_dim), curr_pos, memory_pos, num_obj_ptr_tokens)``
    -> the current frame's features conditioned on the memory, ``(HW, B, C)``.

    Unlike the reference, the memory and its position encoding are cast to the dtype of the
    current features first: spatial memories are stored in bf16, and without an object pointer
    (fp32) in the bank the reference's linear layers fail on mixed dtypes.
    """

    def __init__(self, d_model: int, pos_enc_at_input: bool, layer: nn.Module, num_layers: int, batch_first: bool = True) -> None:
        super().__init__()
        self.d_model = d_model
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.num_layers = num_layers
        self.norm = nn.LayerNorm(d_model)
        self.pos_enc_at_input = pos_enc_at_input
        self.batch_first = batch_first

    def forward(
        self,
        curr: Tensor,
        memory: Tensor,
        curr_pos: Optional[Tensor] = None,
        memory_pos: Optional[Tensor] = None,
        num_obj_ptr_tokens: int = 0,
    ) -> Tensor:
        if isinstance(curr, list):
            assert isinstance(curr_pos, list)
            assert len(curr) == len(curr_pos) == 1
            curr, curr_pos = curr[0], curr_pos[0]
        assert curr.shape[1] == memory.shape[1], "Batch size must be the same for curr and memory"
        memory = memory.to(curr.dtype)
        if memory_pos is not None:
            memory_pos = memory_pos.to(curr.dtype)

        output = curr
        if self.pos_enc_at_input and curr_pos is not None:
            output = output + 0.1 * curr_pos
        if self.batch_first:
            output = output.transpose(0, 1)
            curr_pos = curr_pos.transpose(0, 1)
            memory = memory.transpose(0, 1)
            memory_pos = memory_pos.transpose(0, 1)
        for layer in self.layers:
            kwds = {}
            if isinstance(layer.cross_attn_image, RoPEAttention):
                kwds = {"num_k_exclude_rope": num_obj_ptr_tokens}
            output = layer(tgt=output, memory=memory, pos=memory_pos, query_pos=curr_pos, **kwds)
        normed_output = self.norm(output)
        if self.batch_first:
            normed_output = normed_output.transpose(0, 1)
        return normed_output


def build_memory_attention(config, d_model: int, cross_attention: nn.Module) -> MemoryAttention:
    """SAM 2's memory attention after ``config`` (a ``MemoryAttentionConfig``): ``config.num_layers``
    layers of width ``d_model``, each a RoPE self-attention, then ``cross_attention`` (the
    memory read: SAM 2's :class:`RoPEAttention`, EdgeTAM's over compressed memories), then the MLP."""
    a = config
    layer = MemoryAttentionLayer(
        activation=a.activation,
        cross_attention=cross_attention,
        d_model=d_model,
        dim_feedforward=a.dim_feedforward,
        dropout=a.dropout,
        pos_enc_at_attn=a.pos_enc_at_attn,
        pos_enc_at_cross_attn_keys=a.pos_enc_at_cross_attn_keys,
        pos_enc_at_cross_attn_queries=a.pos_enc_at_cross_attn_queries,
        self_attention=RoPEAttention(
            embedding_dim=d_model, num_heads=a.num_heads, downsample_rate=a.downsample_rate, dropout=a.dropout,
            rope_theta=a.rope_theta, feat_sizes=a.feat_sizes,
        ),
    )
    return MemoryAttention(d_model=d_model, pos_enc_at_input=a.pos_enc_at_input, layer=layer, num_layers=a.num_layers)
