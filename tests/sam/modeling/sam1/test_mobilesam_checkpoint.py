"""Strict loading of MobileSAM checkpoints: the official key set, and clear refusals."""

from __future__ import annotations

import pytest
import torch

from samlabel.sam import build_sam
from samlabel.sam.errors import CheckpointError


@pytest.fixture(scope="module")
def reference_state_dict(reference_vit_t):
    return {k: v.clone() for k, v in reference_vit_t.state_dict().items()}


def test_state_dict_has_the_official_names_and_shapes(reference_state_dict):
    ours = build_sam("vit_t").state_dict()
    assert sorted(ours) == sorted(reference_state_dict)
    for key, value in reference_state_dict.items():
        assert tuple(ours[key].shape) == tuple(value.shape), key
    # the unused ImageNet head of TinyViT is part of the official checkpoint, so it is kept
    assert tuple(ours["image_encoder.head.weight"].shape) == (1000, 320)
    assert "image_encoder.norm_head.weight" in ours


def _save(tmp_path, state_dict, name):
    path = tmp_path / name
    torch.save(state_dict, path)
    return path


def test_missing_key_is_refused(tmp_path, reference_state_dict):
    sd = dict(reference_state_dict)
    del sd["image_encoder.head.weight"]
    path = _save(tmp_path, sd, "missing.pt")
    with pytest.raises(CheckpointError, match=r"missing keys: image_encoder\.head\.weight") as err:
        build_sam("vit_t", checkpoint=path)
    assert str(path) in str(err.value)


def test_extra_key_is_refused(tmp_path, reference_state_dict):
    sd = dict(reference_state_dict)
    sd["image_encoder.layers.1.blocks.0.attn.ab"] = torch.zeros(4, 49, 49)
    path = _save(tmp_path, sd, "extra.pt")
    with pytest.raises(CheckpointError, match=r"unexpected keys: image_encoder\.layers\.1\.blocks\.0\.attn\.ab") as err:
        build_sam("vit_t", checkpoint=path)
    assert str(path) in str(err.value)


def test_wrong_shape_is_refused(tmp_path, reference_state_dict):
    sd = dict(reference_state_dict)
    key = "image_encoder.layers.2.blocks.3.attn.attention_biases"
    sd[key] = sd[key][:, :-1].clone()  # a table for a different window size
    path = _save(tmp_path, sd, "shape.pt")
    with pytest.raises(CheckpointError, match="shape mismatch") as err:
        build_sam("vit_t", checkpoint=path)
    message = str(err.value)
    assert key in message and "(5, 196)" in message and "(5, 195)" in message


def test_a_vit_b_model_refuses_a_mobilesam_checkpoint(reference_checkpoint):
    with pytest.raises(CheckpointError, match="TinyViT"):
        build_sam("vit_b", checkpoint=reference_checkpoint)
