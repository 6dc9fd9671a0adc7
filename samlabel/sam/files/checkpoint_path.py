"""Which paths are checkpoints, decided without opening them (and without torch).

A checkpoint is a weights file, or a Hugging Face snapshot folder holding
``model.safetensors`` or ``pytorch_model.bin`` (:func:`snapshot_weights`, the one test of
that, used by the loader, the app and ``samlabel --smoke-test`` alike).
:func:`checkpoint_path_problem` says what is wrong with a path before anything reads it, so
a named pipe is refused instead of blocking the reader, and a symbolic link loop is named as
such instead of "does not exist".
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Union

from samlabel.path_kinds import kind_of, stat_problem
from samlabel.sam.errors import CheckpointError

PathLike = Union[str, Path]
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def snapshot_weights(folder: PathLike) -> Path | None:
    """The weights file of the Hugging Face snapshot ``folder`` (its ``model.safetensors``,
    else its ``pytorch_model.bin``); None when it holds neither as a regular file."""
    folder = Path(folder)
    for name in HF_WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def checkpoint_path_problem(path: PathLike) -> str | None:
    """What is wrong with ``path`` as a checkpoint (a message naming it), found without
    opening it; None for a regular file or a snapshot folder (their contents are checked by
    loading)."""
    path = Path(path).expanduser()
    st, problem = stat_problem(path)
    if problem is not None:
        return f"checkpoint {path}: {problem}"
    if st is None:
        return f"checkpoint {path} does not exist"
    if stat.S_ISDIR(st.st_mode):
        if snapshot_weights(path) is None:
            return (f"checkpoint folder {path} holds neither {' nor '.join(HF_WEIGHT_FILES)}, so it is not a "
                    "Hugging Face snapshot folder; choose a checkpoint file, or a snapshot folder holding one of those")
        return None
    if not stat.S_ISREG(st.st_mode):
        return f"checkpoint {path}: not a file or folder ({kind_of(st.st_mode)})"
    return None


def resolve_checkpoint_path(path: PathLike) -> Path:
    """The weights file for ``path`` (a folder, a Hugging Face snapshot, means its weights
    file); ``CheckpointError`` naming the path and the problem when it is neither."""
    path = Path(path).expanduser()
    problem = checkpoint_path_problem(path)
    if problem is not None:
        raise CheckpointError(problem)
    return snapshot_weights(path) or path


__all__ = ["HF_WEIGHT_FILES", "checkpoint_path_problem", "resolve_checkpoint_path", "snapshot_weights"]
