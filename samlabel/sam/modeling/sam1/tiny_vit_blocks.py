"""Building blocks of MobileSAM's TinyViT image encoder.

The blocks follow the TinyViT paper (Wu et al., 2022) as adapted by MobileSAM (Zhang et al.,
2023). Module and parameter names are those of the official code, so the official
``mobile_sam.pt`` loads strictly: ``Conv2d_BN`` keeps its ``c``/``bn`` children,
``Attention`` keeps ``norm``/``qkv``/``proj``/``attention_biases``, and so on.

Layouts used below: images and convolution maps are ``(B, C, H, W)``; token maps are
``(B, H, W, C)``; windows of tokens are ``(B*nW, N, C)`` with ``N = window_size**2``.
Dropout and stochastic depth are training-only and not implemented (samlabel only
runs inference).

Speed (CPU): the encoder keeps its convolution maps in channels-last memory, so that the
``(B, C, H, W) <-> (B, H, W, C)`` permutes around the attention stages are free views;
batch norms are folded into their convolutions; at inference the GELUs and residual sums of
the large early maps run in place; attention uses PyTorch's fused
``scaled_dot_product_attention`` with the position bias as its mask.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from samlabel.sam.modeling.windows import grid_to_windows, windows_to_grid


def gelu_(x: torch.Tensor) -> torch.Tensor:
    """Exact (erf) GELU, in place when no gradient is recorded (a fresh tensor otherwise)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return F.gelu(x)
    return torch.ops.aten.gelu_(x)


def add_(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x + y``, written into ``x`` when no gradient is recorded."""
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
        return x + y
    return x.add_(y)


class Conv2d_BN(nn.Sequential):  # noqa: N801  (official name, kept for checkpoint keys)
    """A bias-free convolution followed by batch norm: ``(B, Cin, H, W) -> (B, Cout, H', W')``.

    In eval mode the batch norm is folded into the convolution's weights on the fly (one
    conv instead of conv + normalisation pass); in train mode it runs as two layers.
    """

    def __init__(self, in_chans: int, out_chans: int, kernel_size: int = 1, stride: int = 1,
                 padding: int = 0, groups: int = 1) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(in_chans, out_chans, kernel_size, stride, padding,
                                       groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_chans))

    def fused_weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The conv weight and bias that equal conv followed by eval-mode batch norm."""
        conv, bn = self.c, self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (Cout,)
        weight = conv.weight * scale[:, None, None, None]
        bias = bn.bias - bn.running_mean * scale
        return weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.bn(self.c(x))
        weight, bias = self.fused_weight_and_bias()
        c = self.c
        return F.conv2d(x, weight, bias, c.stride, c.padding, c.dilation, c.groups)


