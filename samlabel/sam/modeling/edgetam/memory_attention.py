"""EdgeTAM's memory attention: SAM 2's layers with a cross-attention for compressed memories.

The layers are samlabel's SAM 2 :class:`~samlabel.sam.modeling.sam2.memory_attention.MemoryAttentionLayer`
under :class:`~samlabel.sam.modeling.sam2.memory_attention.MemoryAttention` (self-attention with
axial RoPE on the current frame's ``H x W`` grid, unchanged). Only the cross-attention's keys
differ: each memory frame is ``num_latents_1d`` global Perceiver tokens (not rotated) followed
by ``k_h * k_w`` windowed tokens, rotated with an axial RoPE of *their* ``k_h x k_w`` grid
(Meta's ``RoPEAttentionv2``; Hugging Face's ``apply_rotary_pos_emb_2d_cross_attn``); the
trailing object-pointer tokens are not rotated, as in SAM 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from samlabel.sam.modeling.sam2.config import MemoryAttentionConfig
from samlabel.sam.modeling.sam2.memory_attention import MemoryAttention, RoPEAttention, compute_axial_cis
from samlabel.sam.modeling.sam2.memory_attention import build_memory_attention as sam2_memory_attention


def rotate(x: Tensor, freqs_cis: Tensor) -> Tensor:
    """``x (..., N, c)`` rotated by complex ``freqs_cis (N, c / 2)`` (broadcast over the leading dims)."""
    x_ = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(x_ * freqs_cis).flatten(-2).type_as(x)


class CompressedMemoryRoPEAttention(RoPEAttention):
    """Cross-attention from the current frame's ``(B, HW, C)`` queries to a memory bank of
    ``F`` frames of ``num_latents_1d + k_h * k_w`` tokens plus ``num_k_exclude_rope`` pointer
    tokens, ``(B, F * (n1 + k_h * k_w) + P, kv_in_dim)``. The number of frames is read from
    the key count."""

    def __init__(self, *args, k_sizes: tuple[int, int] = (16, 16), num_latents_1d: int = 256, **kwargs) -> None:
        super().__init__(*args, rope_k_repeat=True, **kwargs)
        self.k_sizes = tuple(k_sizes)
        self.num_latents_1d = num_latents_1d
        self.freqs_cis_k = compute_axial_cis(dim=self.rope_dim, end_x=k_sizes[0], end_y=k_sizes[1], theta=self.rope_theta)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, num_k_exclude_rope: int = 0) -> Tensor:
        q = self._separate_heads(self.q_proj(q), self.num_heads)
        k = self._separate_heads(self.k_proj(k), self.num_heads)
        v = self._separate_heads(self.v_proj(v), self.num_heads)
        q = rotate(q, self._freqs_for(q.shape[-2], q.device))
        B, H, Nk, c = k.shape
        num_k_rope = Nk - num_k_exclude_rope
        n_2d = self.freqs_cis_k.shape[0]
        per_frame = self.num_latents_1d + n_2d
        if num_k_rope % per_frame:
            raise ValueError(
                f"{num_k_rope} memory tokens are not whole frames of {self.num_latents_1d} + {n_2d} Perceiver tokens"
            )
        if num_k_rope > 0:
            self.freqs_cis_k = self.freqs_cis_k.to(k.device)
            frames = k[:, :, :num_k_rope].reshape(B, H, num_k_rope // per_frame, per_frame, c)
            spatial = rotate(frames[..., self.num_latents_1d :, :], self.freqs_cis_k)
            frames = torch.cat([frames[..., : self.num_latents_1d, :], spatial], dim=3).reshape(B, H, num_k_rope, c)
            k = torch.cat([frames, k[:, :, num_k_rope:]], dim=2)
        dropout_p = self.dropout_p if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        return self.out_proj(self._recombine_heads(out))


def build_memory_attention(config: MemoryAttentionConfig, d_model: int, mem_dim: int, k_sizes: tuple[int, int],
                           num_latents_1d: int) -> MemoryAttention:
    """SAM 2's memory attention of ``config.num_layers`` layers of width ``d_model``, its
    cross-attention reading ``mem_dim``-wide compressed memories."""
    a = config
    return sam2_memory_attention(a, d_model, CompressedMemoryRoPEAttention(
        embedding_dim=d_model, num_heads=a.num_heads, downsample_rate=a.downsample_rate, dropout=a.dropout,
        kv_in_dim=mem_dim, rope_theta=a.rope_theta, feat_sizes=a.feat_sizes, k_sizes=k_sizes,
        num_latents_1d=num_latents_1d,
    ))
