"""Reading checkpoint files and loading them strictly into a ``Sam``.

Formats: Meta's official ``.pth`` (a state dict saved with ``torch.save``; read with
``weights_only=True``), the same wrapped in ``{"model": ...}`` or ``{"state_dict": ...}``,
and Hugging Face ``SamModel`` weights (``model.safetensors`` or ``pytorch_model.bin``),
renamed through ``hf_mapping``; which paths are checkpoints (a file, a snapshot folder) is
decided by ``checkpoint_path`` before anything is opened. Every problem raises
``CheckpointError`` whose message names the file and what is wrong (missing / unexpected
keys, shape mismatches, truncation, a checkpoint of another model size).
"""

from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from pathlib import Path
from typing import Mapping, Union

import torch
from torch import nn

from samlabel.sam.files import hf_mapping
from samlabel.sam.files.checkpoint_path import HF_WEIGHT_FILES, resolve_checkpoint_path  # noqa: F401 - re-exported
from samlabel.sam.errors import CheckpointError

PathLike = Union[str, Path]
_SHOW = 5  # keys listed per problem in error messages
_digest_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: PathLike, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, memoised by (path, size, mtime)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _digest_cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(chunk_size), b""):
                h.update(chunk)
        _digest_cache[key] = h.hexdigest()
    return _digest_cache[key]


def _is_safetensors(path: Path) -> bool:
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 32)


_UNPICKLER_CAUSE = re.compile(r"WeightsUnpickler error:\s*(\S[^\n]*)")


def _refused_objects(exc: pickle.UnpicklingError) -> bool:
    """Whether the weights-only unpickler refused a Python class (a pickled ``nn.Module``,
    ``argparse.Namespace``...), as opposed to bytes that are no pickle at all."""
    text = str(exc).lower()
    return "weights only" in text and ("unsupported global" in text or "unsupported class" in text)


def _detail(exc: BaseException) -> str:
    """The gist of a reader's exception: the weights-only unpickler's own cause, else the
    first line, cut at the first sentence when long (torch appends paragraphs of advice)."""
    cause = _UNPICKLER_CAUSE.search(str(exc))
    if cause is not None:
        return cause.group(1).strip()
    text = str(exc).strip()
    line = text.splitlines()[0] if text else "no detail"
    if len(line) > 160 and ". " in line:
        line = line.split(". ", 1)[0]
    return line


