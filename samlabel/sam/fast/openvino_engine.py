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
  ``bf16`` (:func:`samlabel.sam.fast.precision.encoder_precision`) and its id gets ``+bf16``,
  so no embedding cache mixes it with fp32.

The first use of a given encoder (its weights, class, input size, the OpenVINO and torch
versions: :func:`cache_key`) exports and converts it: 10-25 s on 2 cores for vit_t / vit_b /
SAM 2.1 tiny, reported through ``progress(message)``. Later uses read the cached IR (under
``samlabel.paths.cache_dir() / "openvino"``) and compile it (0.5-1.6 s; OpenVINO keeps its own
compiled blobs beside it). A cache entry is written into a temporary folder, flushed to disk
with a manifest of its file sizes and renamed into place, so a crash or a full disk never
leaves a half-written entry under the final name; an entry whose files do not match its
manifest or do not read back (truncated, edited) is deleted and exported again. An encoder
whose export failed is remembered (``<key>.failed``) and not exported again at every start.
Temporary folders left by a killed process are swept after an hour, and a new export keeps only
the :data:`KEEP_ENTRIES` most recently used entries (each use touches its manifest), so entries
of older weights, samlabel or OpenVINO versions do not pile up (vit_b's is 367 MB).

One :class:`OpenVinoEncoder` may be called from several threads (the app's embedding worker,
auto-labelling, segment-everything): the images take turns on its one infer request.

Measured figures: ``benchmarks/bench_precision.py`` (``--engine openvino``) and
docs/performance.md ("OpenVINO engine").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from samlabel.sam.errors import Cancelled, SamError

log = logging.getLogger(__name__)

ENGINES = ("torch", "openvino")
OV_PRECISIONS = ("f32", "bf16")
EXPORT_VERSION = 1  # bump when what is exported changes: older cache entries are then not used
_XML = "encoder.xml"
_MANIFEST = "manifest.json"
_POLL_MS = 50
_STALE_PARTIAL_S = 3600
KEEP_ENTRIES = 6  # the most recently used cache entries kept when a new one is exported
_EXPORT_LOCK = threading.Lock()  # torch.export's "exporting" flag is process-wide: one export at a time


class EngineUnavailableError(SamError):
    """OpenVINO is not installed here, or cannot run this precision on this CPU."""


class EngineError(SamError):
    """The encoder could not be exported, saved or compiled for OpenVINO (the message says which and where)."""


@dataclass(frozen=True)
class EngineInfo:
    """What :func:`use_openvino` did: ``exported`` is False when the IR came from the cache."""

    precision: str
    input_size: int
    cache_path: Path
    exported: bool
    export_s: float
    compile_s: float

    def describe(self) -> str:
        how = f"exported in {self.export_s:.1f} s" if self.exported else "from the cache"
        return f"OpenVINO {self.precision} encoder ({how}, compiled in {self.compile_s:.1f} s)"


def openvino_available() -> tuple[bool, str]:
    """``(available, reason)``: whether the ``openvino`` package imports here."""
    try:
        import openvino  # noqa: F401
    except ImportError as exc:
        return False, f"the openvino package is not installed ({exc}); pip install 'samlabel[openvino]'"
    return True, "openvino " + _ov_version()


def _ov_version() -> str:
    import openvino as ov

    return str(getattr(ov, "__version__", "") or ov.get_version())


# ----------------------------------------------------------------------------- what is exported
class _Sam2Features(nn.Module):
    """SAM 2's ``image_features`` as a module with tensor outputs: (embed, feat_s0, feat_s1)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        out = self.model.image_features(x)
        return out["image_embed"], out["high_res_feats"][0], out["high_res_feats"][1]


def _is_sam2(model) -> bool:
    from samlabel.sam.model_family import is_sam2

    return is_sam2(model)


def _export_module(model) -> nn.Module:
    return _Sam2Features(model).eval() if _is_sam2(model) else model.image_encoder.eval()


def _input_size(model) -> int:
    if _is_sam2(model):
        return int(model.image_size)
    return int(model.image_encoder.img_size)


def weights_digest(tensors: dict) -> str:
    """BLAKE2b of named tensors (names, dtypes, shapes, bytes; no copies of the data)."""
    h = hashlib.blake2b(digest_size=20)
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()


def _exported_tensors(model) -> dict:
    """The parameters and buffers the exported graph reads: SAM 1 the image encoder; SAM 2 the
    image encoder, the decoder's two high-resolution convolutions and ``no_mem_embed``."""
    tensors = {"image_encoder." + k: v for k, v in model.image_encoder.state_dict().items()}
    if _is_sam2(model):
        decoder = getattr(model, "sam_mask_decoder", None)
        for conv in ("conv_s0", "conv_s1"):
            module = getattr(decoder, conv, None)
            if isinstance(module, nn.Module):
                tensors.update({f"{conv}.{k}": v for k, v in module.state_dict().items()})
        if isinstance(getattr(model, "no_mem_embed", None), torch.Tensor):
            tensors["no_mem_embed"] = model.no_mem_embed
    return tensors


_SOURCE_DIGEST: Optional[str] = None


def _source_digest() -> str:
    """A hash of the plain model's source (``samlabel/sam/modeling``), which is what is traced:
    a change to it makes new cache entries without anyone bumping ``EXPORT_VERSION``."""
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        h = hashlib.blake2b(digest_size=16)
        root = Path(__file__).resolve().parents[1] / "modeling"
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
        _SOURCE_DIGEST = h.hexdigest()
    return _SOURCE_DIGEST


def cache_key(model) -> str:
    """The cache entry's name: the encoder's class, input size, weights and what shapes the
    exported graph (samlabel's export version and model source, torch, OpenVINO)."""
    target = model if _is_sam2(model) else model.image_encoder
    parts = [f"v{EXPORT_VERSION}", _source_digest(), type(target).__name__, type(model.image_encoder).__name__,
             str(_input_size(model)), torch.__version__, _ov_version(), weights_digest(_exported_tensors(model))]
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


def default_cache_dir() -> Path:
    from samlabel.paths import cache_dir

    return cache_dir() / "openvino"


# ----------------------------------------------------------------------------- export and cache
def _export_to(model, folder: Path, progress: Callable[[str], None], cancel: Callable[[], bool]) -> None:
    """Export ``model``'s encoder to ``folder / encoder.xml`` (+ ``.bin``) and its manifest."""
    import openvino as ov

    size = _input_size(model)
    x = torch.zeros(1, 3, size, size)
    progress("Exporting the image encoder for OpenVINO (first use of these weights: 10-20 s)…")
    with torch.no_grad(), warnings.catch_warnings():
        # SAM 2's neck fills its position-encoding cache while traced: harmless, and not the user's business
        warnings.filterwarnings("ignore", message=".*were assigned during export.*", category=UserWarning)
        program = torch.export.export(_export_module(model), (x,))
    _check(cancel)
    progress("Converting the image encoder to OpenVINO…")
    converted = ov.convert_model(program)
    del program
    _check(cancel)
    try:
        ov.save_model(converted, str(folder / _XML), compress_to_fp16=False)
    except RuntimeError as exc:  # OpenVINO reports a failed write as a RuntimeError
        raise OSError(f"writing {folder / _XML} failed: {exc}") from exc
    sizes = {}
    for path in sorted(folder.iterdir()):
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        sizes[path.name] = path.stat().st_size
    with open(folder / _MANIFEST, "w", encoding="utf-8") as f:
        json.dump({"files": sizes, "export_version": EXPORT_VERSION}, f)
        f.flush()
        os.fsync(f.fileno())


def _check(cancel: Optional[Callable[[], bool]]) -> None:
    if cancel is not None and cancel():
        raise Cancelled("preparing the OpenVINO encoder was cancelled")


def _entry_ok(entry: Path) -> bool:
    """Whether ``entry`` holds a complete export: every file of its manifest, at its size."""
    try:
        manifest = json.loads((entry / _MANIFEST).read_text(encoding="utf-8"))
        return bool(manifest["files"]) and all((entry / name).stat().st_size == size
                                               for name, size in manifest["files"].items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _sweep_partials(root: Path) -> None:
    """Temporary folders of exports that a killed process left behind (older than an hour)."""
    now = time.time()
    for path in root.glob("*.partial-*"):
        try:
            if now - path.stat().st_mtime > _STALE_PARTIAL_S:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def _prepare_entry(model, root: Path, key: str, progress: Callable[[str], None],
                   cancel: Optional[Callable[[], bool]] = None) -> tuple[Path, bool, float]:
    """``(entry folder, exported now, seconds)``: the cached entry, exported into place if missing
    or incomplete. Raises :class:`EngineError` naming the folder or the model, :class:`Cancelled`."""
    entry = root / key
    if _entry_ok(entry):
        _touch(entry)
        return entry, False, 0.0
    failed = root / f"{key}.failed"
    if failed.is_file():
        reason = failed.read_text(encoding="utf-8", errors="replace").strip()
        raise EngineError(f"the export of this encoder failed before ({reason}); delete {failed} to try again")
    t = time.perf_counter()
    with _EXPORT_LOCK:
        if _entry_ok(entry):  # another loader of this process exported it meanwhile
            return entry, False, 0.0
        try:
            root.mkdir(parents=True, exist_ok=True)
            _sweep_partials(root)
            partial = Path(tempfile.mkdtemp(dir=root, prefix=f"{key}.partial-{os.getpid()}-"))
        except OSError as exc:
            raise EngineError(f"could not write the OpenVINO encoder into {root}: {exc}") from exc
        try:
            _export_to(model, partial, progress, cancel)
            if entry.exists():  # incomplete (no manifest, a file cut short): replace it
                shutil.rmtree(entry, ignore_errors=True)
            try:
                os.replace(partial, entry)
            except OSError:
                if not _entry_ok(entry):  # not another process's complete entry: give up with the reason
                    raise
        except Cancelled:
            raise
        except OSError as exc:
            raise EngineError(f"could not save the OpenVINO encoder in {root}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - export and conversion failures of any kind: say which model
            message = f"could not export {type(model.image_encoder).__name__} for OpenVINO: {type(exc).__name__}: {exc}"
            try:
                failed.write_text(message[:2000], encoding="utf-8")
            except OSError:
                pass
            raise EngineError(message) from exc
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        _prune(root, keep=entry)
    return entry, True, time.perf_counter() - t


def _touch(entry: Path) -> None:
    try:
        os.utime(entry / _MANIFEST)
    except OSError:
        pass


def _prune(root: Path, keep: Path) -> None:
    """Delete all but the :data:`KEEP_ENTRIES` most recently used entries (``keep`` always stays)."""
    entries = []
    for path in root.iterdir():
        manifest = path / _MANIFEST
        if path != keep and path.is_dir() and ".partial-" not in path.name and manifest.is_file():
            try:
                entries.append((manifest.stat().st_mtime, path))
            except OSError:
                pass
    entries.sort(reverse=True)
    for _, path in entries[KEEP_ENTRIES - 1:]:
        log.info("removing the OpenVINO encoder cache entry %s (not used lately)", path)
        shutil.rmtree(path, ignore_errors=True)


def _read(entry: Path):
    import openvino as ov

    return ov.Core().read_model(str(entry / _XML))


def _compile(entry: Path, precision: str, threads: int, model=None):
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision,
              "PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": str(entry / "compiled")}
    return core.compile_model(model if model is not None else core.read_model(str(entry / _XML)), "CPU", config)


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
    if not _entry_ok(info.cache_path):
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
                 cancel: Optional[Callable[[], bool]] = None) -> nn.Module:
    """Run ``model``'s image encoder through OpenVINO from now on (fast path); returns ``model``.

    ``precision``: ``"f32"`` or ``"bf16"`` (native bf16 CPUs only). ``cache_dir``: where the
    exported IR is kept (default: the user cache's ``openvino`` folder). ``progress(message)`` is
    called before each slow step. ``threads``: OpenVINO's inference threads (default: torch's).
    ``cancel()`` is asked between the export's steps (:class:`Cancelled`).

    Raises :class:`EngineUnavailableError` (no openvino; bf16 without native bf16),
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
    entry, exported, export_s = _prepare_entry(model, root, key, say, cancel)
    try:
        ir = _read(entry)
    except Exception as exc:  # noqa: BLE001 - a damaged entry (its manifest matched): export it again, once
        if exported:
            raise EngineError(f"could not read the OpenVINO encoder just saved in {entry}: {exc}") from exc
        log.warning("the cached OpenVINO encoder in %s did not read (%s): exporting it again", entry, exc)
        shutil.rmtree(entry, ignore_errors=True)
        entry, exported, export_s = _prepare_entry(model, root, key, say, cancel)
        try:
            ir = _read(entry)
        except Exception as exc2:  # noqa: BLE001
            raise EngineError(f"could not read the OpenVINO encoder in {entry}: {exc2}") from exc2
    _check(cancel)
    say(f"Compiling the OpenVINO {precision} image encoder…")
    t = time.perf_counter()
    try:  # a failure here is not the entry's (memory, the precision): it is kept
        compiled = _compile(entry, precision, threads, ir)
    except Exception as exc:  # noqa: BLE001
        raise EngineError(f"could not compile the OpenVINO {precision} encoder in {entry}: {exc}") from exc
    info = EngineInfo(precision, _input_size(model), entry, exported, export_s, time.perf_counter() - t)
    encoder._samlabel_openvino = OpenVinoEncoder(compiled, info, _is_sam2(model), threads)
    if precision == "bf16":
        model_id = getattr(model, "model_id", None)
        if isinstance(model_id, str) and not model_id.endswith("+bf16"):
            model.model_id = model_id + "+bf16"
    say(info.describe())
    return model


def stop_openvino(model: nn.Module) -> nn.Module:
    """Back to the PyTorch encoder (an f32 engine only: a bf16 one changed the model id; reload)."""
    current = engine_of(model)
    if current is not None:
        if current.info.precision != "f32":
            raise ValueError("the model's id says bf16: reload the model for PyTorch")
        del model.image_encoder._samlabel_openvino
    return model
