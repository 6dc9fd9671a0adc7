"""Optional dynamic int8 quantisation of the image encoder's linear layers (CPU only).

``quantize_encoder(model, mode="int8")`` replaces every ``nn.Linear`` inside
``model.image_encoder`` (qkv, attention projections, MLPs: ~95% of ViT FLOPs) with
PyTorch's dynamically quantised linear (int8 weights per output channel, activations
quantised per call; fbgemm on x86, qnnpack on ARM). Convolutions (patch embedding, neck),
layer norms, attention itself and the whole prompt encoder / mask decoder stay fp32.

The model is modified in place and returned. Embeddings change: the model id gets an
``+int8`` suffix so that an ImageEmbedding cache never mixes int8 and fp32 embeddings.

fp32 stays the default: the measured deviation (docs/performance.md) is small but not
negligible for random weights, and on AVX2 laptops the speed gain is modest because the
fp32 GEMMs already run near peak.

``quantize_encoder(model, "bf16")`` / ``"auto"`` go through
:func:`samlabel.sam.fast.precision.set_encoder_precision` (bf16 weights on CPUs with native
bf16; ``auto``: bf16 there, int8 elsewhere).
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import nn

QUANT_MODES = ("fp32", "int8", "bf16", "auto")


def _select_engine() -> None:
    engines = torch.backends.quantized.supported_engines
    for engine in ("x86", "fbgemm", "qnnpack"):
        if engine in engines:
            if torch.backends.quantized.engine != engine:
                torch.backends.quantized.engine = engine
            return
    raise RuntimeError(f"no int8 quantisation engine available (supported: {engines})")


def quantize_encoder(model: nn.Module, mode: Literal["fp32", "int8", "bf16", "auto"] = "int8") -> nn.Module:
    """Dynamically quantise ``model.image_encoder``'s ``nn.Linear`` layers to int8, in place.

    ``mode="fp32"`` returns the model unchanged; ``"bf16"`` and ``"auto"`` are
    :func:`samlabel.sam.fast.precision.set_encoder_precision`. The model must be on the CPU.
    Raises ``ValueError`` for an unknown mode or a model without ``image_encoder``.
    """
    if mode not in QUANT_MODES:
        raise ValueError(f"quantisation mode must be one of {QUANT_MODES}, got {mode!r}")
    if mode == "fp32":
        return model
    if mode in ("bf16", "auto"):
        from samlabel.sam.fast.precision import set_encoder_precision

        return set_encoder_precision(model, mode)
    encoder = getattr(model, "image_encoder", None)
    if not isinstance(encoder, nn.Module):
        raise ValueError(f"model {type(model).__name__} has no image_encoder module to quantise")
    if any(p.device.type != "cpu" for p in encoder.parameters()):
        raise ValueError("int8 dynamic quantisation runs on the CPU only; move the model to 'cpu' first")
    if is_quantized(model):
        return model
    if getattr(encoder, "_samlabel_precision", None) == "bf16":
        raise ValueError("the image encoder already runs in bf16; reload the model for int8")
    _select_engine()
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices
        quantized = quantize_dynamic(encoder.eval(), {nn.Linear}, dtype=torch.qint8, inplace=False)
    model.image_encoder = quantized
    model_id = getattr(model, "model_id", None)
    if isinstance(model_id, str) and not model_id.endswith("+int8"):
        model.model_id = model_id + "+int8"
    return model


def is_quantized(model: nn.Module) -> bool:
    """True if ``model.image_encoder`` holds dynamically quantised linear layers."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    encoder = getattr(model, "image_encoder", None)
    return encoder is not None and any(isinstance(m, DynamicLinear) for m in encoder.modules())
