"""SAM 2's image encoder (Hiera trunk + FPN neck + the decoder's high-resolution convs), fast.

Functions over a plain :class:`samlabel.sam.modeling.sam2.sam2_image.SAM2Image`;
:func:`image_features` equals ``model.image_features(x)`` up to float rounding
(``tests/sam/fast/test_fast_hiera.py``). What it does differently from the reference:

* every activation is a contiguous ``(B, H, W, C)`` tensor: the patch embedding comes out of
  a channels-last convolution, so no LayerNorm / Linear / residual add works on (and copies)
  a channels-first strided tensor, as the reference's stage 1 does;
* the trunk's position embedding (a bicubic interpolation plus a tiled window embedding) is
  computed once per token-grid size and weights version, not on every call;
* windowed blocks run ``qkv`` and ``proj`` on the real tokens only: the windows are cut in
  one copy of ``qkv`` and the padded tokens get the ``qkv`` bias (what the reference's zero
  padding after ``norm1`` gives); q-pooling is a max over a ``2x2`` view;
* residual adds are in place on fresh tensors;
* the FPN's 1x1 lateral convs are matrix products written straight into ``(B, C, H, W)``;
  the two high-resolution levels, which get no top-down sum, are one product with the
  decoder's ``conv_s0`` / ``conv_s1`` folded into the lateral conv (``(C/8, C_trunk)``
  instead of a ``256``-channel map at ``256x256``); the nearest ``2x`` top-down sum is an
  in-place broadcast add; the neck's sine position encodings, which ``image_features`` drops,
  are never built.

Anything outside the shapes these rewrites assume (non-1x1 FPN convs, bilinear top-down,
odd windows with q-pooling...) runs the plain module instead.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import TYPE_CHECKING, Callable, Optional

import torch
import torch.nn.functional as F

from samlabel.sam.errors import Cancelled
from samlabel.sam.fast.linear import fused_linear as _linear
from samlabel.sam.fast.linear import is_exact_gelu as _is_exact_gelu
from samlabel.sam.fast.linear import onednn_bf16

if TYPE_CHECKING:
    from samlabel.sam.modeling.sam2.hieradet import Hiera, MultiScaleBlock
    from samlabel.sam.modeling.sam2.sam2_image import SAM2Image

__all__ = ["image_features", "trunk_forward", "block_forward", "position_embedding", "clear_caches"]

# trunk -> {(h, w, device, dtype): (weights stamp, (1, h, w, C) tensor)}
_POS_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_POS_LOCK = threading.Lock()


def clear_caches() -> None:
    """Drop the cached position embeddings."""
    with _POS_LOCK:
        _POS_CACHE.clear()


def _check_cancel(cancel: Optional[Callable[[], bool]]) -> None:
    if cancel is not None and cancel():
        raise Cancelled("image encoding was cancelled")


@torch.no_grad()
def image_features(model: "SAM2Image", x: torch.Tensor, cancel: Optional[Callable[[], bool]] = None) -> dict:
    """``model.image_features(x, cancel)``: ``(B, 3, S, S)`` normalised images ->
    ``{"image_embed": (B, C, S/16, S/16), "high_res_feats": [(B, C/8, S/4, S/4), (B, C/4, S/8, S/8)]}``.

    ``cancel()`` is polled before every trunk block and before the neck; it makes this raise
    :class:`~samlabel.sam.errors.Cancelled`. A model whose encoder is not SAM 2's own Hiera
    ``ImageEncoder`` (EdgeTAM's RepViT trunk, a wrapper) runs its own ``image_features``.
    """
    from samlabel.sam.modeling.sam2.hieradet import Hiera
    from samlabel.sam.modeling.sam2.image_encoder import ImageEncoder

    encoder = model.image_encoder
    if type(encoder) is not ImageEncoder or type(encoder.trunk) is not Hiera:
        return model.image_features(x, cancel=cancel)
    stages = trunk_forward(encoder.trunk, x, cancel)  # (B, H_i, W_i, C_i), highest resolution first
    _check_cancel(cancel)
    return _neck_and_heads(model, stages)


# ---------------------------------------------------------------------------------------- trunk
def position_embedding(trunk: "Hiera", hw: tuple[int, int], device=None, dtype=None) -> torch.Tensor:
    """``trunk._get_pos_embed(hw)`` as a contiguous ``(1, h, w, C)`` tensor, cached per size and
    weights (a new ``pos_embed`` / ``pos_embed_window``, or an in-place load, recomputes it)."""
    pe, pw = trunk.pos_embed, trunk.pos_embed_window
    device = pe.device if device is None else torch.device(device)
    dtype = pe.dtype if dtype is None else dtype
    stamp = (pe.data_ptr(), pe._version, pw.data_ptr(), pw._version)
    key = (int(hw[0]), int(hw[1]), device, dtype)
    with _POS_LOCK:
        per_trunk = _POS_CACHE.get(trunk)
        hit = per_trunk.get(key) if per_trunk is not None else None
    if hit is not None and hit[0] == stamp:
        return hit[1]
    with torch.no_grad():
        pos = trunk._get_pos_embed(key[:2]).to(device=device, dtype=dtype).contiguous()
    with _POS_LOCK:
        _POS_CACHE.setdefault(trunk, {})[key] = (stamp, pos)
    return pos


def trunk_forward(trunk: "Hiera", x: torch.Tensor, cancel: Optional[Callable[[], bool]] = None) -> list[torch.Tensor]:
    """``trunk(x, cancel)`` with the stage outputs as contiguous ``(B, H_i, W_i, C_i)`` tensors
    (the plain trunk returns their ``(B, C_i, H_i, W_i)`` permutations), highest resolution first."""
    conv = trunk.patch_embed.proj
    out_dtype = x.dtype  # a bf16 trunk (samlabel.sam.fast.precision) runs in bf16, returns x's dtype
    x = x.to(conv.weight.dtype)
    # A channels-last convolution writes (B, H, W, C) memory: its permutation is contiguous.
    y = F.conv2d(x.contiguous(memory_format=torch.channels_last), conv.weight, conv.bias,
                 conv.stride, conv.padding, conv.dilation, conv.groups)
    y = y.permute(0, 2, 3, 1).contiguous()  # a no-op when the conv kept channels-last
    y += position_embedding(trunk, (y.shape[1], y.shape[2]), y.device, y.dtype)
    outputs = []
    last = trunk.stage_ends[-1]
    for i, blk in enumerate(trunk.blocks):
        _check_cancel(cancel)
        y = block_forward(blk, y)
        if i == last or (i in trunk.stage_ends and trunk.return_interm_layers):
            outputs.append(y)
    return [o.to(out_dtype) for o in outputs]


def _pool(x: torch.Tensor, stride: tuple[int, int]) -> torch.Tensor:
    """``MaxPool2d(stride, stride)`` (floor mode) over H, W of ``(N, H, W, C)`` -> contiguous
    ``(N, H', W', C)``, as elementwise maxima of the ``stride[0] * stride[1]`` strided slices:
    the same values as the reference's max-pool (a maximum is exact; NaN propagates either way),
    without the pool kernel's two copies of a strided input (``q`` is a view into ``qkv``): Hiera
    tiny's first q-pool 31-49 -> 8 ms on 2 AVX2 cores (117 ms in a profile, with its copies)."""
    sh, sw = int(stride[0]), int(stride[1])
    h, w = x.shape[1] // sh, x.shape[2] // sw
    slices = [x[:, i:h * sh:sh, j:w * sw:sw] for i in range(sh) for j in range(sw)]
    return functools.reduce(torch.maximum, slices).contiguous()


def block_forward(blk: "MultiScaleBlock", x: torch.Tensor) -> torch.Tensor:
    """``blk(x)`` on a contiguous ``(B, H, W, C)`` tensor -> contiguous ``(B, H', W', C')``."""
    attn = blk.attn
    ws = blk.window_size
    stride = tuple(blk.q_stride) if blk.q_stride else None
    if stride is not None and ws > 0 and (ws % stride[0] or ws % stride[1]):
        return blk(x).contiguous()  # windows that the pooling would straddle: the plain block
    B, H, W, C = x.shape
    xn = F.layer_norm(x, (C,), blk.norm1.weight, blk.norm1.bias, blk.norm1.eps)
    if blk.dim != blk.dim_out:
        shortcut = _linear(xn, blk.proj)
        if stride is not None:
            shortcut = _pool(shortcut, stride)
    else:
        shortcut = x
    if ws > 0:
        a = _windowed_attention(attn, xn, ws, stride)
    else:
        a = _global_attention(attn, xn, stride)
    del xn
    y = _linear(a, attn.proj, add=shortcut)  # shortcut + attn(x), as the reference adds them
    del a, shortcut
    mlp = blk.mlp
    h = F.layer_norm(y, (y.shape[-1],), blk.norm2.weight, blk.norm2.bias, blk.norm2.eps)
    if mlp.num_layers == 2 and not mlp.sigmoid_output and _is_exact_gelu(mlp.act):
        h = _linear(h, mlp.layers[0], gelu=True)
        return _linear(h, mlp.layers[1], add=y)  # y + mlp(norm2(y))
    for j, layer in enumerate(mlp.layers):
        h = layer(h)
        if j < mlp.num_layers - 1:
            h = mlp.act(h)
    if mlp.sigmoid_output:
        h = torch.sigmoid(h)
    h += y
    return h


def _global_attention(attn, xn: torch.Tensor, stride) -> torch.Tensor:
    """Attention over all tokens of each image, before ``proj``: ``(B, H, W, C) -> (B, H', W', C')``."""
    B, H, W, _ = xn.shape
    nh = attn.num_heads
    qkv = _linear(xn, attn.qkv).view(B, H, W, 3, nh, -1)
    q, k, v = qkv.unbind(3)  # (B, H, W, nh, c), strided views
    if stride is not None:
        q = _pool(q.flatten(-2), stride).unflatten(-1, (nh, -1))  # (B, H', W', nh, c)
    Hq, Wq = q.shape[1], q.shape[2]
    q, k, v = (t.flatten(1, 2).transpose(1, 2) for t in (q, k, v))  # (B, nh, N, c) views
    if _banded_ok(q) and k.shape[2] >= BF16_BANDED_MIN_KEYS:
        return _bf16_banded_attention(q, k, v).view(B, Hq, Wq, -1)
    o = F.scaled_dot_product_attention(q, k, v)  # (B, nh, Nq, c)
    return o.transpose(1, 2).reshape(B, Hq, Wq, -1)


# bf16 global attention over at least this many keys runs as bands of query rows (below)
BF16_BANDED_MIN_KEYS = 1024
BF16_BAND_ROWS = 256


def _banded_ok(q: torch.Tensor) -> bool:
    """bf16 on the CPU with oneDNN's native bf16 kernels, outside autocast: the explicit bf16
    products below. On a GPU (or under autocast, which would run the softmax in float32)
    PyTorch's fused attention stays."""
    return (q.dtype == torch.bfloat16 and q.device.type == "cpu" and not torch.is_autocast_enabled("cpu")
            and onednn_bf16())


def _bf16_banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rows: int = BF16_BAND_ROWS) -> torch.Tensor:
    """Softmax attention of bf16 ``q (B, nh, Nq, c)`` on ``k, v (B, nh, Nk, c)`` -> contiguous
    ``(B, Nq, nh, c)``, a band of ``rows`` queries at a time: two bf16 products (oneDNN's
    native bf16 kernels) and a softmax computed in float32 over each band's scores, which stay
    in the cache. PyTorch's CPU flash attention takes as long in bf16 as in float32 without AMX;
    this is faster, for the global blocks' 4096 tokens and for windows (``B`` windows of
    fewer than ``rows`` tokens: one band) alike (``docs/performance.md``). Unlike the flash
    kernel, which keeps the scores in float32, it rounds the scores (and, as it does, the
    probabilities) to bf16: within the bf16 encoder's measured agreement."""
    B, nh, Nq, c = q.shape
    q = q * (c ** -0.5)  # (B, nh, Nq, c), scaled once (a fresh tensor, in q's layout)
    kt = k.transpose(-1, -2).contiguous()  # (B, nh, c, Nk)
    v = v.contiguous()
    out = q.new_empty(B, Nq, nh, c)
    for r0 in range(0, Nq, rows):
        r1 = min(Nq, r0 + rows)
        scores = torch.matmul(q[:, :, r0:r1], kt)  # (B, nh, R, Nk)
        torch.matmul(torch.softmax(scores, dim=-1).to(v.dtype), v, out=out[:, r0:r1].transpose(1, 2))
    return out


