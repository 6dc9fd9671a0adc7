"""MobileSAM's TinyViT image encoder (``vit_t``), fast: fused oneDNN kernels, no padded tokens.

Functions over a plain :class:`samlabel.sam.modeling.sam1.tiny_vit.TinyViT`; :func:`encode`
equals ``encoder(x)`` up to float rounding (``tests/sam/fast/test_fast_tiny_vit.py``). What it
does differently from the plain module (what each bought, measured with :class:`Options`, is in
``docs/performance.md``, "Fast TinyViT"):

* the batch norms are folded into their convolutions once per weights version (cached, see
  :func:`prepared`), and so are the attention bias tables ``attention_biases[:, idxs]``, not on
  every call;
* every convolution followed by a GELU is one oneDNN call with the GELU as a post-op, and the
  MBConv's last 1x1 convolution adds the shortcut in the same call
  (``torch.ops.mkldnn._convolution_pointwise``): no extra pass over the 256x256x256 maps;
* the attention blocks keep contiguous ``(B, H, W, C)`` tokens; the layer norm, ``qkv`` and
  ``proj`` run on the real tokens only: the windows are cut (and padded) in one copy of
  ``qkv``'s output, the padded keys and values are filled with ``qkv(norm.bias)`` (what the
  plain code's zero tokens become after its layer norm), and padded queries are never projected;
* the linears run through oneDNN with the GELU (``fc1``) or the residual sum (``proj``,
  ``fc2``) fused (``torch.ops.mkldnn._linear_pointwise``);
* the MBConvs run a band of rows at a time (the 1x1 expansion and the depthwise conv of a band
  plus its halo rows stay in cache instead of two 64 MiB maps per block); on the large 128x128
  stage the attention runs one row of windows at a time, adding into the tokens in place; the
  local conv + MLP of every block runs a band of tokens at a time;
* the neck's 1x1 convolution is a matrix product on the tokens and its ``LayerNorm2d`` s are
  one ``F.layer_norm`` each over the channels-last maps.

The same kernels run an encoder whose weights are stored in bfloat16
(:func:`samlabel.sam.fast.precision.set_encoder_precision` ``"bf16"``): a float32 input is cast
to bf16 once, every kernel runs in bf16 (the folded convolutions are folded in float32 from
the stored weights, then stored in bf16), and the embedding comes back in the input's dtype.
Anything else runs the plain module: weights of mixed or other dtypes, or off the CPU,
inputs that are neither float32 nor the weights' dtype, quantised or replaced layers (the
int8 wrapper), training mode or autograd. Without oneDNN's fused ops (non-x86 CPUs) the same rewrites run
with plain ``F.conv2d`` / ``F.linear``.
"""

from __future__ import annotations

import dataclasses
import platform
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from samlabel.sam.errors import Cancelled
from samlabel.sam.fast.linear import linear_gelu
from samlabel.sam.modeling.windows import grid_to_windows, windows_to_grid

if TYPE_CHECKING:
    from samlabel.sam.modeling.sam1.tiny_vit import TinyViT

__all__ = ["encode", "supports", "prepared", "clear_caches", "Options"]

# oneDNN's fused conv / linear ops (what Inductor calls on x86 CPUs); elsewhere (Apple silicon,
# other ARM builds) the same rewrites run with plain F.conv2d / F.linear and in-place epilogues.
_HAS_ONEDNN = (
    torch.backends.mkldnn.is_available()
    and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
    and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    and platform.machine().lower() in ("x86_64", "amd64")
)


@dataclass(frozen=True)
class Options:
    """Switches for the rewrites (all on by default); the benchmarks turn them off one by one."""

    fused_convs: bool = True  # conv + GELU / conv + shortcut in one oneDNN call
    fused_linears: bool = True  # linear + GELU / linear + residual in one oneDNN call
    real_tokens: bool = True  # norm / qkv / proj on the real tokens only (no padded windows)
    neck_tokens: bool = True  # neck: 1x1 conv as a matmul, LayerNorm2d as F.layer_norm
    band_rows: bool = True  # MBConvs a band of rows at a time
    attn_rows: bool = True  # attention one row of windows at a time, in place, on large maps
    attn_rows_min_tokens: int = 8192  # "large": MobileSAM's 128x128 stage, not the 64x64 ones
    mlp_rows: bool = True  # local conv + MLP a band of rows at a time
    mbconv_rows: int = 16  # rows of an MBConv band (a 256x256x256 hidden band is 4 MiB)
    mlp_tokens: int = 2048  # tokens of a local conv + MLP band (rounded to whole rows)