class MBConv(nn.Module):
    """Inverted residual block (1x1 expand, 3x3 depthwise, 1x1 project) with a skip.

    ``(B, C, H, W) -> (B, C, H, W)``. For MobileSAM these run on 256x256 maps widened to
    256 channels, the largest tensors of the encoder, hence the in-place activations.
    """

    def __init__(self, dim: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.conv1 = Conv2d_BN(dim, hidden, kernel_size=1)
        self.conv2 = Conv2d_BN(hidden, hidden, kernel_size=3, padding=1, groups=hidden)
        self.conv3 = Conv2d_BN(hidden, dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = gelu_(self.conv1(x))  # (B, hidden, H, W)
        y = gelu_(self.conv2(y))
        y = self.conv3(y)  # (B, C, H, W)
        return gelu_(add_(y, x))


class PatchMerging(nn.Module):
    """Changes the channel count and (with ``stride=2``) halves the resolution.

    ``(B, C, H, W) -> (B, C_out, H / stride, W / stride)``: 1x1 conv, GELU, 3x3 depthwise
    conv with the stride, GELU, 1x1 conv. MobileSAM merges into its last stage with
    ``stride=1`` so the encoder's output stays at 1/16 of the input size.
    """

    def __init__(self, dim: int, out_dim: int, stride: int) -> None:
        super().__init__()
        self.conv1 = Conv2d_BN(dim, out_dim, kernel_size=1)
        self.conv2 = Conv2d_BN(out_dim, out_dim, kernel_size=3, stride=stride, padding=1,
                               groups=out_dim)
        self.conv3 = Conv2d_BN(out_dim, out_dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = gelu_(self.conv1(x))
        x = gelu_(self.conv2(x))
        return self.conv3(x)


def relative_offset_index(window_size: int) -> torch.Tensor:
    """``(N, N)`` index into a table of attention biases, ``N = window_size**2``.

    Two tokens at ``(y1, x1)`` and ``(y2, x2)`` share a bias when ``(|y1-y2|, |x1-x2|)``
    is the same; offsets are numbered in order of first appearance in a row-major scan,
    which is the numbering of the official checkpoints.
    """
    points = list(itertools.product(range(window_size), range(window_size)))
    offsets: dict[tuple[int, int], int] = {}
    idxs = []
    for p1 in points:
        for p2 in points:
            offset = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
            idxs.append(offsets.setdefault(offset, len(offsets)))
    n = len(points)
    return torch.tensor(idxs, dtype=torch.long).view(n, n)


class Attention(nn.Module):
    """Multi-head self-attention inside one window, with learned relative-position biases.

    ``(B*nW, N, C) -> (B*nW, N, C)``. The layer norm is part of the attention (as in the
    official code). ``qkv`` packs, for each head in turn, its query, key and value, each
    ``C / num_heads`` wide.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int) -> None:
        super().__init__()
        assert dim % num_heads == 0, "dim must be divisible by num_heads"
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        idxs = relative_offset_index(window_size)
        num_offsets = int(idxs.max()) + 1
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, num_offsets))
        self.register_buffer("attention_bias_idxs", idxs, persistent=False)

    def bias(self) -> torch.Tensor:
        """``(num_heads, N, N)`` additive attention bias."""
        return self.attention_biases[:, self.attention_bias_idxs]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        x = self.norm(x)
        # (B*nW, N, 3C) -> (B*nW, N, heads, 3*head_dim) -> 3 x (B*nW, heads, N, head_dim)
        qkv = self.qkv(x).view(b, n, self.num_heads, 3 * self.head_dim).transpose(1, 2)
        q, k, v = qkv.split(self.head_dim, dim=3)
        # softmax(q k^T / sqrt(head_dim) + bias) v; the bias (1, heads, N, N) broadcasts over
        # windows (a 4-D mask lets PyTorch use its fused CPU kernel instead of the math path).
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=self.bias()[None].to(q.dtype))
        x = x.transpose(1, 2).reshape(b, n, c)  # (B*nW, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    """Pre-norm feed-forward layer: ``(..., C) -> (..., C)``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(gelu_(self.fc1(self.norm(x))))


class TinyViTBlock(nn.Module):
    """Windowed attention, a depthwise "local" convolution, then an MLP.

    ``(B, H, W, C) -> (B, H, W, C)``::

        x = x + attn(x)            # attention within ws x ws windows
        x = local_conv(x)          # depthwise k x k conv + BN, mixes across windows
        x = x + mlp(x)
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, mlp_ratio: float,
                 local_conv_size: int) -> None:
        super().__init__()
        self.window_size = window_size
        self.attn = Attention(dim, num_heads, window_size)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.local_conv = Conv2d_BN(dim, dim, kernel_size=local_conv_size,
                                    padding=local_conv_size // 2, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        # zero-padded windows: as in the official code, padded tokens are not masked and take
        # part in attention as (normalised) zero tokens
        windows = grid_to_windows(x, self.window_size)  # (B, nH, nW, ws, ws, C)
        _, nh, nw, ws = windows.shape[:4]
        out = self.attn(windows.view(b * nh * nw, ws * ws, c))  # (B*nH*nW, ws*ws, C)
        x = x + windows_to_grid(out.view(b, nh, nw, 1, ws, ws, c), (h, w))
        # (B, H, W, C) -> (B, C, H, W) for the convolution, and back.
        x = self.local_conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + self.mlp(x)