def _regions(H: int, W: int, ws: int):
    """The up to four rectangles of an ``(H, W)`` grid cut in ``ws`` windows:
    ``(row window slice, rows inside, col window slice, cols inside, grid row slice, grid col slice)``."""
    Hf, Wf = H // ws, W // ws
    rh, rw = H - Hf * ws, W - Wf * ws
    rows = []
    if Hf:
        rows.append((slice(0, Hf), slice(0, ws), slice(0, Hf * ws), True))
    if rh:
        rows.append((slice(Hf, Hf + 1), slice(0, rh), slice(Hf * ws, H), False))
    cols = []
    if Wf:
        cols.append((slice(0, Wf), slice(0, ws), slice(0, Wf * ws), True))
    if rw:
        cols.append((slice(Wf, Wf + 1), slice(0, rw), slice(Wf * ws, W), False))
    for r_win, r_in, r_grid, r_full in rows:
        for c_win, c_in, c_grid, c_full in cols:
            yield r_win, r_in, r_grid, r_full, c_win, c_in, c_grid, c_full


def _to_windows(t: torch.Tensor, ws: int, fill: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, D)`` -> ``(B * nW, ws * ws, D)`` contiguous windows (row-major, as
    ``window_partition``), positions beyond the grid set to ``fill`` ``(D,)``."""
    B, H, W, D = t.shape
    nh, nw = -(-H // ws), -(-W // ws)
    out = t.new_empty(B, nh, nw, ws, ws, D)
    grid = out.permute(0, 1, 3, 2, 4, 5)  # (B, nh, ws, nw, ws, D): window cells in grid order
    for r_win, r_in, r_grid, r_full, c_win, c_in, c_grid, c_full in _regions(H, W, ws):
        src = t[:, r_grid, c_grid]
        src = src.unflatten(2, (c_win.stop - c_win.start, c_in.stop)).unflatten(1, (r_win.stop - r_win.start, r_in.stop))
        grid[:, r_win, r_in, c_win, c_in].copy_(src)
    if H % ws:
        grid[:, nh - 1, H % ws :].copy_(fill.expand_as(grid[:, nh - 1, H % ws :]))
    if W % ws:
        grid[:, :, :, nw - 1, W % ws :].copy_(fill.expand_as(grid[:, :, :, nw - 1, W % ws :]))
    return out.view(B * nh * nw, ws * ws, D)


def _from_windows(win: torch.Tensor, ws: int, B: int, H: int, W: int) -> torch.Tensor:
    """Windows ``(B * nW, ws * ws, D)`` (any strides that view as such) -> contiguous
    ``(B, H, W, D)``, the padding dropped (``window_unpartition``)."""
    D = win.shape[-1]
    nh, nw = -(-H // ws), -(-W // ws)
    grid = win.reshape(B, nh, nw, ws, ws, D).permute(0, 1, 3, 2, 4, 5)  # (B, nh, ws, nw, ws, D)
    if nh * ws == H and nw * ws == W:
        return grid.reshape(B, H, W, D)
    out = win.new_empty(B, H, W, D)
    for r_win, r_in, r_grid, r_full, c_win, c_in, c_grid, c_full in _regions(H, W, ws):
        dst = out[:, r_grid, c_grid]
        dst = dst.unflatten(2, (c_win.stop - c_win.start, c_in.stop)).unflatten(1, (r_win.stop - r_win.start, r_in.stop))
        dst.copy_(grid[:, r_win, r_in, c_win, c_in])
    return out


def _windowed_attention(attn, xn: torch.Tensor, ws: int, stride) -> torch.Tensor:
    """Attention within ``ws x ws`` windows (zero-padded grid, as the reference), before ``proj``:
    ``(B, H, W, C) -> (B, H', W', C')``; with ``stride`` the queries are max-pooled per window."""
    B, H, W, _ = xn.shape
    nh = attn.num_heads
    if H % ws == 0 and W % ws == 0:
        # no padding: cut the (C-wide) input into windows, so qkv comes out in window order
        xw = xn.view(B, H // ws, ws, W // ws, ws, -1).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, xn.shape[-1])
        win = _linear(xw, attn.qkv)  # (nW, L, 3C')
        del xw
    else:
        qkv = _linear(xn, attn.qkv)  # (B, H, W, 3C'), real tokens only
        bias = attn.qkv.bias() if callable(attn.qkv.bias) else attn.qkv.bias  # int8 Linear: a method
        bias = bias if bias is not None else qkv.new_zeros(qkv.shape[-1])
        win = _to_windows(qkv, ws, bias)  # (nW, L, 3C'): padded tokens = norm1 zeros -> qkv bias
        del qkv
    nW, L, _ = win.shape
    win = win.view(nW, L, 3, nh, -1)
    q, k, v = win.unbind(2)  # (nW, L, nh, c)
    wq = ws
    if stride is not None:
        q = _pool(q.reshape(nW, ws, ws, -1), stride)  # (nW, ws/s, ws/s, C')
        wq = ws // stride[0]
        q = q.view(nW, wq * wq, nh, -1)
        H, W = H // stride[0], W // stride[1]
    if _banded_ok(q):  # small windows: one band of explicit bf16 products (see below)
        o = _bf16_banded_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).flatten(2)
    else:
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))  # (nW, nh, Lq, c)
        o = o.transpose(1, 2).flatten(2)
    del win, q, k, v
    return _from_windows(o, wq, B, H, W)