DEFAULT_OPTIONS = Options()


# ------------------------------------------------------------------------------ weights cache
@dataclass
class _Conv:
    """A convolution with its batch norm folded in: ``conv(x, weight, bias)``."""

    weight: torch.Tensor
    bias: Optional[torch.Tensor]
    stride: tuple
    padding: tuple
    groups: int


@dataclass
class _Prepared:
    stamp: tuple
    convs: dict = field(default_factory=dict)  # Conv2d_BN module -> _Conv
    biases: dict = field(default_factory=dict)  # Attention module -> (1, heads, N, N) bias
    pads: dict = field(default_factory=dict)  # Attention module -> (3C,) qkv of a padded token


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def clear_caches() -> None:
    """Drop the folded weights of every encoder."""
    with _LOCK:
        _CACHE.clear()


def _stamp(encoder: nn.Module) -> tuple:
    """Identity and version of every parameter and buffer: a new tensor, an in-place load
    (``load_state_dict`` copies in place and bumps ``_version``) or a dtype change renews it."""
    return tuple((t.data_ptr(), None if t.is_inference() else t._version, t.dtype, t.device)
                 for t in (*encoder.parameters(), *encoder.buffers()))  # inference tensors: no versions


def _fold(module) -> _Conv:
    """The conv with its batch norm folded in, computed in float32 (what
    ``Conv2d_BN.fused_weight_and_bias`` computes for float32 weights) and stored in the
    weights' dtype (bf16 weights are not folded in bf16 arithmetic)."""
    conv, bn = module.c, module.bn
    dtype = conv.weight.dtype
    scale = bn.weight.float() / torch.sqrt(bn.running_var.float() + bn.eps)
    weight = conv.weight.float() * scale[:, None, None, None]
    bias = bn.bias.float() - bn.running_mean.float() * scale
    return _Conv(weight.to(dtype).contiguous(), bias.to(dtype).contiguous(), tuple(conv.stride),
                 tuple(conv.padding), conv.groups)


@torch.no_grad()
def prepared(encoder: "TinyViT") -> _Prepared:
    """The folded convolutions, attention bias tables and padded-token ``qkv`` of ``encoder``,
    computed once per weights version."""
    from samlabel.sam.modeling.sam1.tiny_vit_blocks import Attention, Conv2d_BN

    stamp = _stamp(encoder)
    with _LOCK:
        hit = _CACHE.get(encoder)
    if hit is not None and hit.stamp == stamp:
        return hit
    prep = _Prepared(stamp)
    for m in encoder.modules():
        if isinstance(m, Conv2d_BN):
            prep.convs[m] = _fold(m)
        elif isinstance(m, Attention):
            prep.biases[m] = m.bias()[None].contiguous()  # (1, heads, N, N)
            prep.pads[m] = F.linear(m.norm.bias, m.qkv.weight, m.qkv.bias).contiguous()
    with _LOCK:
        _CACHE[encoder] = prep
    return prep


_KERNEL_DTYPES = (torch.float32, torch.bfloat16)


def _bf16_kernels() -> bool:
    """oneDNN runs bf16 here (:func:`~samlabel.sam.fast.precision.onednn_bf16_kernels`);
    elsewhere bf16 weights take the plain module."""
    from samlabel.sam.fast.precision import onednn_bf16_kernels

    return onednn_bf16_kernels()


def weights_dtype(encoder: nn.Module) -> Optional[torch.dtype]:
    """The one floating dtype of ``encoder``'s parameters and buffers, or None when they
    mix dtypes or one is not on the CPU."""
    dtypes = set()
    for t in (*encoder.parameters(), *encoder.buffers()):
        if t.device.type != "cpu":
            return None
        if t.is_floating_point():
            dtypes.add(t.dtype)
    return dtypes.pop() if len(dtypes) == 1 else None


