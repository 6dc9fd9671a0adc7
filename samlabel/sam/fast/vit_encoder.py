"""SAM's ViT image encoder, fast: fused attention, a banded bias, windows of the real tokens only.

Functions over a plain :class:`samlabel.sam.modeling.sam1.image_encoder.ImageEncoderViT`;
:func:`encode` equals ``encoder(x)`` up to float rounding (``tests/sam/fast/test_fast_attention.py``):

* attention runs through ``F.scaled_dot_product_attention`` with the decomposed relative
  position bias passed as the float mask;
* that bias is built a band of query rows at a time (``max_bias_elements``), so a global
  block of vit_b never holds the full ``(heads, 4096, 4096)`` bias (~800 MB) at once;
* windowed blocks run ``qkv`` and ``proj`` on the real tokens only and fill the padded keys
  and values with the ``qkv`` bias (what the plain code's zero padding gives), see
  :func:`windowed_attention`;
* the patch embedding is made contiguous once, so no block works on a strided tensor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import torch
import torch.nn.functional as F

from samlabel.sam.errors import Cancelled
from samlabel.sam.fast.linear import fused_linear, is_exact_gelu, onednn_ok
from samlabel.sam.modeling.sam1.image_encoder import get_rel_pos, resize_abs_pos
from samlabel.sam.modeling.windows import grid_to_windows, windows_to_grid

if TYPE_CHECKING:
    from samlabel.sam.modeling.sam1.image_encoder import Attention, Block, ImageEncoderViT

# Largest relative-position bias built at once, in elements (2**26 floats = 256 MiB): vit_b's
# global blocks then build their (12, 4096, 4096) bias in 4 bands of 16 query rows. Smaller
# bands save memory but cost time (the fused kernel is less efficient on short query bands).
DEFAULT_MAX_BIAS_ELEMENTS = 1 << 26


def encode(
    encoder: "ImageEncoderViT",
    x: torch.Tensor,
    cancel: Optional[Callable[[], bool]] = None,
    max_bias_elements: int = DEFAULT_MAX_BIAS_ELEMENTS,
) -> torch.Tensor:
    """``encoder(x, cancel)``: ``(B, in_chans, S, S)`` normalised, padded images -> ``(B, out_chans, S/16, S/16)``."""
    encoder.check_input(x)
    # (B, H, W, C). The patch embedding is a permuted view of the conv output: make it
    # contiguous once, or every LayerNorm / Linear / residual add of every block would
    # work on (and copy) a channels-first strided tensor.
    x = encoder.patch_embed(x).contiguous()
    if encoder.pos_embed is not None:
        x = x + resize_abs_pos(encoder.pos_embed, x.shape[1:3])
    for blk in encoder.blocks:
        if cancel is not None and cancel():
            raise Cancelled("image encoding was cancelled")
        x = block_forward(blk, x, max_bias_elements)
    if cancel is not None and cancel():
        raise Cancelled("image encoding was cancelled")
    return encoder.neck(x.permute(0, 3, 1, 2))  # (B, out_chans, H, W)


def block_forward(blk: "Block", x: torch.Tensor, max_bias_elements: int = DEFAULT_MAX_BIAS_ELEMENTS) -> torch.Tensor:
    """``blk(x)``, ``(B, H, W, C)`` -> ``(B, H, W, C)``."""
    shortcut = x
    x = blk.norm1(x)
    if blk.window_size > 0:
        x = windowed_attention(blk.attn, x, blk.window_size, max_bias_elements, residual=shortcut)
    else:
        x = global_attention(blk.attn, x, max_bias_elements, residual=shortcut)
    mlp = blk.mlp
    if _fused_bf16(x, mlp.lin1) and is_exact_gelu(mlp.act):
        return fused_linear(fused_linear(blk.norm2(x), mlp.lin1, gelu=True), mlp.lin2, add=x)
    return x + mlp(blk.norm2(x))


def _fused_bf16(x: torch.Tensor, layer) -> bool:
    """A bf16 encoder (``fast/precision.py``) runs its linears as fused oneDNN calls where oneDNN
    has native bf16 (GELU and the residual add inside the product, no bias copy:
    :func:`~samlabel.sam.fast.linear.fused_linear`); float32 keeps the modules (MKL's sgemm)."""
    w = layer.weight
    return x.dtype == torch.bfloat16 and isinstance(w, torch.Tensor) and onednn_ok(x, w)


def _linear(x: torch.Tensor, layer) -> torch.Tensor:
    return fused_linear(x, layer) if _fused_bf16(x, layer) else layer(x)


def _project(att: "Attention", out: torch.Tensor, residual: Optional[torch.Tensor]) -> torch.Tensor:
    """``residual + att.proj(out)`` (``att.proj(out)`` without a residual)."""
    if residual is not None and _fused_bf16(out, att.proj):
        return fused_linear(out, att.proj, add=residual)
    projected = att.proj(out)
    return projected if residual is None else residual + projected


def global_attention(att: "Attention", x: torch.Tensor, max_bias_elements: int = DEFAULT_MAX_BIAS_ELEMENTS,
                     residual: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``att(x)`` (``residual + att(x)`` with a ``residual``): ``(B, H, W, C)`` -> ``(B, H, W, C)``,
    attention over all ``H*W`` tokens of each item."""
    B, H, W, C = x.shape
    out = _attend(att, _linear(x, att.qkv).view(B, H * W, 3 * C), (H, W), max_bias_elements)  # (B, nH, N, hd)
    return _project(att, out.transpose(1, 2).reshape(B, H, W, C), residual)


def windowed_attention(
    att: "Attention", x: torch.Tensor, window_size: int, max_bias_elements: int = DEFAULT_MAX_BIAS_ELEMENTS,
    residual: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Windowed attention over ``(B, H, W, C)``, as the plain partition -> attention -> unpartition.

    The plain block zero-pads the *normalised input* to a multiple of the window and runs
    ``qkv`` and ``proj`` on the padded grid (64x64 tokens -> 70x70 for vit_b). Both are per
    token, so here they run on the real tokens only: the padded keys and values are filled
    with ``qkv`` of one zero token (its bias, for float and int8 layers), and the padded
    queries' outputs, which the plain code computes and then crops, are never projected
    (vit_b: 4096 instead of 4900 rows, a sixth less GEMM work in 8 of 12 blocks). The
    padding and the window partition are one copy, of ``qkv``'s output. Returns ``(B, H, W, C)``.
    """
    B, H, W, C = x.shape
    qkv = _linear(x, att.qkv)  # (B, H, W, 3C)
    pad = att.qkv(x.new_zeros(1, C))[0]  # a padded token's q, k, v: the bias (any Linear, int8 too)
    windows = grid_to_windows(qkv, window_size, pad)  # (B, nh, nw, ws, ws, 3C)
    b, nh, nw, ws = windows.shape[:4]
    out = _attend(att, windows.view(b * nh * nw, ws * ws, 3 * C), (ws, ws), max_bias_elements)  # (B*nW, nH, ws*ws, hd)
    out = windows_to_grid(out.view(b, nh, nw, att.num_heads, ws, ws, -1), (H, W))  # (B, H, W, C)
    return _project(att, out, residual)


def _attend(att: "Attention", qkv: torch.Tensor, hw: tuple[int, int], max_bias_elements: int) -> torch.Tensor:
    """``(B, N, 3C)`` projected tokens of an ``hw`` grid -> ``(B, nH, N, hd)`` attention output."""
    B, N, _ = qkv.shape
    # (B, N, 3 * C) -> (3, B, nH, N, hd)
    q, k, v = qkv.view(B, N, 3, att.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    if att.use_rel_pos:
        return rel_pos_attention(q, k, v, att.rel_pos_h, att.rel_pos_w, hw, max_bias_elements)
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
