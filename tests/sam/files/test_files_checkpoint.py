"""Checkpoint files: official layout, wrappers, Hugging Face layout, and every kind of bad file."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from safetensors.torch import save_file

from samlabel.sam import CheckpointError, build_sam
from samlabel.sam.config import get_config
from samlabel.sam.fast.decoder import FastDecoder

TINY = get_config("test_tiny")


@pytest.fixture(scope="module")
def tiny_reference(reference_factory):
    return reference_factory(TINY, seed=11)


@pytest.fixture(scope="module")
def tiny_inputs():
    g = torch.Generator().manual_seed(12)
    emb = torch.randn(1, 32, 64, 64, generator=g)
    coords = torch.tensor([[[200.0, 300.0], [700.0, 100.0]]])
    labels = torch.tensor([[1, 0]])
    box = torch.tensor([[50.0, 60.0, 900.0, 800.0]])
    mask = torch.randn(1, 1, 256, 256, generator=g)
    return emb, coords, labels, box, mask


def _outputs(model, tiny_inputs):
    emb, coords, labels, box, mask = tiny_inputs
    with torch.no_grad():
        patch = model.image_encoder.patch_embed(torch.ones(1, 3, 32, 32))
    logits, iou = FastDecoder(model).decode(FastDecoder(model).prepare(emb), coords, labels, box, mask)
    return patch, logits, iou


def _assert_same(a, b):
    for x, y in zip(a, b):
        assert x.shape == y.shape and (x - y).abs().max() <= 1e-5


def _reference_outputs(ref, tiny_inputs):
    emb, coords, labels, box, mask = tiny_inputs
    with torch.no_grad():
        patch = ref.image_encoder.patch_embed(torch.ones(1, 3, 32, 32))
        sparse, dense = ref.prompt_encoder(points=(coords, labels), boxes=box, masks=mask)
        logits, iou = ref.mask_decoder(emb, ref.prompt_encoder.get_dense_pe(), sparse, dense, True)
    return patch, logits, iou


# ------------------------------------------------------------------ official files
@pytest.mark.parametrize("wrapper", [None, "model", "state_dict"])
def test_official_state_dict_loads_plain_or_wrapped(tmp_path, tiny_reference, tiny_inputs, wrapper):
    sd = tiny_reference.state_dict()
    path = tmp_path / "tiny.pth"
    torch.save(sd if wrapper is None else {wrapper: sd, "epoch": torch.tensor(3)}, path)
    model = build_sam("test_tiny", checkpoint=path)
    _assert_same(_outputs(model, tiny_inputs), _reference_outputs(tiny_reference, tiny_inputs))
    digest = __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    assert model.model_id == f"test_tiny:{digest[:16]}"


# ------------------------------------------------------------------ Hugging Face files
def _hf_name(key: str) -> str:
    """Official -> transformers ``SamModel`` name, written out per module (independent of hf_mapping)."""
    rules = [
        (r"^image_encoder\.patch_embed\.proj\.", "vision_encoder.patch_embed.projection."),
        (r"^image_encoder\.pos_embed$", "vision_encoder.pos_embed"),
        (r"^image_encoder\.blocks\.(\d+)\.norm(\d)\.", r"vision_encoder.layers.\1.layer_norm\2."),
        (r"^image_encoder\.blocks\.(\d+)\.", r"vision_encoder.layers.\1."),
        (r"^image_encoder\.neck\.0\.", "vision_encoder.neck.conv1."),
        (r"^image_encoder\.neck\.1\.", "vision_encoder.neck.layer_norm1."),
        (r"^image_encoder\.neck\.2\.", "vision_encoder.neck.conv2."),
        (r"^image_encoder\.neck\.3\.", "vision_encoder.neck.layer_norm2."),
        (r"^prompt_encoder\.pe_layer\.positional_encoding_gaussian_matrix$", "shared_image_embedding.positional_embedding"),
        (r"^prompt_encoder\.point_embeddings\.", "prompt_encoder.point_embed."),
        (r"^prompt_encoder\.mask_downscaling\.0\.", "prompt_encoder.mask_embed.conv1."),
        (r"^prompt_encoder\.mask_downscaling\.1\.", "prompt_encoder.mask_embed.layer_norm1."),
        (r"^prompt_encoder\.mask_downscaling\.3\.", "prompt_encoder.mask_embed.conv2."),
        (r"^prompt_encoder\.mask_downscaling\.4\.", "prompt_encoder.mask_embed.layer_norm2."),
        (r"^prompt_encoder\.mask_downscaling\.6\.", "prompt_encoder.mask_embed.conv3."),
        (r"^(mask_decoder\.transformer\.layers\.\d+)\.norm(\d)\.", r"\1.layer_norm\2."),
        (r"^mask_decoder\.transformer\.norm_final_attn\.", "mask_decoder.transformer.layer_norm_final_attn."),
        (r"^mask_decoder\.output_upscaling\.0\.", "mask_decoder.upscale_conv1."),
        (r"^mask_decoder\.output_upscaling\.1\.", "mask_decoder.upscale_layer_norm."),
        (r"^mask_decoder\.output_upscaling\.3\.", "mask_decoder.upscale_conv2."),
        (r"^(mask_decoder\.(?:output_hypernetworks_mlps\.\d+|iou_prediction_head))\.layers\.0\.", r"\1.proj_in."),
        (r"^(mask_decoder\.(?:output_hypernetworks_mlps\.\d+|iou_prediction_head))\.layers\.1\.", r"\1.layers.0."),
        (r"^(mask_decoder\.(?:output_hypernetworks_mlps\.\d+|iou_prediction_head))\.layers\.2\.", r"\1.proj_out."),
    ]
    for pattern, replacement in rules:
        new, n = re.subn(pattern, replacement, key)
        if n:
            return new
    return key


def _hf_state_dict(ref, both_pe_keys: bool = False) -> dict[str, torch.Tensor]:
    sd = {_hf_name(k): v.clone().contiguous() for k, v in ref.state_dict().items()}
    if both_pe_keys:  # some exports keep the tied copy too
        sd["prompt_encoder.shared_embedding.positional_embedding"] = sd["shared_image_embedding.positional_embedding"].clone()
    return sd


@pytest.mark.parametrize("fmt", ["safetensors", "bin", "bin_tied"])
def test_hugging_face_weights_give_the_same_outputs(tmp_path, tiny_reference, tiny_inputs, fmt):
    sd = _hf_state_dict(tiny_reference, both_pe_keys=(fmt == "bin_tied"))
    assert not any(k.startswith("image_encoder.") for k in sd)
    if fmt == "safetensors":
        path = tmp_path / "model.safetensors"
        save_file(sd, str(path))
    else:
        path = tmp_path / "pytorch_model.bin"
        torch.save(sd, path)
    model = build_sam("test_tiny", checkpoint=path)
    _assert_same(_outputs(model, tiny_inputs), _reference_outputs(tiny_reference, tiny_inputs))


def test_hugging_face_snapshot_folder(tmp_path, tiny_reference, tiny_inputs):
    save_file(_hf_state_dict(tiny_reference), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text("{}")
    model = build_sam("test_tiny", checkpoint=tmp_path)
    _assert_same(_outputs(model, tiny_inputs), _reference_outputs(tiny_reference, tiny_inputs))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="empty holds neither model.safetensors nor pytorch_model.bin"):
        build_sam("test_tiny", checkpoint=empty)


def test_hugging_face_file_with_missing_tensor_names_it(tmp_path, tiny_reference):
    sd = _hf_state_dict(tiny_reference)
    del sd["mask_decoder.upscale_conv2.weight"]
    path = tmp_path / "model.safetensors"
    save_file(sd, str(path))
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*missing keys: mask_decoder\.upscale_conv2\.weight"):
        build_sam("test_tiny", checkpoint=path)


def test_mapping_matches_transformers_sam_model():
    """With ``transformers`` installed: its ``SamModel`` has exactly our HF names and shapes."""
    transformers = pytest.importorskip("transformers")
    from samlabel.sam.files.hf_mapping import official_to_hf_state_dict

    vision = transformers.SamVisionConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, global_attn_indexes=[1],
        output_channels=32, mlp_dim=128, num_pos_feats=16,
    )
    config = transformers.SamConfig(
        vision_config=vision,
        prompt_encoder_config=transformers.SamPromptEncoderConfig(hidden_size=32, mask_input_channels=8),
        mask_decoder_config=transformers.SamMaskDecoderConfig(
            hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32
        ),
    )
    hf = transformers.SamModel(config).state_dict()
    ours = official_to_hf_state_dict(build_sam("test_tiny").state_dict())
    assert set(hf) == set(ours)
    assert {k: tuple(v.shape) for k, v in hf.items()} == {k: tuple(v.shape) for k, v in ours.items()}


# ------------------------------------------------------------------ bad files
def test_missing_file(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match=f"{re.escape(str(path))} does not exist"):
        build_sam("test_tiny", checkpoint=path)


def test_truncated_file(tmp_path, tiny_reference):
    full = tmp_path / "full.pth"
    torch.save(tiny_reference.state_dict(), full)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=f"{re.escape(str(cut))} is truncated, corrupt"):
        build_sam("test_tiny", checkpoint=cut)


def test_truncated_safetensors(tmp_path, tiny_reference):
    full = tmp_path / "model.safetensors"
    save_file(_hf_state_dict(tiny_reference), str(full))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(full.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match="cut.safetensors is truncated, corrupt"):
        build_sam("test_tiny", checkpoint=cut)


@pytest.mark.parametrize("payload", [b"", b"\x00garbage" * 1000, bytes(range(256)) * 64])
def test_garbage_file(tmp_path, payload):
    path = tmp_path / "garbage.pth"
    path.write_bytes(payload)
    with pytest.raises(CheckpointError, match="garbage.pth"):
        build_sam("test_tiny", checkpoint=path)


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(CheckpointError, match="list.pth does not contain a state dict"):
        build_sam("test_tiny", checkpoint=path)


def test_wrong_keys_are_listed(tmp_path, tiny_reference):
    sd = dict(tiny_reference.state_dict())
    sd["mask_decoder.extra.weight"] = torch.zeros(3)
    del sd["image_encoder.neck.0.weight"]
    path = tmp_path / "keys.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as info:
        build_sam("test_tiny", checkpoint=path)
    message = str(info.value)
    assert str(path) in message
    assert "missing keys: image_encoder.neck.0.weight" in message
    assert "unexpected keys: mask_decoder.extra.weight" in message


def test_checkpoint_of_another_model_size(tmp_path, reference_factory):
    wider = dataclasses.replace(
        TINY,
        encoder=dataclasses.replace(TINY.encoder, embed_dim=48, depth=3, global_attn_indexes=(2,)),
    )
    path = tmp_path / "other.pth"
    torch.save(reference_factory(wider, seed=1).state_dict(), path)
    with pytest.raises(CheckpointError) as info:
        build_sam("test_tiny", checkpoint=path)
    message = str(info.value)
    assert str(path) in message and "'test_tiny'" in message
    assert "shape mismatch: image_encoder.pos_embed (expected (1, 64, 64, 32), found (1, 64, 64, 48))" in message
    assert "image_encoder.patch_embed.proj.weight (expected (32, 3, 16, 16), found (48, 3, 16, 16))" in message
    assert "unexpected keys: image_encoder.blocks.2." in message
    assert "width 48 with 3 blocks" in message and "another model size" in message
