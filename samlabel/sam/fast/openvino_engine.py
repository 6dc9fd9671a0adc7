"""The image encoder run by OpenVINO: samlabel's own encoder, exported once, cached, compiled.

``use_openvino(model, precision)`` exports ``model``'s plain image encoder (SAM 1's ViT /
MobileSAM's TinyViT: the embedding; SAM 2: ``image_features``, the embedding with
``no_mem_embed`` and the two high-resolution maps) with ``torch.export`` at the model's input
size, converts it to OpenVINO's IR, saves it in the user cache and compiles it for the CPU.
From then on :mod:`samlabel.sam.compute_path` runs the encoder through it on the fast path;
``path="plain"`` still runs the PyTorch modules, which stay loaded as the reference and the
fallback.

* ``precision="f32"``: OpenVINO in float32; the embedding equals PyTorch's within float
  rounding (tests: ``tests/sam/fast/test_openvino_engine.py``, 1e-4).
* ``precision="bf16"``: OpenVINO's bf16 inference (``INFERENCE_PRECISION_HINT``), only where
  the CPU has native bf16 (:func:`samlabel.sam.fast.precision.native_bf16`); the model reports
  ``bf16`` (:func:`samlabel.sam.fast.precision.encoder_precision`) and its id gets ``+ov-bf16``,
  so no embedding cache mixes it with fp32 or with PyTorch's bf16 (``+bf16``).
* ``precision="int8"``: the exported IR quantised by NNCF on calibration images
  (:mod:`samlabel.sam.fast.openvino_int8`, needs the ``nncf`` package), for CPUs without native
  bf16; int8 where quantised, float32 elsewhere. The model reports ``int8`` and its id gets
  ``+ov-int8.<the int8 entry's first 8 key characters>`` (PyTorch's dynamic int8 is ``+int8``), so
  an embedding cache never mixes two quantisations either.

The first use of a given encoder (its weights, class, input size, the OpenVINO and torch
versions: :func:`~samlabel.sam.fast.openvino_cache.cache_key`) exports and converts it: 6-20 s on
2 cores for vit_t / vit_b / SAM 2.1 tiny and small, reported through ``progress(message)``.
Later uses read the cached IR (under ``samlabel.paths.cache_dir() / "openvino"``; how entries
are written, checked and pruned: :mod:`samlabel.sam.fast.openvino_cache`) and compile it
(0.2-1.6 s; OpenVINO keeps its own compiled blobs beside it). An entry that does not read back
is exported again, once.

One :class:`OpenVinoEncoder` may be called from several threads (the app's embedding worker,
auto-labelling, segment-everything): the images take turns on its one infer request.

Measured figures: ``benchmarks/bench_precision.py --precisions ov-f32,ov-bf16``,
``bench_sam2.py --engine openvino``, ``bench_peers.py`` (``samlabel_ov``) and
docs/performance.md ("OpenVINO engine").
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from samlabel.sam.errors import Cancelled, SamError
from samlabel.sam.fast.openvino_cache import (XML, EngineError, cache_key, default_cache_dir, entry_ok, input_size,
                                              is_sam2, ov_version, prepare_entry)
from samlabel.sam.fast.openvino_cache import check_cancel as _check

log = logging.getLogger(__name__)

ENGINES = ("torch", "openvino")
OV_PRECISIONS = ("f32", "bf16", "int8")
_POLL_MS = 50


class EngineUnavailableError(SamError):
    """OpenVINO is not installed here, or cannot run this precision on this CPU."""


@dataclass(frozen=True)
class EngineInfo:
    """What :func:`use_openvino` did: ``exported`` is False when the IR came from the cache."""

    precision: str
    input_size: int
    cache_path: Path
    exported: bool
    export_s: float
    compile_s: float
    quantize_s: float = 0.0  # int8: NNCF's quantisation made now (0 when it came from the cache)

    def describe(self) -> str:
        how = f"exported in {self.export_s:.1f} s" if self.export_s else "from the cache"
        if self.quantize_s:
            how += f", quantised in {self.quantize_s:.1f} s"
        return f"OpenVINO {self.precision} encoder ({how}, compiled in {self.compile_s:.1f} s)"


def openvino_available() -> tuple[bool, str]:
    """``(available, reason)``: whether the ``openvino`` package imports here."""
    try:
        import openvino  # noqa: F401
    except ImportError as exc:
        return False, f"the openvino package is not installed ({exc}); pip install 'samlabel[openvino]'"
    return True, "openvino " + ov_version()


def _read(entry: Path):
    import openvino as ov

    return ov.Core().read_model(str(entry / XML))


def _compile(entry: Path, precision: str, threads: int, model=None):
    import openvino as ov

    core = ov.Core()
    hint = "f32" if precision == "int8" else precision  # int8: the quantised ops in int8, the rest in f32
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": hint,
              "PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": str(entry / "compiled")}
    return core.compile_model(model if model is not None else core.read_model(str(entry / XML)), "CPU", config)


# ----------------------------------------------------------------------------- the runner
class OpenVinoEncoder:
    """A compiled encoder: ``(B, 3, S, S)`` float32 -> SAM 1: the embedding ``(B, C, S/16, S/16)``;
    SAM 2: ``{"image_embed": ..., "high_res_feats": [s0, s1]}`` as ``image_features`` returns.

    Images run one at a time (the IR has batch 1), and calls from several threads take turns.
    ``cancel()`` is asked before each image starts (so a caller that pauses inside it, like the
    app's prefetch, pauses there) and every 50 ms while it runs; when it returns True the request
    is cancelled, waited for, and :class:`Cancelled` raised.

    A deep copy or an unpickled copy compiles the same cached IR again (the compiled model itself
    cannot be copied); where the cache entry is gone, that raises :class:`EngineError`.
    """

    def __init__(self, compiled, info: EngineInfo, sam2: bool, threads: int) -> None:
        self.compiled, self.info, self.sam2, self.threads = compiled, info, sam2, threads
        self.request = compiled.create_infer_request()
        self._lock = threading.Lock()

    def __reduce__(self):
        return (_recompiled, (self.info, self.sam2, self.threads))

    def __deepcopy__(self, memo):
        return _recompiled(self.info, self.sam2, self.threads)

    def __call__(self, x: torch.Tensor, cancel: Optional[Callable[[], bool]] = None):
        size = self.info.input_size
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, size, size):
            raise ValueError(f"the OpenVINO encoder takes (B, 3, {size}, {size}) images, got {tuple(x.shape)}")
        outs = [self._one(x[i:i + 1].detach().to(torch.float32).cpu().contiguous(), cancel) for i in range(x.shape[0])]
        stacked = [torch.cat([o[k] for o in outs]) for k in range(len(outs[0]))]
        stacked = [t.to(x.device) for t in stacked]
        if self.sam2:
            return {"image_embed": stacked[0], "high_res_feats": [stacked[1], stacked[2]]}
        return stacked[0]

    def _one(self, x: torch.Tensor, cancel) -> list:
        _check_image(cancel)
        while not self._lock.acquire(timeout=_POLL_MS / 1000):  # another thread's image is running
            _check_image(cancel)
        try:
            _check_image(cancel)
            request = self.request
            request.set_input_tensor(0, _ov_tensor(x.numpy()))
            request.start_async()
            while not request.wait_for(_POLL_MS):
                if cancel is not None and cancel():
                    request.cancel()
                    try:
                        request.wait()  # the request is free again before the next image uses it
                    except RuntimeError:  # "Infer Request was canceled"
                        pass
                    raise Cancelled("image encoding cancelled")
            outputs = [torch.from_numpy(request.get_output_tensor(i).data.copy())
                       for i in range(len(self.compiled.outputs))]
        finally:
            self._lock.release()
        _check_image(cancel)
        return outputs


def _check_image(cancel) -> None:
    if cancel is not None and cancel():
        raise Cancelled("image encoding cancelled")


def _recompiled(info: EngineInfo, sam2: bool, threads: int) -> OpenVinoEncoder:
    if not entry_ok(info.cache_path):
        raise EngineError(f"the OpenVINO encoder in {info.cache_path} is gone: reload the model")
    return OpenVinoEncoder(_compile(info.cache_path, info.precision, threads), info, sam2, threads)


def _ov_tensor(array):
    import openvino as ov

    return ov.Tensor(array)


# ----------------------------------------------------------------------------- public entry points
def engine_of(model: Any) -> Optional[OpenVinoEncoder]:
    """The OpenVINO encoder attached to ``model`` by :func:`use_openvino`, else None."""
    encoder = getattr(model, "image_encoder", None)
    return getattr(encoder, "_samlabel_openvino", None)


def use_openvino(model: nn.Module, precision: str = "f32", cache_dir: Optional[Path] = None,
                 progress: Optional[Callable[[str], None]] = None, threads: Optional[int] = None,
                 cancel: Optional[Callable[[], bool]] = None,
                 calibration: Optional[Sequence[np.ndarray]] = None) -> nn.Module:
    """Run ``model``'s image encoder through OpenVINO from now on (fast path); returns ``model``.

    ``precision``: ``"f32"``, ``"bf16"`` (native bf16 CPUs only) or ``"int8"`` (quantised by NNCF).
    ``cache_dir``: where the exported IR is kept (default: the user cache's ``openvino`` folder).
    ``progress(message)`` is called before each slow step. ``threads``: OpenVINO's inference
    threads (default: torch's). ``cancel()`` is asked between the export's steps and before each
    calibration image (:class:`Cancelled`). ``calibration``: int8 only, RGB uint8 images to
    calibrate on (default: views of the bundled sample photo,
    :func:`samlabel.sam.fast.openvino_int8.calibration_images`).

    Raises :class:`EngineUnavailableError` (no openvino; bf16 without native bf16; int8 without nncf),
    :class:`EngineError` (export, save or compile failed: the model is left as it was),
    ``ValueError`` (a model on another device, or whose encoder already runs reduced in PyTorch).
    """
    if precision not in OV_PRECISIONS:
        raise ValueError(f"OpenVINO precision must be one of {OV_PRECISIONS}, got {precision!r}")
    ok, reason = openvino_available()
    if not ok:
        raise EngineUnavailableError(reason)
    from samlabel.sam.fast.precision import encoder_precision, native_bf16

    if precision == "bf16":
        native, why = native_bf16()
        if not native:
            raise EngineUnavailableError(f"OpenVINO bf16 needs native bf16: {why}")
    if precision == "int8":
        from samlabel.sam.fast.openvino_int8 import nncf_available

        ok, reason = nncf_available()
        if not ok:
            raise EngineUnavailableError(f"OpenVINO int8: {reason}")
    if calibration is not None and precision != "int8":
        raise ValueError("calibration images are for precision='int8' only")
    encoder = getattr(model, "image_encoder", None)
    if not isinstance(encoder, nn.Module):
        raise ValueError(f"model {type(model).__name__} has no image_encoder module")
    if {p.device.type for p in encoder.parameters()} - {"cpu"}:
        raise ValueError("the OpenVINO engine is for the CPU; move the model to 'cpu' first")
    current = engine_of(model)
    if current is not None:
        if current.info.precision == precision:
            return model
        raise ValueError(f"the image encoder already runs in OpenVINO {current.info.precision}; reload the model")
    if encoder_precision(model) != "fp32":
        raise ValueError(f"the image encoder already runs in {encoder_precision(model)} in PyTorch; "
                         "reload the model for the OpenVINO engine")
    say = progress or (lambda message: log.info("%s", message))
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    threads = threads or torch.get_num_threads()
    key = cache_key(model)
    export_s = quantize_s = 0.0
    if precision != "int8":
        entry, ir, export_s = _ready(lambda: prepare_entry(model, root, key, say, cancel))
    else:  # the int8 entry is made from the f32 one, which is exported first where it is missing
        from samlabel.sam.fast.openvino_int8 import calibration_inputs, int8_key, overflow_fix, quantize_to

        try:
            inputs = calibration_inputs(model, calibration)
        except OSError as exc:  # the bundled calibration photo missing or unreadable: PyTorch keeps the encoder
            raise EngineError(f"the int8 calibration images could not be read: {exc}") from exc

        fix = overflow_fix()  # 7-bit weights where the CPU's int8 products saturate

        def write(folder: Path, tell, stop) -> None:
            nonlocal export_s
            _, f32_ir, export_s = _ready(lambda: prepare_entry(model, root, key, tell, stop))  # read once, checked
            quantize_to(f32_ir, folder, inputs, tell, stop, fix=fix)

        entry, ir, quantize_s = _ready(lambda: prepare_entry(model, root, int8_key(key, inputs, fix), say, cancel,
                                                             write=write, what="int8 quantisation"))
        quantize_s = max(0.0, quantize_s - export_s)
    _check(cancel)
    say(f"Compiling the OpenVINO {precision} image encoder…")
    t = time.perf_counter()
    try:  # a failure here is not the entry's (memory, the precision): it is kept
        compiled = _compile(entry, precision, threads, ir)
    except Exception as exc:  # noqa: BLE001
        raise EngineError(f"could not compile the OpenVINO {precision} encoder in {entry}: {exc}") from exc
    info = EngineInfo(precision, input_size(model), entry, bool(export_s or quantize_s), export_s,
                      time.perf_counter() - t, quantize_s)
    encoder._samlabel_openvino = OpenVinoEncoder(compiled, info, is_sam2(model), threads)
    if precision != "f32":  # int8: which quantisation too (weights, calibration, NNCF), as embeddings differ
        suffix = "+ov-bf16" if precision == "bf16" else "+ov-int8." + entry.name[:8]
        model_id = getattr(model, "model_id", None)
        if isinstance(model_id, str) and not model_id.endswith(suffix):
            model.model_id = model_id + suffix
    say(info.describe())
    return model


def _ready(prepare: Callable[[], tuple]) -> tuple:
    """``(entry, IR, seconds spent making it)`` from ``prepare()``
    (:func:`~samlabel.sam.fast.openvino_cache.prepare_entry`); an entry that does not read back
    although its manifest matched is made again, once."""
    entry, made, seconds = prepare()
    try:
        ir = _read(entry)
    except Exception as exc:  # noqa: BLE001 - a damaged entry (its manifest matched): make it again, once
        if made:
            raise EngineError(f"could not read the OpenVINO encoder just saved in {entry}: {exc}") from exc
        log.warning("the cached OpenVINO encoder in %s did not read (%s): making it again", entry, exc)
        shutil.rmtree(entry, ignore_errors=True)
        entry, made, seconds = prepare()
        try:
            ir = _read(entry)
        except Exception as exc2:  # noqa: BLE001
            raise EngineError(f"could not read the OpenVINO encoder in {entry}: {exc2}") from exc2
    return entry, ir, seconds


def stop_openvino(model: nn.Module) -> nn.Module:
    """Back to the PyTorch encoder (an f32 engine only: bf16 and int8 changed the model id; reload)."""
    current = engine_of(model)
    if current is not None:
        if current.info.precision != "f32":
            raise ValueError(f"the model's id says OpenVINO {current.info.precision}: reload the model for PyTorch")
        del model.image_encoder._samlabel_openvino
    return model
