"""The OpenVINO engine's cache: what is exported, its key, and the cache entries on disk.

An entry (``<root>/<key>/``: ``encoder.xml`` + ``encoder.bin``, ``manifest.json``, OpenVINO's
compiled blobs under ``compiled/``) holds samlabel's plain image encoder exported with
``torch.export`` and converted by ``openvino.convert_model`` (SAM 1 / MobileSAM: the
embedding; SAM 2: ``image_features``, the embedding with ``no_mem_embed`` and both
high-resolution maps). The key (:func:`cache_key`) hashes the encoder's class, input size, the
tensors the graph reads, the plain model's source and the torch / OpenVINO / export versions.

An entry is written into a unique temporary folder, flushed to disk with a manifest of its file
sizes and renamed into place, so a crash or a full disk never leaves a half-written entry under
the final name; an entry whose files do not match its manifest (truncated, edited) is exported
again. A failed export is remembered (``<key>.failed``) instead of repeated at every start.
Temporary folders left by a killed process are swept after an hour, and a new export keeps only
the :data:`KEEP_ENTRIES` most recently used entries (each use touches its manifest), so entries
of older weights, samlabel or OpenVINO versions do not pile up (vit_b's is 367 MB).

Used by :mod:`samlabel.sam.fast.openvino_engine`, which compiles and runs an entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from samlabel.sam.errors import Cancelled, SamError

log = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when what is exported changes: older cache entries are then not used
XML = "encoder.xml"
_MANIFEST = "manifest.json"
_STALE_PARTIAL_S = 3600
KEEP_ENTRIES = 6  # the most recently used cache entries kept when a new one is exported
# torch.export's "exporting" flag is process-wide: one export at a time (re-entrant: the int8 entry's
# quantisation exports its float32 entry first, inside its own turn)
_EXPORT_LOCK = threading.RLock()


class EngineError(SamError):
    """The encoder could not be exported, saved or compiled for OpenVINO (the message says which and where)."""


def ov_version() -> str:
    import openvino as ov

    return str(getattr(ov, "__version__", "") or ov.get_version())


# ----------------------------------------------------------------------------- no usage telemetry
def _nothing(*args, **kwargs) -> None:
    return None


class _NoTelemetry:
    """Stands in for ``openvino_telemetry.Telemetry``: takes any arguments, sends nothing (its
    public methods as no-ops; no ``backend``, which OpenVINO's conversion looks for)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    init = start_session = end_session = send_event = send_error = send_stack_trace = _nothing
    force_shutdown = send_opt_in_event = check_by_cmd_line_if_dialog_needed = _nothing
    opt_in = opt_out = staticmethod(_nothing)

    def get_stats(self, *args, **kwargs) -> dict:
        return {}

    def get_version(self, *args, **kwargs) -> str:
        return ""


def quiet_telemetry() -> None:
    """Switch off OpenVINO's and NNCF's usage telemetry in this process before converting or
    quantising: both send Google Analytics events through ``openvino_telemetry`` unless the
    user opted out on this machine. samlabel's engine sends nothing."""
    try:
        import openvino_telemetry
    except ImportError:
        return
    openvino_telemetry.Telemetry = _NoTelemetry  # read at each conversion, and by NNCF when imported
    wrapper = sys.modules.get("nncf.telemetry.wrapper")  # NNCF imported earlier: its instance too
    telemetry = getattr(wrapper, "telemetry", None)
    if telemetry is not None and hasattr(telemetry, "_impl"):
        telemetry._impl = _NoTelemetry()


# ----------------------------------------------------------------------------- what is exported
class _Sam2Features(nn.Module):
    """SAM 2's ``image_features`` as a module with tensor outputs: (embed, feat_s0, feat_s1)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        out = self.model.image_features(x)
        return out["image_embed"], out["high_res_feats"][0], out["high_res_feats"][1]


def is_sam2(model) -> bool:
    from samlabel.sam.model_family import is_sam2

    return is_sam2(model)


def _export_module(model) -> nn.Module:
    return _Sam2Features(model).eval() if is_sam2(model) else model.image_encoder.eval()


def input_size(model) -> int:
    if is_sam2(model):
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
    if is_sam2(model):
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
    target = model if is_sam2(model) else model.image_encoder
    parts = [f"v{EXPORT_VERSION}", _source_digest(), type(target).__name__, type(model.image_encoder).__name__,
             str(input_size(model)), torch.__version__, ov_version(), weights_digest(_exported_tensors(model))]
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


def default_cache_dir() -> Path:
    from samlabel.paths import cache_dir

    return cache_dir() / "openvino"


# ----------------------------------------------------------------------------- export and cache
def _export_to(model, folder: Path, progress: Callable[[str], None], cancel: Callable[[], bool]) -> None:
    """Export ``model``'s encoder to ``folder / encoder.xml`` (+ ``.bin``) and its manifest."""
    import openvino as ov

    quiet_telemetry()
    size = input_size(model)
    x = torch.zeros(1, 3, size, size)
    progress("Exporting the image encoder for OpenVINO (first use of these weights: 10-20 s)…")
    with torch.no_grad(), warnings.catch_warnings():
        # SAM 2's neck fills its position-encoding cache while traced: harmless, and not the user's business
        warnings.filterwarnings("ignore", message=".*were assigned during export.*", category=UserWarning)
        program = torch.export.export(_export_module(model), (x,))
    check_cancel(cancel)
    progress("Converting the image encoder to OpenVINO…")
    converted = ov.convert_model(program)
    del program
    check_cancel(cancel)
    save_ir(converted, folder)


def save_ir(ir, folder: Path) -> None:
    """Write the OpenVINO model ``ir`` as ``folder / encoder.xml`` (+ ``.bin``), every file of
    ``folder`` flushed to disk, then its manifest (what :func:`entry_ok` checks)."""
    import openvino as ov

    try:
        ov.save_model(ir, str(folder / XML), compress_to_fp16=False)
    except RuntimeError as exc:  # OpenVINO reports a failed write as a RuntimeError
        raise OSError(f"writing {folder / XML} failed: {exc}") from exc
    sizes = {}
    for path in sorted(folder.iterdir()):
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        sizes[path.name] = path.stat().st_size
    with open(folder / _MANIFEST, "w", encoding="utf-8") as f:
        json.dump({"files": sizes, "export_version": EXPORT_VERSION}, f)
        f.flush()
        os.fsync(f.fileno())


def check_cancel(cancel: Optional[Callable[[], bool]]) -> None:
    if cancel is not None and cancel():
        raise Cancelled("preparing the OpenVINO encoder was cancelled")


def entry_ok(entry: Path) -> bool:
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


def prepare_entry(model, root: Path, key: str, progress: Callable[[str], None],
                   cancel: Optional[Callable[[], bool]] = None,
                   write: Optional[Callable[[Path, Callable[[str], None], Optional[Callable[[], bool]]], None]] = None,
                   what: str = "export") -> tuple[Path, bool, float]:
    """``(entry folder, made now, seconds)``: the cached entry, made into place if missing or
    incomplete. ``write(folder, progress, cancel)`` makes it (default: export ``model``'s encoder;
    the int8 engine passes its quantisation, :mod:`samlabel.sam.fast.openvino_int8`) and must end
    with :func:`save_ir`; ``what`` names that step in errors. Raises :class:`EngineError` naming
    the folder or the model, :class:`Cancelled`."""
    entry = root / key
    if entry_ok(entry):
        _touch(entry)
        return entry, False, 0.0
    failed = root / f"{key}.failed"
    _refuse_failed(failed, what)
    t = time.perf_counter()
    with _EXPORT_LOCK:
        if entry_ok(entry):  # another loader of this process exported it meanwhile
            return entry, False, 0.0
        _refuse_failed(failed, what)  # or failed meanwhile
        try:
            root.mkdir(parents=True, exist_ok=True)
            _sweep_partials(root)
            partial = Path(tempfile.mkdtemp(dir=root, prefix=f"{key}.partial-{os.getpid()}-"))
        except OSError as exc:
            raise EngineError(f"could not write the OpenVINO encoder into {root}: {exc}") from exc
        try:
            (write or (lambda folder, say, stop: _export_to(model, folder, say, stop)))(partial, progress, cancel)
            if not entry_ok(entry):  # another process (a Ray actor) may have completed it meanwhile: keep that
                if entry.exists():  # incomplete (no manifest, a file cut short): replace it
                    shutil.rmtree(entry, ignore_errors=True)
                try:
                    os.replace(partial, entry)
                except OSError:
                    if not entry_ok(entry):  # not another process's complete entry: give up with the reason
                        raise
        except (Cancelled, EngineError):  # a cancel; an inner step's own error (it remembered what it must)
            raise
        except (OSError, MemoryError) as exc:  # this machine's state now, not the encoder's: not remembered
            raise EngineError(f"could not save the OpenVINO encoder in {root}: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - export and conversion failures of any kind: say which model
            verb = "export" if what == "export" else f"make the {what} of"
            message = (f"could not {verb} {type(model.image_encoder).__name__} for OpenVINO: "
                       f"{type(exc).__name__}: {exc}")
            try:
                failed.write_text(message[:2000], encoding="utf-8")
            except OSError:
                pass
            raise EngineError(message) from exc
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        _prune(root, keep=entry)
    return entry, True, time.perf_counter() - t


def _refuse_failed(failed: Path, what: str) -> None:
    if failed.is_file():
        reason = failed.read_text(encoding="utf-8", errors="replace").strip()
        raise EngineError(f"the {what} of this encoder failed before ({reason}); delete {failed} to try again")


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
