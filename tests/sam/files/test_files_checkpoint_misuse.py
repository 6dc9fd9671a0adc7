"""Checkpoint files a user may pick by mistake: each gets a CheckpointError naming the file and
saying what is wrong and what to do (found in review)."""

from __future__ import annotations

import pytest
import torch

from samlabel.sam import build_sam
from samlabel.sam.errors import CheckpointError


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_sam("test_tiny")


@pytest.mark.parametrize("wrap", [False, True])
def test_pickled_module_says_how_to_extract_the_weights(tmp_path, tiny, wrap):
    path = tmp_path / "whole_model.pth"
    torch.save({"model": tiny} if wrap else tiny, path)
    with pytest.raises(CheckpointError) as info:
        build_sam("test_tiny", checkpoint=path)
    msg = str(info.value)
    assert str(path) in msg
    assert "pickled Python objects" in msg and "state_dict" in msg
    assert "truncated" not in msg and "\x1b[" not in msg  # no misleading diagnosis, no terminal escapes


def test_safetensors_of_another_model_is_named_as_such(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "bert.safetensors"
    save_file({"encoder.layer.0.attention.self.query.weight": torch.zeros(4, 4)}, str(path))
    with pytest.raises(CheckpointError, match=r"bert\.safetensors is not a Segment Anything checkpoint") as info:
        build_sam("test_tiny", checkpoint=path)
    assert "encoder.layer.0.attention.self.query.weight" in str(info.value)


def test_folder_that_is_not_a_snapshot_and_tilde_paths(tmp_path, tiny, monkeypatch):
    folder = tmp_path / "not_a_snapshot"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"not_a_snapshot holds neither model\.safetensors nor pytorch_model\.bin"):
        build_sam("test_tiny", checkpoint=folder)
    monkeypatch.setenv("HOME", str(tmp_path))
    torch.save(tiny.state_dict(), tmp_path / "w.pth")
    model = build_sam("test_tiny", checkpoint="~/w.pth")
    assert torch.equal(model.state_dict()["image_encoder.pos_embed"], tiny.state_dict()["image_encoder.pos_embed"])
    with pytest.raises(CheckpointError, match=f"{tmp_path}/missing.pth does not exist"):
        build_sam("test_tiny", checkpoint="~/missing.pth")
    (tmp_path / "zero.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"zero\.pth is empty"):
        build_sam("test_tiny", checkpoint="~/zero.pth")