def supports(encoder: nn.Module, x: torch.Tensor) -> bool:
    """True when :func:`encode` runs its own kernels for ``encoder`` on ``x`` (otherwise it
    calls the plain module): float32 or bf16 weights, a float32 input or one in the weights'
    dtype."""
    from samlabel.sam.modeling.sam1.tiny_vit import TinyViT
    from samlabel.sam.modeling.sam1.tiny_vit_blocks import Attention, Conv2d_BN, Mlp

    if type(encoder) is not TinyViT or encoder.training:
        return False
    dtype = weights_dtype(encoder)
    if dtype not in _KERNEL_DTYPES or (dtype == torch.bfloat16 and not _bf16_kernels()):
        return False
    if x.device.type != "cpu" or x.dtype not in (torch.float32, dtype) or x.ndim != 4:
        return False
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in encoder.parameters())):
        return False
    for m in encoder.modules():  # layers swapped by a wrapper (int8, bf16 casts...): plain path
        if isinstance(m, Attention):
            if type(m.qkv) is not nn.Linear or type(m.proj) is not nn.Linear or type(m.norm) is not nn.LayerNorm:
                return False
        elif isinstance(m, Mlp):
            if type(m.fc1) is not nn.Linear or type(m.fc2) is not nn.Linear or type(m.norm) is not nn.LayerNorm:
                return False
        elif isinstance(m, Conv2d_BN):
            if type(m.c) is not nn.Conv2d or type(m.bn) is not nn.BatchNorm2d:
                return False
    neck = encoder.neck
    return (len(neck) == 4 and type(neck[0]) is nn.Conv2d and type(neck[2]) is nn.Conv2d
            and neck[0].kernel_size == (1, 1) and neck[0].bias is None and neck[0].groups == 1
            and type(neck[1]).__name__ == "LayerNorm2d" and type(neck[3]).__name__ == "LayerNorm2d")


# ------------------------------------------------------------------------------ kernels
def _conv(x: torch.Tensor, c: _Conv, gelu: bool, opts: Options, add: Optional[torch.Tensor] = None,
          pad_h: Optional[int] = None) -> torch.Tensor:
    """``conv(x)`` (+ ``add``), then exact GELU if ``gelu``; channels-last in, channels-last out.
    ``pad_h`` replaces the conv's vertical zero padding (bands inside a map have none)."""
    padding = list(c.padding) if pad_h is None else [pad_h, c.padding[1]]
    if opts.fused_convs:
        mk = torch.ops.mkldnn._convolution_pointwise
        if add is not None:
            y = mk.binary(x, add, c.weight, c.bias, padding, list(c.stride), [1, 1], c.groups,
                          "add", None, None, [], None)
            return torch.ops.aten.gelu_(y) if gelu else y
        return mk(x, c.weight, c.bias, padding, list(c.stride), [1, 1], c.groups,
                  "gelu" if gelu else "none", [], "none" if gelu else "")
    y = F.conv2d(x, c.weight, c.bias, c.stride, padding, 1, c.groups)
    if add is not None:
        y.add_(add)
    return torch.ops.aten.gelu_(y) if gelu else y


