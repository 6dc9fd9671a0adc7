"""Which precision and engine run a model's image encoder: the one rule the app and batch work share.

    chosen = choose_encoder(model, precision="int8", engine="auto", device="cpu", progress=print)
    chosen.model, chosen.precision, chosen.engine, chosen.note

* ``precision``: ``fp32``, ``bf16``, ``int8`` or ``auto`` (:func:`~samlabel.sam.fast.precision.resolve_precision`:
  bf16 where the CPU has it natively, else int8); on a GPU ``auto`` is fp32 and the reduced
  precisions are refused by the callers (they are for the CPU).
* ``engine``: ``torch``, ``openvino`` or ``auto``. ``auto`` runs bf16 and int8 on samlabel's
  OpenVINO engine where it is installed (int8 also needs NNCF, which quantises, and a CPU with
  int8 dot products, VNNI or AMX: without them, on AVX2 alone, OpenVINO's int8 measured
  0.75-1.2x fp32 and PyTorch's dynamic int8 runs instead), fp32 on PyTorch; ``openvino`` runs
  every precision there. An OpenVINO engine that cannot start (not installed,
  its export failed) leaves PyTorch running the same precision, and ``note`` says why.

Used by the app's model loader (``samlabel/gui/model_manager.py``) and ``samlabel autolabel``
(``samlabel/autolabel/model.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional

from torch import nn

log = logging.getLogger(__name__)

ENGINE_CHOICES = ("auto", "torch", "openvino")


@dataclass(frozen=True)
class EncoderChoice:
    """What runs the encoder now: ``precision`` (``fp32`` / ``bf16`` / ``int8``), ``engine``
    (``torch`` / ``openvino``), and ``note``: why OpenVINO is not used where it was asked for or
    expected ("" otherwise)."""

    model: nn.Module
    precision: str
    engine: str
    note: str = ""


def wants_openvino(engine: str, precision: str) -> bool:
    """Whether ``engine`` runs ``precision`` on OpenVINO: ``openvino`` always; ``auto`` for bf16
    and int8 where openvino (for int8 also nncf, and a CPU with int8 dot products) is installed."""
    if engine not in ENGINE_CHOICES:
        raise ValueError(f"the encoder engine must be one of {ENGINE_CHOICES}, got {engine!r}")
    if engine == "torch":
        return False
    if engine == "openvino":
        return True
    if precision not in ("bf16", "int8"):
        return False
    from samlabel.sam.fast.openvino_engine import openvino_available

    if not openvino_available()[0]:
        return False
    if precision == "int8":
        from samlabel.sam.fast.openvino_int8 import nncf_available
        from samlabel.sam.fast.precision import int8_dot_products

        return int8_dot_products()[0] and nncf_available()[0]
    return True


def choose_encoder(model: nn.Module, precision: str = "fp32", engine: str = "auto", device: str = "cpu",
                   progress: Optional[Callable[[str], None]] = None, cancel: Optional[Callable[[], bool]] = None,
                   threads: Optional[int] = None) -> EncoderChoice:
    """Put ``model``'s image encoder in ``precision`` on ``engine`` (in place) and say what runs.

    Raises :class:`~samlabel.sam.fast.precision.PrecisionUnavailableError` (bf16 without native
    bf16), ``ValueError`` (an unknown name), :class:`~samlabel.sam.errors.Cancelled` (``cancel()``
    during the first export or quantisation)."""
    from samlabel.sam.fast.precision import resolve_precision, set_encoder_precision

    on_cuda = str(device or "cpu").startswith("cuda")
    if precision == "auto" and on_cuda:
        precision = "fp32"  # reduced encoder precisions are for the CPU
    precision = resolve_precision(precision)
    note = ""
    if engine == "openvino" and on_cuda:
        note = "OpenVINO not used: the model runs on the GPU"
    elif not on_cuda and wants_openvino(engine, precision):
        from samlabel.sam.fast.openvino_engine import EngineError, EngineUnavailableError, use_openvino

        try:
            model = use_openvino(model, "f32" if precision == "fp32" else precision, progress=progress,
                                 threads=threads, cancel=cancel)
            return EncoderChoice(model, precision, "openvino")
        except (EngineUnavailableError, EngineError) as exc:
            log.warning("OpenVINO engine not used: %s", exc)
            note = f"OpenVINO not used ({exc}): the image encoder runs in PyTorch"
    elif not on_cuda and engine == "auto" and precision == "int8":
        note = _why_int8_stays_on_pytorch()
    if precision != "fp32":
        model = set_encoder_precision(model, precision)
    return EncoderChoice(model, precision, "torch", note)


def _why_int8_stays_on_pytorch() -> str:
    """Where OpenVINO and NNCF are installed but the CPU has no int8 dot products, the user who
    installed them is told why PyTorch's int8 runs ("" otherwise: nothing was expected)."""
    from samlabel.sam.fast.openvino_engine import openvino_available
    from samlabel.sam.fast.openvino_int8 import nncf_available
    from samlabel.sam.fast.precision import int8_dot_products

    ok, why = int8_dot_products()
    if ok or not (openvino_available()[0] and nncf_available()[0]):
        return ""
    return f"OpenVINO's int8 not used: {why}, where it is no faster than fp32; PyTorch's dynamic int8 runs"