# ----------------------------------------------------------------------------------- neck, heads
def _lateral_nchw(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """A 1x1 conv ``(d, C)`` of a contiguous ``(B, H, W, C)`` map -> contiguous ``(B, d, H, W)``."""
    B, H, W, C = x.shape
    xt = x.view(B, H * W, C).transpose(1, 2)  # (B, C, HW), a view
    d = weight.shape[0]
    if B == 1:
        if bias is None:
            out = torch.mm(weight, xt[0])
        else:
            out = torch.addmm(bias.unsqueeze(1), weight, xt[0])
        return out.view(1, d, H, W)
    w = weight.expand(B, d, C)
    out = torch.bmm(w, xt) if bias is None else torch.baddbmm(bias.view(1, d, 1), w, xt)
    return out.view(B, d, H, W)


def _conv1x1_weights(conv) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    return conv.weight.reshape(conv.weight.shape[0], -1), conv.bias


def _is_1x1(conv) -> bool:
    return (tuple(conv.kernel_size) == (1, 1) and tuple(conv.stride) == (1, 1) and tuple(conv.padding) == (0, 0)
            and conv.groups == 1 and tuple(conv.dilation) == (1, 1))


def _compose(outer, inner_w: torch.Tensor, inner_b: Optional[torch.Tensor]):
    """``outer(inner(x))`` of two 1x1 convs as one ``(d_out, C)`` weight and bias (float64 products)."""
    ow, ob = _conv1x1_weights(outer)
    w = (ow.double() @ inner_w.double()).to(inner_w.dtype)
    b = None
    if inner_b is not None:
        b = ow.double() @ inner_b.double()
    if ob is not None:
        b = ob.double() if b is None else b + ob.double()
    return w, (b.to(inner_w.dtype) if b is not None else None)


def _neck_and_heads(model: "SAM2Image", stages: list[torch.Tensor]) -> dict:
    encoder = model.image_encoder
    neck = encoder.neck
    n_levels = len(neck.convs)
    scalp = encoder.scalp
    kept = n_levels - scalp
    nfl = model.num_feature_levels
    convs = [c.conv for c in neck.convs]
    standard = (
        len(stages) == n_levels
        and all(_is_1x1(c) for c in convs)
        and neck.fpn_interp_model == "nearest"
        and kept >= nfl
        and (not model.use_high_res_features_in_sam or (nfl == 3 and kept == 3))
    )
    if not standard:  # the plain neck on the channels-first stage maps
        return _plain_neck_and_heads(model, [s.permute(0, 3, 1, 2) for s in stages])

    n = n_levels - 1
    high = model.use_high_res_features_in_sam
    dec = model.sam_mask_decoder
    out: list[Optional[torch.Tensor]] = [None] * n_levels
    prev = None
    for i in range(n, -1, -1):  # lowest resolution first
        conv = convs[n - i]
        top_down = i in neck.fpn_top_down_levels and prev is not None
        w, b = _conv1x1_weights(conv)
        head = None
        if high and i in (0, 1):
            head = dec.conv_s0 if i == 0 else dec.conv_s1
        if head is not None and not top_down and (i == 0 or 0 not in neck.fpn_top_down_levels) and _is_1x1(head):
            # a level with no top-down sum that only feeds the decoder's conv: one product
            cw, cb = _compose(head, w, b)
            out[i] = _lateral_nchw(stages[i], cw, cb)
            # the next (higher-resolution) level takes no top-down input from this one
            prev = None
            continue
        lat = _lateral_nchw(stages[i], w, b)
        if top_down:
            Bp, d, h, wd = prev.shape
            if lat.shape[-2:] != (2 * h, 2 * wd):
                td = F.interpolate(prev, scale_factor=2.0, mode="nearest")
                lat += td
            else:
                lat.view(Bp, d, h, 2, wd, 2).add_(prev.view(Bp, d, h, 1, wd, 1))
            if neck.fuse_type == "avg":
                lat /= 2
        prev = lat
        if head is not None:
            hw_, hb_ = _conv1x1_weights(head) if _is_1x1(head) else (None, None)
            lat = _lateral_nchw(lat.permute(0, 2, 3, 1).contiguous(), hw_, hb_) if hw_ is not None else head(lat)
        out[i] = lat
    feats = out[:kept][-nfl:]
    embed = feats[-1]
    if model.directly_add_no_mem_embed:
        embed = embed + model.no_mem_embed.view(1, -1, 1, 1)
    return {"image_embed": embed, "high_res_feats": list(feats[:-1])}


def _plain_neck_and_heads(model: "SAM2Image", trunk_out: list[torch.Tensor]) -> dict:
    """What ``model.image_features`` does after the trunk, with the plain modules."""
    encoder = model.image_encoder
    features, pos = encoder.neck(trunk_out)
    if encoder.scalp > 0:
        features, pos = features[: -encoder.scalp], pos[: -encoder.scalp]
    backbone_out = {"vision_features": features[-1], "vision_pos_enc": pos, "backbone_fpn": features}
    if model.use_high_res_features_in_sam:
        backbone_out["backbone_fpn"][0] = model.sam_mask_decoder.conv_s0(backbone_out["backbone_fpn"][0])
        backbone_out["backbone_fpn"][1] = model.sam_mask_decoder.conv_s1(backbone_out["backbone_fpn"][1])
    feats = backbone_out["backbone_fpn"][-model.num_feature_levels :]
    embed = feats[-1]
    if model.directly_add_no_mem_embed:
        embed = embed + model.no_mem_embed.view(1, -1, 1, 1)
    return {"image_embed": embed, "high_res_feats": list(feats[:-1])}