def _linear(x: torch.Tensor, layer: nn.Linear, opts: Options, gelu: bool = False,
            add: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``layer(x)``, then exact GELU (``gelu``) or ``+ add`` (same shape as the output)."""
    if opts.fused_linears:
        mk = torch.ops.mkldnn._linear_pointwise
        if add is not None:
            return mk.binary(x, add, layer.weight, layer.bias, "add")
        if gelu:
            return linear_gelu(x, layer.weight, layer.bias)  # the post-op where it is the faster
        return mk(x, layer.weight, layer.bias, "none", [], "")
    y = F.linear(x, layer.weight, layer.bias)
    if gelu:
        y = torch.ops.aten.gelu_(y)
    if add is not None:
        y += add
    return y


def _check_cancel(cancel: Optional[Callable[[], bool]]) -> None:
    if cancel is not None and cancel():
        raise Cancelled("image encoding was cancelled")


# ------------------------------------------------------------------------------ encoder
def encode(
    encoder: "TinyViT",
    x: torch.Tensor,
    cancel: Optional[Callable[[], bool]] = None,
    options: Options = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """``encoder(x, cancel)``: ``(B, 3, S, S)`` normalised, padded images -> ``(B, out_chans, S/16, S/16)``.

    Runs in the weights' dtype (bf16 weights: ``x`` is cast to bf16 and the result back to
    ``x``'s dtype). ``cancel()`` is polled before every block and before the neck; it makes
    this raise :class:`~samlabel.sam.errors.Cancelled`. Falls back to ``encoder(x)`` when
    :func:`supports` says no.
    """
    if not supports(encoder, x):
        return encoder(x) if cancel is None else encoder(x, cancel=cancel)
    if not _HAS_ONEDNN and (options.fused_convs or options.fused_linears):
        options = dataclasses.replace(options, fused_convs=False, fused_linears=False)
    dtype = weights_dtype(encoder)
    with torch.no_grad():
        y = _encode(encoder, prepared(encoder), x.to(dtype), cancel, options)
    return y if y.dtype == x.dtype else y.to(x.dtype)


def _encode(encoder: "TinyViT", prep: _Prepared, x: torch.Tensor, cancel, opts: Options) -> torch.Tensor:
    _check_cancel(cancel)
    x = x.contiguous(memory_format=torch.channels_last)
    stem = encoder.patch_embed.seq
    cv = prep.convs
    x = _chain(x, [(cv[stem[0]], True), (cv[stem[2]], False)], 0, opts)  # (B, C0, S/4, S/4)
    for i, layer in enumerate(encoder.layers):
        if i == 0:
            for block in layer.blocks:  # MBConv
                _check_cancel(cancel)
                x = _chain(x, [(cv[block.conv1], True), (cv[block.conv2], True), (cv[block.conv3], True)],
                           opts.mbconv_rows, opts, residual=True)
        else:
            t = x.permute(0, 2, 3, 1)  # (B, H, W, C): contiguous, x being channels-last
            if not t.is_contiguous():
                t = t.contiguous()
            for block in layer.blocks:
                _check_cancel(cancel)
                t = _block(block, prep, t, opts)
            x = t.permute(0, 3, 1, 2)  # channels-last (B, C, H, W) view
        if layer.downsample is not None:
            ds = layer.downsample
            x = _chain(x, [(cv[ds.conv1], True), (cv[ds.conv2], True), (cv[ds.conv3], False)],
                       0, opts)
    _check_cancel(cancel)
    return _neck(encoder.neck, x, opts)


def _out_size(size: int, c: _Conv) -> int:
    k = c.weight.shape[2]
    return (size + 2 * c.padding[0] - k) // c.stride[0] + 1


def _chain(x: torch.Tensor, chain: list, rows: int, opts: Options, residual: bool = False) -> torch.Tensor:
    """Convolutions ``chain = [(conv, gelu), ...]`` applied in turn to a channels-last
    ``(B, C, H, W)`` map; with ``residual`` the last one adds the chain's input, then a GELU
    (an MBConv). Returns a channels-last map: a banded MBConv writes it into ``x`` (which must
    then be a tensor of the encoder's own), anything else into a new tensor.

    With ``opts.band_rows`` and ``rows > 0`` the chain runs a band of ``rows`` output rows at a
    time: each band's intermediate maps (plus the halo rows the kxk convs need, recomputed per
    band) stay in cache instead of being written and re-read whole (256 MiB per MBConv for
    MobileSAM at 1024x1024), and the allocator reuses the same small blocks instead of
    page-faulting fresh ones. Zero padding is added at the map's top and bottom edges only."""
    heights = [x.shape[2]]
    for c, _ in chain:
        heights.append(_out_size(heights[-1], c))
    H_out = heights[-1]
    if not opts.band_rows or rows <= 0 or H_out <= rows:
        y = x
        for j, (c, gelu) in enumerate(chain):
            last = j == len(chain) - 1
            y = _conv(y, c, gelu, opts, add=x if (last and residual) else None)
        return y
    B = x.shape[0]
    # An MBConv (stride 1, as many channels out as in) writes its bands back into ``x``, one
    # band late: the next band's halo rows then still read the block's input. This saves
    # allocating (and, with glibc's default malloc, page-faulting) a fresh 16 MiB output.
    halo = sum(c.padding[0] for c, _ in chain)
    inplace = (residual and all(c.stride[0] == 1 for c, _ in chain) and halo <= rows
               and chain[-1][0].weight.shape[0] == x.shape[1])
    out = x if inplace else None
    for b in range(B):
        xb = x[b : b + 1]
        pending = None
        for r0 in range(0, H_out, rows):
            r1 = min(H_out, r0 + rows)
            # rows needed at every level, from the output band back to the input
            spans = [(r0, r1)]
            for (c, _), h_in in zip(reversed(chain), reversed(heights[:-1])):
                o0, o1 = spans[0]
                k, st, p = c.weight.shape[2], c.stride[0], c.padding[0]
                spans.insert(0, (st * o0 - p, st * (o1 - 1) - p + k))  # unclipped input rows
                spans[0] = (max(0, spans[0][0]), min(h_in, spans[0][1]))
            y = xb[:, :, spans[0][0] : spans[0][1]]
            for j, (c, gelu) in enumerate(chain):
                a, e = spans[j]
                o0, o1 = spans[j + 1]
                k, st, p = c.weight.shape[2], c.stride[0], c.padding[0]
                top, bottom = a - (st * o0 - p), (st * (o1 - 1) - p + k) - e
                last = j == len(chain) - 1
                add = xb[:, :, r0:r1] if (last and residual) else None
                if top == bottom:  # inside the map (no padding) or a single band
                    y = _conv(y, c, gelu, opts, add=add, pad_h=top)
                elif st == 1 and k == 2 * p + 1 and add is None:
                    # a band at the top or bottom edge: the conv's own zero padding, then the
                    # rows whose centre lies in the band (no padded copy of the band)
                    y = _conv(y, c, gelu, opts, pad_h=p)[:, :, o0 - a : o1 - a]
                else:
                    y = F.pad(y, (0, 0, top, bottom)).contiguous(memory_format=torch.channels_last)
                    y = _conv(y, c, gelu, opts, add=add, pad_h=0)
            if out is None:
                out = y.new_empty((B, y.shape[1], H_out, y.shape[3])).contiguous(memory_format=torch.channels_last)
            if inplace:
                if pending is not None:
                    out[b : b + 1, :, pending[0] : pending[1]] = pending[2]
                pending = (r0, r1, y)
            else:
                out[b : b + 1, :, r0:r1] = y
        if pending is not None:
            out[b : b + 1, :, pending[0] : pending[1]] = pending[2]
    return out


def _block(block, prep: _Prepared, x: torch.Tensor, opts: Options) -> torch.Tensor:
    """A TinyViT block on contiguous ``(B, H, W, C)`` tokens -> contiguous ``(B, H, W, C)``.

    ``x`` must be a fresh tensor of the encoder's: the attention may add into it in place."""
    if opts.real_tokens and opts.attn_rows and x.shape[1] * x.shape[2] >= opts.attn_rows_min_tokens:
        _attention_rows(block, prep, x, opts)
    elif opts.real_tokens:
        x = _attention(block, prep, x, opts)
    else:
        x = _attention_padded(block, prep, x, opts)
    if opts.mlp_rows:
        return _conv_mlp_rows(block, prep, x, opts)
    # depthwise local conv on the channels-last view of the tokens
    x = _conv(x.permute(0, 3, 1, 2), prep.convs[block.local_conv], False, opts).permute(0, 2, 3, 1)
    if not x.is_contiguous():
        x = x.contiguous()
    mlp = block.mlp
    h = F.layer_norm(x, (x.shape[-1],), mlp.norm.weight, mlp.norm.bias, mlp.norm.eps)
    h = _linear(h, mlp.fc1, opts, gelu=True)
    return _linear(h, mlp.fc2, opts, add=x)  # x + mlp(x)


def _window_attention(attn, prep: _Prepared, qkv: torch.Tensor, ws: int) -> torch.Tensor:
    """``(B, h, W, 3C)`` projected real tokens -> ``(B, h, W, C)`` attention output (before
    ``proj``): windows cut and padded with ``qkv`` of a padded token in one copy, fused
    attention with the cached bias, heads merged and padding dropped in one copy."""
    B, h, W, _ = qkv.shape
    heads, hd = attn.num_heads, attn.head_dim
    windows = grid_to_windows(qkv, ws, prep.pads[attn])  # (B, nh, nw, ws, ws, 3C)
    _, nh, nw = windows.shape[:3]
    q, k, v = windows.view(B * nh * nw, ws * ws, heads, 3 * hd).transpose(1, 2).split(hd, dim=3)
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=prep.biases[attn])  # (bW, heads, N, hd)
    return windows_to_grid(o.view(B, nh, nw, heads, ws, ws, hd), (h, W))


