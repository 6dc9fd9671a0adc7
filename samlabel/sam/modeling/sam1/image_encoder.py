"""SAM's ViT image encoder (ViTDet backbone), with fused attention.

Same module and parameter names as Meta's ``segment_anything.modeling.image_encoder``, so the
official state dict loads strictly. Differences, all numerically equivalent:

* attention runs through ``F.scaled_dot_product_attention`` with the decomposed relative
  position bias passed as the float mask;
* that bias is built a band of query rows at a time (``max_bias_elements``), so a global
  block of vit_b never holds the full ``(heads, 4096, 4096)`` bias (~800 MB) at once;
* windowed blocks run ``qkv`` and ``proj`` on the real tokens only and fill the padded
  keys and values with the ``qkv`` bias (what the official code's zero padding gives),
  see ``Attention.forward_windowed``;
* ``forward(x, cancel)`` checks ``cancel()`` between blocks and raises ``Cancelled``;
* with ``fixed_input_size=False`` other input sizes work: the absolute position embedding
  is resized bicubically, the global blocks' relative tables linearly (as the official
  ``get_rel_pos`` already does).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from samlabel.sam.modeling.common import LayerNorm2d, MLPBlock
from samlabel.sam.errors import Cancelled
from samlabel.sam.modeling.windows import grid_to_windows, windows_to_grid

# Largest relative-position bias built at once, in elements (2**26 floats = 256 MiB): vit_b's
# global blocks then build their (12, 4096, 4096) bias in 4 bands of 16 query rows. Smaller
# bands save memory but cost time (the fused kernel is less efficient on short query bands).
DEFAULT_MAX_BIAS_ELEMENTS = 1 << 26


class ImageEncoderViT(nn.Module):
    """``(B, in_chans, S, S)`` normalised, padded images -> ``(B, out_chans, S/16, S/16)``."""

    def __init__(
        self,
        img_size: int = 1024,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        out_chans: int = 256,
        qkv_bias: bool = True,
        norm_eps: float = 1e-6,
        use_abs_pos: bool = True,
        use_rel_pos: bool = False,
        window_size: int = 0,
        global_attn_indexes: tuple[int, ...] = (),
        pretrain_img_size: Optional[int] = None,
        fixed_input_size: bool = True,
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.fixed_input_size = fixed_input_size
        pretrain = pretrain_img_size or img_size
        grid = pretrain // patch_size

        self.patch_embed = PatchEmbed(
            kernel_size=(patch_size, patch_size), stride=(patch_size, patch_size), in_chans=in_chans, embed_dim=embed_dim
        )
        self.pos_embed: Optional[nn.Parameter] = None
        if use_abs_pos:
            self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim))  # (1, G, G, C)

        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                norm_eps=norm_eps,
                use_rel_pos=use_rel_pos,
                window_size=window_size if i not in global_attn_indexes else 0,
                input_size=(grid, grid),
            )
            for i in range(depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise ValueError(f"image encoder input must be a (B, {self.in_chans}, S, S) tensor, got {_describe(x)}")
        if not x.is_floating_point():
            raise ValueError(f"image encoder input must be a floating point tensor, got dtype {x.dtype}")
        b, c, h, w = x.shape
        if c != self.in_chans:
            raise ValueError(f"image encoder input must have {self.in_chans} channels, got shape {tuple(x.shape)}")
        if self.fixed_input_size and (h, w) != (self.img_size, self.img_size):
            raise ValueError(
                f"image encoder input must be {self.img_size}x{self.img_size} (padded), got {h}x{w}"
            )
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f"image encoder input size {h}x{w} must be a multiple of the patch size {self.patch_size}")

    def forward(self, x: torch.Tensor, cancel: Optional[Callable[[], bool]] = None) -> torch.Tensor:
        self._check_input(x)
        # (B, H, W, C). The patch embedding is a permuted view of the conv output: make it
        # contiguous once, or every LayerNorm / Linear / residual add of every block would
        # work on (and copy) a channels-first strided tensor.
        x = self.patch_embed(x).contiguous()
        if self.pos_embed is not None:
            x = x + resize_abs_pos(self.pos_embed, x.shape[1:3])
        for blk in self.blocks:
            if cancel is not None and cancel():
                raise Cancelled("image encoding was cancelled")
            x = blk(x)
        if cancel is not None and cancel():
            raise Cancelled("image encoding was cancelled")
        return self.neck(x.permute(0, 3, 1, 2))  # (B, out_chans, H, W)


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return type(x).__name__


def resize_abs_pos(pos_embed: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """``(1, G, G, C)`` -> ``(1, h, w, C)``, bicubic when the grid differs."""
    if tuple(pos_embed.shape[1:3]) == tuple(hw):
        return pos_embed
    resized = F.interpolate(pos_embed.permute(0, 3, 1, 2), size=tuple(hw), mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1)


class Block(nn.Module):
    """Pre-norm transformer block with windowed (``window_size > 0``) or global attention."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        norm_eps: float = 1e-6,
        use_rel_pos: bool = False,
        window_size: int = 0,
        input_size: Optional[tuple[int, int]] = None,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(
            dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            use_rel_pos=use_rel_pos,
            input_size=input_size if window_size == 0 else (window_size, window_size),
        )
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = MLPBlock(embedding_dim=dim, mlp_dim=int(dim * mlp_ratio), act=nn.GELU)
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)  # (B, H, W, C)
        if self.window_size > 0:
            x = self.attn.forward_windowed(x, self.window_size)
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class Attention(nn.Module):
    """Multi-head self-attention over a ``(B, H, W, C)`` grid, with decomposed relative positions."""

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        use_rel_pos: bool = False,
        input_size: Optional[tuple[int, int]] = None,
        max_bias_elements: int = DEFAULT_MAX_BIAS_ELEMENTS,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.max_bias_elements = max_bias_elements
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            assert input_size is not None, "relative positions need the input size"
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` -> ``(B, H, W, C)``, attention over all ``H*W`` tokens of each item."""
        B, H, W, C = x.shape
        out = self._attend(self.qkv(x).view(B, H * W, 3 * C), (H, W))  # (B, nH, N, hd)
        return self.proj(out.transpose(1, 2).reshape(B, H, W, C))

    def forward_windowed(self, x: torch.Tensor, window_size: int) -> torch.Tensor:
        """Windowed attention over ``(B, H, W, C)``, as the official partition -> attention -> unpartition.

        The official block zero-pads the *normalised input* to a multiple of the window and
        runs ``qkv`` and ``proj`` on the padded grid (64x64 tokens -> 70x70 for vit_b). Both
        are per token, so here they run on the real tokens only: the padded keys and values
        are filled with ``qkv`` of one zero token (its bias, for float and int8 layers), and the
        padded queries' outputs, which the official code computes and then crops, are never
        projected (vit_b: 4096 instead of 4900 rows, a sixth less GEMM work in 8 of 12 blocks).
        The padding and the window partition are one copy, of ``qkv``'s output.
        Returns ``(B, H, W, C)``.
        """
        B, H, W, C = x.shape
        qkv = self.qkv(x)  # (B, H, W, 3C)
        pad = self.qkv(x.new_zeros(1, C))[0]  # a padded token's q, k, v: the bias (any Linear, int8 too)
        windows = grid_to_windows(qkv, window_size, pad)  # (B, nh, nw, ws, ws, 3C)
        b, nh, nw, ws = windows.shape[:4]
        out = self._attend(windows.view(b * nh * nw, ws * ws, 3 * C), (ws, ws))  # (B*nW, nH, ws*ws, hd)
        out = windows_to_grid(out.view(b, nh, nw, self.num_heads, ws, ws, -1), (H, W))  # (B, H, W, C)
        return self.proj(out)

    def _attend(self, qkv: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """``(B, N, 3C)`` projected tokens of an ``hw`` grid -> ``(B, nH, N, hd)`` attention output."""
        B, N, _ = qkv.shape
        # (B, N, 3 * C) -> (3, B, nH, N, hd)
        q, k, v = qkv.view(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        if self.use_rel_pos:
            return rel_pos_attention(q, k, v, self.rel_pos_h, self.rel_pos_w, hw, self.max_bias_elements)
        return F.scaled_dot_product_attention(q, k, v)


def rel_pos_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rel_pos_h: torch.Tensor,
    rel_pos_w: torch.Tensor,
    hw: tuple[int, int],
    max_bias_elements: int = DEFAULT_MAX_BIAS_ELEMENTS,
) -> torch.Tensor:
    """Softmax attention with the decomposed relative position bias of MViTv2 / SAM.

    ``q, k, v``: ``(B, nH, H*W, hd)``. The bias for query ``(i, j)`` and key ``(m, n)`` is
    ``q . Rh[i, m] + q . Rw[j, n]`` (unscaled ``q``, as in the official code). It is built for a
    band of query rows at a time, each band's bias at most ``max_bias_elements`` elements.
    Returns ``(B, nH, H*W, hd)``.
    """
    H, W = hw
    B, nH, N, hd = q.shape
    Rh = get_rel_pos(H, H, rel_pos_h).to(q.dtype)  # (H, H, hd)
    Rw = get_rel_pos(W, W, rel_pos_w).to(q.dtype)  # (W, W, hd)
    rows = max(1, min(H, max_bias_elements // max(1, B * nH * W * N)))
    rows = -(-H // -(-H // rows))  # same number of bands, balanced sizes
    outs = []
    buffer = None  # one bias buffer for all bands: fresh 100+ MB allocations cost page faults
    for r0 in range(0, H, rows):
        r1 = min(H, r0 + rows)
        qc = q[:, :, r0 * W : r1 * W]  # (B, nH, R*W, hd)
        r_q = qc.reshape(B, nH, r1 - r0, W, hd)
        rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, Rh[r0:r1])  # (B, nH, R, W, H)
        rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, Rw)  # (B, nH, R, W, W)
        # written into a contiguous buffer: einsum returns permuted views, and a plain "+"
        # would follow their layout, so the reshape to (B, nH, R*W, N) would copy it again
        if torch.is_grad_enabled() and (rel_h.requires_grad or rel_w.requires_grad):
            bias = (rel_h[..., :, None] + rel_w[..., None, :]).reshape(B, nH, (r1 - r0) * W, N)
        else:  # inference: out= (not differentiable) into a contiguous buffer
            if buffer is None:
                buffer = torch.empty(B * nH * rows * W * N, dtype=q.dtype, device=q.device)
            bias = buffer[: B * nH * (r1 - r0) * W * N].view(B, nH, r1 - r0, W, H, W)
            torch.add(rel_h[..., :, None], rel_w[..., None, :], out=bias)
            bias = bias.view(B, nH, (r1 - r0) * W, N)
        outs.append(F.scaled_dot_product_attention(qc, k, v, attn_mask=bias))
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)


def get_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative position table ``(L, hd)`` -> ``(q_size, k_size, hd)``, resized linearly if needed."""
    max_rel_dist = int(2 * max(q_size, k_size) - 1)
    if rel_pos.shape[0] != max_rel_dist:
        rel_pos_resized = F.interpolate(
            rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1), size=max_rel_dist, mode="linear"
        )
        rel_pos_resized = rel_pos_resized.reshape(-1, max_rel_dist).permute(1, 0)
    else:
        rel_pos_resized = rel_pos
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    relative_coords = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos_resized[relative_coords.long()]


class PatchEmbed(nn.Module):
    """``(B, C, H, W)`` image -> ``(B, H/16, W/16, embed_dim)`` patch tokens."""

    def __init__(
        self,
        kernel_size: tuple[int, int] = (16, 16),
        stride: tuple[int, int] = (16, 16),
        padding: tuple[int, int] = (0, 0),
        in_chans: int = 3,
        embed_dim: int = 768,
    ) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=kernel_size, stride=stride, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)
