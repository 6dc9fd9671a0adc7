"""The image encoder's numeric precision: fp32 (default), bf16 (native bf16 CPUs) or int8.

``set_encoder_precision(model, precision)`` converts ``model.image_encoder`` in place and
returns the model:

* ``"fp32"``: nothing changes (a model already reduced is refused: reload it for fp32).
* ``"bf16"``: the encoder's weights are *stored* in bfloat16 (converted once, not re-cast
  on every call as ``torch.autocast`` does) and its matrix products run on the CPU's native
  bf16 instructions (AVX512-BF16 / AMX through oneDNN). The input is cast to bf16 where the
  encoder takes it, and the embedding (and SAM 2's trunk maps, hence its high-resolution
  features) are returned as float32, so the prompt encoder, the mask decoder and the
  embedding files stay float32. Refused with :class:`PrecisionUnavailableError` on a CPU
  without native bf16 (there PyTorch emulates it, slower than fp32).
* ``"int8"``: :func:`samlabel.sam.fast.quantize.quantize_encoder` (dynamic int8 linears).
* ``"auto"``: ``"bf16"`` where the CPU has native bf16, else ``"int8"``.

The model id gets a ``+bf16`` / ``+int8`` suffix, so an embedding cache (memory or
``.safetensors`` files, which check model ids) never mixes precisions.

Where the casts sit, so that every encoder path runs reduced (``samlabel.sam.compute_path``:
the plain modules and the fast functions of ``samlabel.sam.fast``): the encoder keeps its
class (the fast path dispatches on it), and forward hooks cast at the modules every path
calls: the ViT / TinyViT ``patch_embed`` (input to bf16) and ``neck`` (output to fp32),
plus the encoder itself for direct calls. SAM 2: only the Hiera trunk is bf16 (the FPN neck,
1x1 convolutions, stays fp32); the plain trunk is hooked the same way and the fast
``hiera_encoder.trunk_forward`` runs in its weights' dtype and returns its input's dtype.

Measured agreement and speed: ``benchmarks/bench_precision.py`` and docs/performance.md
("Reduced precision"). fp32 stays the default.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16", "int8", "auto")
_SUFFIXES = ("+bf16", "+int8")


class PrecisionUnavailableError(RuntimeError):
    """The requested precision has no native support on this machine (e.g. bf16 without AVX512-BF16/AMX)."""


# ----------------------------------------------------------------------------- capability
def _cpu_flags() -> set:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key = line.split(":", 1)[0].strip().lower()
            if key in ("flags", "features"):  # x86 "flags", ARM "Features"
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def onednn_bf16_kernels() -> bool:
    """oneDNN runs bf16 natively here (AVX512-BF16 / AMX / AVX-NE-CONVERT: PyTorch's own check);
    elsewhere its bf16 paths refuse, and the fast encoders give bf16 weights to the plain module
    or the unfused ops."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def native_bf16() -> tuple[bool, str]:
    """``(supported, reason)``: whether this CPU computes bf16 matrix products natively.

    x86: AVX512-BF16 or AMX (``torch.cpu`` capability checks, else /proc/cpuinfo flags);
    ARM: the ``bf16`` feature. ``reason`` names what was found or missing."""
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        flags = _cpu_flags()
        if "bf16" in flags:
            return True, "ARM bf16 instructions"
        return False, "this ARM CPU lacks the bf16 instructions"
    found = []
    try:
        cpu = torch.cpu
        if cpu._is_avx512_bf16_supported():
            found.append("avx512_bf16")
        if cpu._is_amx_tile_supported():
            found.append("amx")
    except AttributeError:  # older torch: read the flags
        flags = _cpu_flags()
        found = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    if found:
        return True, "CPU flags " + "+".join(found)
    cap = torch.backends.cpu.get_cpu_capability()
    return False, f"this CPU ({cap}) lacks AVX512-BF16 and AMX: PyTorch would emulate bf16, slower than fp32"


def int8_dot_products() -> tuple[bool, str]:
    """``(supported, reason)``: whether this CPU multiplies int8 into 32-bit sums in one instruction.

    x86: AVX512-VNNI, AVX-VNNI or AMX-INT8 (Intel since Ice Lake / Alder Lake, AMD since Zen 4);
    ARM: the dot-product instructions (``asimddp``). Without them (AVX2 only: Intel before Ice
    Lake, AMD Zen 1-3) x86 multiplies unsigned by signed bytes into *saturating* 16-bit pair sums
    (``vpmaddubsw``), so int8 weights must use 7 bits to be exact
    (:func:`samlabel.sam.fast.openvino_int8.overflow_fix`), and OpenVINO's int8 gains little there:
    PyTorch's dynamic int8, which narrows its ranges the same way, runs int8 on such CPUs."""
    flags = _cpu_flags()
    if platform.machine().lower() in ("aarch64", "arm64"):
        return ("asimddp" in flags), ("ARM dot-product instructions" if "asimddp" in flags
                                      else "this ARM CPU lacks the int8 dot-product instructions")
    found = [f for f in ("avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    if found:
        return True, "CPU flags " + "+".join(found)
    return False, "this CPU lacks AVX512-VNNI, AVX-VNNI and AMX-INT8 (int8 products saturate 16-bit sums)"


def resolve_precision(precision: str) -> str:
    """``"auto"`` -> ``"bf16"`` where native, else ``"int8"``; other names are checked and returned."""
    if precision not in PRECISIONS:
        raise ValueError(f"encoder precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16()[0] else "int8"
    return precision


# ----------------------------------------------------------------------------- state
def encoder_precision(model: Any) -> str:
    """``"fp32"``, ``"bf16"`` or ``"int8"``: what ``model.image_encoder`` runs in now."""
    encoder = getattr(model, "image_encoder", None)
    if not isinstance(encoder, nn.Module):
        return "fp32"
    from samlabel.sam.fast.quantize import is_quantized

    if is_quantized(model):
        return "int8"
    engine = getattr(encoder, "_samlabel_openvino", None)  # fast/openvino_engine.py
    if engine is not None and engine.info.precision in ("bf16", "int8"):
        return engine.info.precision
    if getattr(encoder, "_samlabel_precision", None) == "bf16":
        return "bf16"
    return "fp32"


def _cast_tree(obj: Any, dtype: torch.dtype, only_from: Optional[torch.dtype] = None) -> Any:
    """Floating tensors in ``obj`` (tensor, list, tuple, dict) cast to ``dtype``."""
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and obj.dtype != dtype and (only_from is None or obj.dtype == only_from):
            return obj.to(dtype)
        return obj
    if isinstance(obj, list):
        return [_cast_tree(v, dtype, only_from) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_cast_tree(v, dtype, only_from) for v in obj)
    if isinstance(obj, dict):
        return {k: _cast_tree(v, dtype, only_from) for k, v in obj.items()}
    return obj


def _to_bf16_inputs(module: nn.Module, args: tuple, kwargs: dict):
    # positional tensors only (the image); keyword arguments (cancel=...) pass unchanged
    return _cast_tree(args, torch.bfloat16, only_from=torch.float32), kwargs


def _to_fp32_outputs(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
    return _cast_tree(output, torch.float32, only_from=torch.bfloat16)


def _bf16_region(model: nn.Module) -> tuple[nn.Module, list, list]:
    """The module converted to bf16, the modules whose calls cast their input to bf16 and
    those whose calls cast their output to fp32.

    SAM 1 (ViT, TinyViT): the whole encoder; its ``patch_embed`` (first call of both the
    plain forward and the fast functions) casts the input, its ``neck`` (last call) the output.
    SAM 2: the Hiera trunk only (the neck stays fp32)."""
    encoder = model.image_encoder
    trunk = getattr(encoder, "trunk", None)
    if isinstance(trunk, nn.Module):  # SAM 2
        return trunk, [trunk], [trunk]
    entry, exit_ = getattr(encoder, "patch_embed", None), getattr(encoder, "neck", None)
    if not isinstance(entry, nn.Module) or not isinstance(exit_, nn.Module):
        raise ValueError(f"bf16: unknown image encoder {type(encoder).__name__} (no patch_embed / neck)")
    return encoder, [encoder, entry], [encoder, exit_]


def _to_bf16(model: nn.Module) -> nn.Module:
    ok, reason = native_bf16()
    encoder = model.image_encoder
    devices = {p.device.type for p in encoder.parameters()}
    if devices - {"cpu"}:
        raise ValueError("bf16 encoder precision is for the CPU; move the model to 'cpu' first")
    if not ok:
        raise PrecisionUnavailableError(f"bf16 encoder precision needs native bf16: {reason}; use 'int8' or 'auto'")
    region, entries, exits = _bf16_region(model)
    region.to(torch.bfloat16)
    for m in entries:
        m.register_forward_pre_hook(_to_bf16_inputs, with_kwargs=True)
    for m in exits:
        m.register_forward_hook(_to_fp32_outputs, with_kwargs=True)
    encoder._samlabel_precision = "bf16"
    return model


def _tag(model: nn.Module, precision: str) -> None:
    model_id = getattr(model, "model_id", None)
    if isinstance(model_id, str) and not model_id.endswith("+" + precision):
        model.model_id = model_id + "+" + precision


def set_encoder_precision(model: nn.Module, precision: str = "auto") -> nn.Module:
    """Run ``model.image_encoder`` in ``precision`` (``fp32``, ``bf16``, ``int8``, ``auto``), in place.

    Returns ``model``. Setting the precision the model already has changes nothing; switching a
    reduced model to another precision is refused (``ValueError``: reload the model).
    ``bf16`` on a CPU without native bf16 raises :class:`PrecisionUnavailableError`.
    """
    target = resolve_precision(precision)
    encoder = getattr(model, "image_encoder", None)
    if not isinstance(encoder, nn.Module):
        raise ValueError(f"model {type(model).__name__} has no image_encoder module")
    current = encoder_precision(model)
    if current == target:
        return model
    if getattr(encoder, "_samlabel_openvino", None) is not None:  # fast/openvino_engine.py
        raise ValueError(f"the image encoder runs on OpenVINO in {current}; reload the model for {target}")
    if current != "fp32":
        raise ValueError(f"the image encoder already runs in {current}; reload the model for {target}")
    if target == "int8":
        from samlabel.sam.fast.quantize import quantize_encoder

        return quantize_encoder(model, "int8")
    _to_bf16(model)
    _tag(model, "bf16")
    return model