def _attention(block, prep: _Prepared, x: torch.Tensor, opts: Options) -> torch.Tensor:
    """``x + attn(x)`` with norm / ``qkv`` / ``proj`` on the real tokens only."""
    attn = block.attn
    xn = F.layer_norm(x, (x.shape[-1],), attn.norm.weight, attn.norm.bias, attn.norm.eps)
    o = _window_attention(attn, prep, _linear(xn, attn.qkv, opts), block.window_size)
    return _linear(o, attn.proj, opts, add=x)


def _attention_rows(block, prep: _Prepared, x: torch.Tensor, opts: Options) -> None:
    """``x += attn(x)`` one row of windows at a time: every intermediate of a row (its
    ``qkv``, windows, attention output) stays in cache."""
    B, H, W, C = x.shape
    attn, ws = block.attn, block.window_size
    for b in range(B):
        for r0 in range(0, H, ws):
            xs = x[b : b + 1, r0 : r0 + ws]  # (1, h, W, C), contiguous
            xn = F.layer_norm(xs, (C,), attn.norm.weight, attn.norm.bias, attn.norm.eps)
            o = _window_attention(attn, prep, _linear(xn, attn.qkv, opts), ws)
            xs.copy_(_linear(o, attn.proj, opts, add=xs))


def _attention_padded(block, prep: _Prepared, x: torch.Tensor, opts: Options) -> torch.Tensor:
    """``x + attn(x)`` as the plain block computes it: on zero-padded windows."""
    B, H, W, C = x.shape
    attn, ws = block.attn, block.window_size
    heads, hd = attn.num_heads, attn.head_dim
    windows = grid_to_windows(x, ws)
    _, nh, nw = windows.shape[:3]
    n = ws * ws
    w = F.layer_norm(windows.view(B * nh * nw, n, C), (C,), attn.norm.weight, attn.norm.bias, attn.norm.eps)
    q, k, v = _linear(w, attn.qkv, opts).view(B * nh * nw, n, heads, 3 * hd).transpose(1, 2).split(hd, dim=3)
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=prep.biases[attn])
    o = _linear(o.transpose(1, 2).reshape(B * nh * nw, n, C), attn.proj, opts)
    return x + windows_to_grid(o.view(B, nh, nw, 1, ws, ws, C), (H, W))


