"""The Hiera trunk of SAM 2's image encoder (Meta's ``sam2/modeling/backbones/hieradet.py``).

Four stages of ``MultiScaleBlock`` s; the first block of stages 2-4 halves the resolution
by max-pooling its queries (q-pooling) and doubles the width and the number of heads.
Blocks attend within windows, except the few global blocks listed in
``global_att_blocks``. The position embedding is a background embedding interpolated
(bicubic) to the token grid plus a window-sized embedding tiled over it.

For a 1024x1024 input the stages output ``(B, C, 256, 256)``, ``(B, 2C, 128, 128)``,
``(B, 4C, 64, 64)`` and ``(B, 8C, 32, 32)``.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from samlabel.sam.errors import Cancelled
from samlabel.sam.modeling.sam2.backbone_utils import PatchEmbed, window_partition, window_unpartition
from samlabel.sam.modeling.sam2.sam2_utils import MLP


def do_pool(x: torch.Tensor, pool: Optional[nn.Module], norm: Optional[nn.Module] = None) -> torch.Tensor:
    """Pool a ``(B, H, W, C)`` tensor over H and W -> ``(B, H', W', C)``."""
    if pool is None:
        return x
    x = pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    if norm:
        x = norm(x)
    return x


class MultiScaleAttention(nn.Module):
    """Multi-head self-attention with optional query pooling.

    ``(B, H, W, dim) -> (B, H', W', dim_out)``, ``(H', W')`` = ``(H, W)`` pooled by ``q_pool``.
    """

    def __init__(self, dim: int, dim_out: int, num_heads: int, q_pool: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.dim = dim
        self.dim_out = dim_out
        self.num_heads = num_heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, _ = x.shape
        qkv = self.qkv(x).reshape(B, H * W, 3, self.num_heads, -1)  # (B, HW, 3, heads, c)
        q, k, v = torch.unbind(qkv, 2)  # each (B, HW, heads, c)
        if self.q_pool:
            q = do_pool(q.reshape(B, H, W, -1), self.q_pool)
            H, W = q.shape[1:3]
            q = q.reshape(B, H * W, self.num_heads, -1)
        x = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x.transpose(1, 2).reshape(B, H, W, -1)
        return self.proj(x)


class MultiScaleBlock(nn.Module):
    """Pre-norm transformer block: (windowed) attention then an MLP, ``(B, H, W, dim) -> (B, H', W', dim_out)``.

    ``window_size == 0`` means global attention. With ``q_stride`` the block pools its
    queries and its shortcut (after a linear projection ``proj`` when the width changes).
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        q_stride: Optional[tuple[int, int]] = None,
        act_layer: type[nn.Module] = nn.GELU,
        window_size: int = 0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.dim_out = dim_out
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.window_size = window_size
        self.pool, self.q_stride = None, q_stride
        if self.q_stride:
            self.pool = nn.MaxPool2d(kernel_size=q_stride, stride=q_stride, ceil_mode=False)
        self.attn = MultiScaleAttention(dim, dim_out, num_heads=num_heads, q_pool=self.pool)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = MLP(dim_out, int(dim_out * mlp_ratio), dim_out, num_layers=2, activation=act_layer)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x  # (B, H, W, C)
        x = self.norm1(x)
        if self.dim != self.dim_out:
            shortcut = do_pool(self.proj(x), self.pool)

        window_size = self.window_size
        if window_size > 0:
            H, W = x.shape[1], x.shape[2]
            x, pad_hw = window_partition(x, window_size)

        x = self.attn(x)
        if self.q_stride:  # the windows shrank with the queries
            window_size = self.window_size // self.q_stride[0]
            H, W = shortcut.shape[1:3]
            pad_h = (window_size - H % window_size) % window_size
            pad_w = (window_size - W % window_size) % window_size
            pad_hw = (H + pad_h, W + pad_w)

        if self.window_size > 0:
            x = window_unpartition(x, window_size, pad_hw, (H, W))

        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class Hiera(nn.Module):
    """Hiera trunk (https://arxiv.org/abs/2306.00989): ``(B, 3, H, W)`` -> one ``(B, C_i, H_i, W_i)``
    map per stage, highest resolution first (or only the last with ``return_interm_layers=False``)."""

    def __init__(
        self,
        embed_dim: int = 96,
        num_heads: int = 1,
        q_pool: int = 3,
        q_stride: tuple[int, int] = (2, 2),
        stages: Sequence[int] = (2, 3, 16, 3),
        dim_mul: float = 2.0,
        head_mul: float = 2.0,
        window_pos_embed_bkg_spatial_size: tuple[int, int] = (14, 14),
        window_spec: Sequence[int] = (8, 4, 14, 7),
        global_att_blocks: Optional[Sequence[int]] = (12, 16, 20),
        return_interm_layers: bool = True,
    ) -> None:
        super().__init__()
        assert len(stages) == len(window_spec)
        self.window_spec = tuple(window_spec)
        depth = sum(stages)
        self.q_stride = tuple(q_stride)
        self.stage_ends = [sum(stages[:i]) - 1 for i in range(1, len(stages) + 1)]
        assert 0 <= q_pool <= len(self.stage_ends[:-1])
        self.q_pool_blocks = [x + 1 for x in self.stage_ends[:-1]][:q_pool]
        self.return_interm_layers = return_interm_layers
        self.patch_embed = PatchEmbed(embed_dim=embed_dim)
        self.global_att_blocks = tuple(global_att_blocks) if global_att_blocks is not None else None
        self.window_pos_embed_bkg_spatial_size = tuple(window_pos_embed_bkg_spatial_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *self.window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(torch.zeros(1, embed_dim, self.window_spec[0], self.window_spec[0]))

        cur_stage = 1
        self.blocks = nn.ModuleList()
        for i in range(depth):
            dim_out = embed_dim
            # The window size lags by a block: a stage's first block uses the previous stage's.
            window_size = self.window_spec[cur_stage - 1]
            if self.global_att_blocks is not None:
                window_size = 0 if i in self.global_att_blocks else window_size
            if i - 1 in self.stage_ends:
                dim_out = int(embed_dim * dim_mul)
                num_heads = int(num_heads * head_mul)
                cur_stage += 1
            self.blocks.append(
                MultiScaleBlock(
                    dim=embed_dim,
                    dim_out=dim_out,
                    num_heads=num_heads,
                    q_stride=self.q_stride if i in self.q_pool_blocks else None,
                    window_size=window_size,
                )
            )
            embed_dim = dim_out

        self.channel_list = (
            [self.blocks[i].dim_out for i in self.stage_ends[::-1]] if return_interm_layers else [self.blocks[-1].dim_out]
        )

    def _get_pos_embed(self, hw: tuple[int, int]) -> torch.Tensor:
        """Position embedding for an ``(h, w)`` token grid -> ``(1, h, w, C)``."""
        h, w = hw
        window_embed = self.pos_embed_window
        pos_embed = F.interpolate(self.pos_embed, size=(h, w), mode="bicubic")
        pos_embed = pos_embed + window_embed.tile([x // y for x, y in zip(pos_embed.shape, window_embed.shape)])
        return pos_embed.permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor, cancel: Optional[Callable[[], bool]] = None) -> list[torch.Tensor]:
        """``(B, 3, S, S)`` -> the stage outputs ``(B, C_i, H_i, W_i)``, highest resolution first.
        ``cancel()`` is polled between blocks and makes it raise ``Cancelled``."""
        x = self.patch_embed(x)  # (B, H/4, W/4, C)
        x = x + self._get_pos_embed(x.shape[1:3])
        outputs = []
        for i, blk in enumerate(self.blocks):
            if cancel is not None and cancel():
                raise Cancelled("image encoding was cancelled")
            x = blk(x)
            if (i == self.stage_ends[-1]) or (i in self.stage_ends and self.return_interm_layers):
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs
