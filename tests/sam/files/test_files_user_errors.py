"""A user's bad checkpoint is reported in one line naming the file and the problem (issue 20):
the model loader logs no traceback for it (only for a bug), and a path is judged before it
is opened (a Hugging Face snapshot folder is a checkpoint, a named pipe or a link loop is
named as such and never read)."""

from __future__ import annotations

import logging
import os
import random

import pytest
import torch
from safetensors.torch import save_file

from samlabel.sam import build_sam
from samlabel.sam.files.checkpoint_path import checkpoint_path_problem, resolve_checkpoint_path, snapshot_weights
from samlabel.sam.errors import CheckpointError

from .test_files_checkpoint import _hf_state_dict

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_sam("test_tiny")


def hf_snapshot(folder, model):
    """A Hugging Face snapshot folder of ``model``: model.safetensors (HF names) + config.json."""
    folder.mkdir()
    save_file(_hf_state_dict(model), str(folder / "model.safetensors"))
    (folder / "config.json").write_text("{}")
    return folder


def _truncated_zip(tmp_path):
    path = tmp_path / "truncated.pth"
    torch.save({"weight": torch.arange(1000.0), "bias": torch.zeros(10)}, tmp_path / "full.pth")
    path.write_bytes((tmp_path / "full.pth").read_bytes()[:700])
    return path


def _random_bytes(tmp_path):
    path = tmp_path / "random.pth"
    path.write_bytes(random.Random(21).randbytes(37))  # fails in the weights-only unpickler
    return path


def _run_loader(qapp, path, name="test_tiny"):
    """Run a ModelLoader's body in this thread; returns (loaded models, failure messages)."""
    from samlabel.gui.model_manager import ModelLoader, choose_model

    loader = ModelLoader(choose_model(name, checkpoint=path, device="cpu"))
    loaded, failed = [], []
    loader.loaded.connect(loaded.append)
    loader.failed.connect(failed.append)
    loader.run()
    return loaded, failed


# ------------------------------------------------------------------ the loader's log
@pytest.mark.parametrize("make", [_truncated_zip, _random_bytes], ids=["truncated_zip", "random_bytes"])
def test_a_bad_checkpoint_is_logged_in_one_line_without_traceback(qapp, tmp_path, caplog, capfd, make):
    path = make(tmp_path)
    with caplog.at_level(logging.INFO, logger="samlabel"):
        loaded, failed = _run_loader(qapp, path)
    assert loaded == []
    (message,) = failed
    assert str(path) in message and "truncated, corrupt or not a PyTorch/safetensors weights file" in message
    assert "pickled Python objects" not in message  # garbage is not mistaken for a pickled nn.Module
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is None and str(path) in record.getMessage()
    assert "\n" not in record.getMessage()
    assert "Traceback" not in caplog.text and "Traceback" not in "".join(capfd.readouterr())


def test_torch_advice_is_cut_to_its_first_sentence(tmp_path):
    with pytest.raises(CheckpointError) as info:
        build_sam("test_tiny", checkpoint=_truncated_zip(tmp_path))
    assert "failed finding central directory" in str(info.value)
    assert "If you are seeing this error" not in str(info.value)


def test_a_bug_while_loading_keeps_its_traceback(qapp, tmp_path, caplog, monkeypatch, tiny):
    import samlabel.sam.build

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    torch.save(tiny.state_dict(), tmp_path / "w.pth")
    monkeypatch.setattr(samlabel.sam.build, "build_sam", broken)
    with caplog.at_level(logging.INFO, logger="samlabel"):
        _, failed = _run_loader(qapp, tmp_path / "w.pth")
    assert failed and "ZeroDivisionError: a bug" in failed[0]
    assert "Traceback" in caplog.text


def test_the_loader_loads_a_snapshot_folder(qapp, tmp_path, tiny):
    folder = hf_snapshot(tmp_path / "snapshot", tiny)
    loaded, failed = _run_loader(qapp, folder)
    assert failed == []
    assert torch.equal(loaded[0].state_dict()["image_encoder.pos_embed"], tiny.state_dict()["image_encoder.pos_embed"])


# ------------------------------------------------------------------ paths, judged before opening
def test_a_snapshot_folder_is_a_checkpoint_and_a_bare_folder_is_not(tmp_path, tiny):
    folder = hf_snapshot(tmp_path / "snapshot", tiny)
    assert checkpoint_path_problem(folder) is None
    assert snapshot_weights(folder) == resolve_checkpoint_path(folder) == folder / "model.safetensors"
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text("{}")
    problem = checkpoint_path_problem(bare)
    assert str(bare) in problem and "neither model.safetensors nor pytorch_model.bin" in problem
    assert "not a Hugging Face snapshot folder" in problem


@needs_fifo
def test_a_named_pipe_checkpoint_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "weights.pth"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    with pytest.raises(CheckpointError, match=rf"{fifo}: not a file or folder \(a named pipe\)"):
        build_sam("test_tiny", checkpoint=fifo)


def test_a_link_loop_and_a_broken_link_are_named(tmp_path):
    loop = tmp_path / "loop.pth"
    loop.symlink_to(loop.name)
    with pytest.raises(CheckpointError, match=rf"{loop}: a symbolic link loop"):
        build_sam("test_tiny", checkpoint=loop)
    broken = tmp_path / "broken.pth"
    broken.symlink_to("gone.pth")
    assert checkpoint_path_problem(broken) == f"checkpoint {broken}: a broken symbolic link (to gone.pth)"


@needs_fifo
def test_the_app_choice_says_why_a_path_is_no_checkpoint(tmp_path, tiny):
    from samlabel.gui.model_manager import choose_model

    fifo = tmp_path / "pipe.pth"
    os.mkfifo(fifo)
    choice = choose_model("test_tiny", checkpoint=fifo, device="cpu")
    assert not choice.available and choice.reason == f"checkpoint {fifo}: not a file or folder (a named pipe)"
    assert "AI tools are disabled" in choice.message
    missing = choose_model("test_tiny", checkpoint=tmp_path / "x.pth", device="cpu")
    assert missing.reason == f"checkpoint {tmp_path / 'x.pth'} does not exist"
    snapshot = choose_model("test_tiny", checkpoint=hf_snapshot(tmp_path / "snap", tiny), device="cpu")
    assert snapshot.available and snapshot.user_file