def _conv_mlp_rows(block, prep: _Prepared, x: torch.Tensor, opts: Options) -> torch.Tensor:
    """``y = local_conv(x); y + mlp(y)`` a band of ``~opts.mlp_tokens`` tokens at a time, into
    a new tensor: the band's conv output and MLP hidden state stay in cache."""
    B, H, W, C = x.shape
    lc = prep.convs[block.local_conv]
    k = lc.weight.shape[-1] // 2
    rows = max(1, opts.mlp_tokens // max(1, W))
    mlp = block.mlp
    out = torch.empty_like(x)
    for b in range(B):
        xb = x[b : b + 1].permute(0, 3, 1, 2)  # (1, C, H, W) channels-last view
        for r0 in range(0, H, rows):
            r1 = min(H, r0 + rows)
            a, e = max(0, r0 - k), min(H, r1 + k)  # halo rows for the k x k conv
            y = _conv(xb[:, :, a:e], lc, False, opts)[:, :, r0 - a : r1 - a].permute(0, 2, 3, 1)
            y = y.contiguous()  # (1, r, W, C); a no-op for a channels-last conv output
            h = F.layer_norm(y, (C,), mlp.norm.weight, mlp.norm.bias, mlp.norm.eps)
            h = _linear(h, mlp.fc1, opts, gelu=True)
            out[b : b + 1, r0:r1] = _linear(h, mlp.fc2, opts, add=y)  # y + mlp(y)
    return out


def _neck(neck: nn.Sequential, x: torch.Tensor, opts: Options) -> torch.Tensor:
    """``neck(x)`` on channels-last ``(B, C, H, W)`` -> ``(B, out_chans, H, W)`` (channels-last
    memory, as the plain neck returns it)."""
    conv1, ln1, conv2, ln2 = neck
    if not opts.neck_tokens:
        return neck(x)
    t = x.permute(0, 2, 3, 1)  # (B, H, W, C)
    t = F.linear(t, conv1.weight.flatten(1))  # the 1x1 conv, no bias
    t = F.layer_norm(t, (t.shape[-1],), ln1.weight, ln1.bias, ln1.eps)
    y = F.conv2d(t.permute(0, 3, 1, 2), conv2.weight, conv2.bias, conv2.stride, conv2.padding,
                 conv2.dilation, conv2.groups)
    y = y.permute(0, 2, 3, 1)
    if not y.is_contiguous():
        y = y.contiguous()
    y = F.layer_norm(y, (y.shape[-1],), ln2.weight, ln2.bias, ln2.eps)
    return y.permute(0, 3, 1, 2)