def read_state_dict(path: PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a flat ``{name: tensor}`` dict (CPU), unwrapping containers."""
    path = resolve_checkpoint_path(path)  # a regular file now: a named pipe is never opened
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint file {path} is empty")
    try:
        if _is_safetensors(path):
            from safetensors.torch import load_file

            obj = load_file(str(path), device="cpu")
        else:
            with warnings.catch_warnings():  # garbage read as a pickle: "Detected pickle protocol 117"
                warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, MemoryError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    except pickle.UnpicklingError as exc:
        if not _refused_objects(exc):  # random bytes also fail the weights-only unpickler
            raise CheckpointError(
                f"checkpoint {path} is truncated, corrupt or not a PyTorch/safetensors weights file "
                f"(UnpicklingError: {_detail(exc)})"
            ) from exc
        raise CheckpointError(
            f"checkpoint {path} holds pickled Python objects (e.g. a whole nn.Module), not only tensors, "
            "so it is not loaded (weights_only=True: unpickling can run arbitrary code). If you trust the "
            "file, save its weights once with: python -c \"import torch; m = torch.load(r'"
            f"{path}', weights_only=False); m = m.get('model', m) if isinstance(m, dict) else m; "
            "torch.save(m.state_dict(), 'sam_weights.pth')\" and load sam_weights.pth"
        ) from exc
    except Exception as exc:  # torch/safetensors raise many types for damaged files
        raise CheckpointError(
            f"checkpoint {path} is truncated, corrupt or not a PyTorch/safetensors weights file "
            f"({type(exc).__name__}: {_detail(exc)})"
        ) from exc
    for wrapper in ("model", "state_dict"):
        if isinstance(obj, Mapping) and wrapper in obj and isinstance(obj[wrapper], Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"checkpoint {path} does not contain a state dict (found {type(obj).__name__})")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"checkpoint {path} has entries that are not named tensors: {_few(map(str, bad))}")
    if all(k.startswith("module.") for k in obj):  # saved from DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def _few(keys) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:_SHOW])
    return shown + (f" ... ({len(keys)} in all)" if len(keys) > _SHOW else "")


def describe_state_dict(state_dict: Mapping[str, torch.Tensor]) -> str:
    """A guess at which architecture a state dict belongs to, e.g. ``"ViT encoder width 1024, 24 blocks"``."""
    pos = state_dict.get("image_encoder.pos_embed")
    blocks = {int(m.group(1)) for k in state_dict if (m := re.match(r"image_encoder\.blocks\.(\d+)\.", k))}
    if pos is not None and blocks:
        return f"a ViT encoder of width {pos.shape[-1]} with {max(blocks) + 1} blocks"
    if any(k.startswith("image_encoder.layers.") for k in state_dict):
        return "a TinyViT (MobileSAM) encoder"
    return "an unrecognised architecture"


def state_dict_problems(
    expected: Mapping[str, torch.Tensor], state_dict: Mapping[str, torch.Tensor]
) -> tuple[list[str], list[str], list[str]]:
    """``(missing, unexpected, mismatched)`` keys of ``state_dict`` against ``expected`` (names and shapes)."""
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k} (expected {tuple(v.shape)}, found {tuple(state_dict[k].shape)})"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    return missing, unexpected, mismatched


def fit_problems(missing, unexpected, mismatched, mismatch_hint: str = "") -> list[str]:
    """The phrases of a "does not fit" error: missing, unexpected and mismatched keys, a few of
    each (``mismatch_hint`` follows the mismatched ones, e.g. " - another model size?")."""
    problems = []
    if missing:
        problems.append(f"missing keys: {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_few(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatch: {_few(mismatched)}{mismatch_hint}")
    return problems


def to_official(
    state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], list[str], list[str], str]:
    """Rename a Hugging Face state dict to official names (others pass through).

    Returns ``(state_dict, missing, unexpected, kind)``; for HF files ``missing`` and
    ``unexpected`` use HF names.
    """
    if hf_mapping.is_hf_state_dict(state_dict):
        converted, missing, unexpected = hf_mapping.hf_to_official(state_dict, list(expected))
        return converted, missing, unexpected, "Hugging Face SAM checkpoint"
    missing, unexpected, _ = state_dict_problems(expected, state_dict)
    return dict(state_dict), missing, unexpected, "checkpoint"


def check_and_load(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: PathLike) -> None:
    """Strict load: every key present, no extra keys, every shape equal; else ``CheckpointError``."""
    expected = model.state_dict()
    state_dict, missing, unexpected, kind = to_official(state_dict, expected)
    if not set(state_dict) & set(expected):
        raise CheckpointError(
            f"{kind} {path} is not a Segment Anything checkpoint: none of its {len(state_dict)} tensor names "
            f"matches the model's (e.g. it has {_few(sorted(state_dict))}; expected names like "
            f"{_few(list(expected)[:3])})"
        )
    _, _, mismatched = state_dict_problems(expected, state_dict)
    if missing or unexpected or mismatched:
        name = getattr(getattr(model, "config", None), "name", type(model).__name__)
        problems = fit_problems(missing, unexpected, mismatched)
        hint = ""
        if mismatched or (missing and unexpected):
            hint = f"; the file looks like {describe_state_dict(state_dict)} - is it a checkpoint for another model size?"
        raise CheckpointError(f"{kind} {path} does not fit model {name!r}: " + "; ".join(problems) + hint)
    with torch.no_grad():
        for k, v in expected.items():
            v.copy_(state_dict[k])


def load_checkpoint(model: nn.Module, path: PathLike) -> str:
    """Load ``path`` strictly into ``model``; returns the file's SHA-256 (identifies the weights)."""
    path = resolve_checkpoint_path(path)
    state_dict = read_state_dict(path)
    check_and_load(model, state_dict, path)
    return file_sha256(path)
