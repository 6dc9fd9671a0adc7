"""One linear layer, fast: ``x @ W.T + b`` with its GELU or residual add as a single oneDNN call.

:func:`fused_linear` equals ``F.linear`` then ``F.gelu`` (exact) or ``+ add`` up to float
rounding (``tests/sam/fast/test_fast_hiera.py``, ``tests/sam/fast/test_fast_attention.py``).
On the CPU it runs ``torch.ops.mkldnn._linear_pointwise`` with the activation or the sum as a
post-op: no bias copy before the product (what ``addmm`` does) and no second pass over the
output. Float32 always (SAM 2's Hiera trunk); bf16 only where oneDNN has native bf16 kernels
(:func:`~samlabel.sam.fast.precision.onednn_bf16_kernels`: a bf16 encoder of
``fast/precision.py``); anything else (int8 dynamic layers, autograd, other devices and dtypes)
takes ``F.linear`` / the layer itself.
"""

from __future__ import annotations

import functools
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["fused_linear", "linear_gelu", "gelu_post_op", "onednn_ok", "is_exact_gelu"]


def onednn_ok(x: torch.Tensor, w: torch.Tensor) -> bool:
    """Whether ``x @ w.T`` may run as one oneDNN call with its post-op: CPU, no autograd, float32
    (or bf16 where oneDNN has native bf16 kernels: a bf16 trunk of ``fast/precision.py``, whose
    fused GELU / residual add then skip the unfused path's bias copy and extra passes)."""
    if x.device.type != "cpu" or not HAS_LINEAR_POINTWISE or w.dtype != x.dtype:
        return False
    if torch.is_grad_enabled() and (x.requires_grad or w.requires_grad):
        return False  # oneDNN's fused linear has no backward
    return x.dtype == torch.float32 or (x.dtype == torch.bfloat16 and onednn_bf16())


HAS_LINEAR_POINTWISE = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


@functools.lru_cache(maxsize=None)
def gelu_post_op() -> bool:
    """Whether a linear's exact GELU runs as oneDNN's post-op (one call) rather than as
    PyTorch's in-place GELU after the product (the same values: both bit-equal here).

    On AVX-512 CPUs the post-op came with the fused linears' gain; on AVX2 alone it is slower
    than the separate pass (measured on 2 AMD EPYC AVX2 cores, float32: 4096x384 @ 384x1536
    48.6 -> 40.3 ms, 1024x768 @ 768x3072 57.0 -> 43.6 ms, 65536x96 @ 96x384 117 -> 111 ms; the
    product alone 35.7 / 41.0 / 94.9 ms), so there the GELU is not fused."""
    return "AVX512" in torch.backends.cpu.get_cpu_capability().upper()


def linear_gelu(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor]) -> torch.Tensor:
    """``gelu(x @ w.T + b)`` (exact) through oneDNN: the GELU as its post-op where that is faster
    (:func:`gelu_post_op`), else in place after the product."""
    if gelu_post_op():
        return torch.ops.mkldnn._linear_pointwise(x, w, b, "gelu", [], "none")
    return torch.ops.aten.gelu_(torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], ""))


@functools.lru_cache(maxsize=None)
def onednn_bf16() -> bool:
    """oneDNN runs bf16 natively here (checked once)."""
    from samlabel.sam.fast.precision import onednn_bf16_kernels

    return onednn_bf16_kernels()


def fused_linear(x: torch.Tensor, layer, gelu: bool = False, add: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``F.linear(x, layer.weight, layer.bias)``, then exact GELU (``gelu``) or ``+ add``;
    on CPU float32 (and native bf16) one oneDNN call with the activation / sum fused (no second
    pass over the output). ``add`` must have the output's shape."""
    w, b = layer.weight, layer.bias
    if isinstance(w, torch.Tensor) and onednn_ok(x, w):
        if add is not None and add.shape[:-1] == x.shape[:-1] and add.dtype == x.dtype and add.is_contiguous():
            return torch.ops.mkldnn._linear_pointwise.binary(x, add, w, b, "add")
        if add is None:
            return linear_gelu(x, w, b) if gelu else torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
    # an int8 dynamic Linear (samlabel.sam.fast.quantize) has weight() / bias() methods: call it
    y = F.linear(x, w, b) if isinstance(w, torch.Tensor) else layer(x)
    if gelu:
        y = F.gelu(y)
    if add is not None:
        y += add
    return y


def is_exact_gelu(act) -> bool:
    """``act`` is ``nn.GELU()`` without the tanh approximation (what oneDNN's ``gelu`` post-op is)."""
    return isinstance(act, torch.nn.GELU) and act.approximate == "none"
