"""Hugging Face ``Sam2Model`` weights load through the explicit key map and give the same outputs.

A small random ``Sam2Model`` (transformers' own implementation) is saved as
``model.safetensors``, loaded by ``build_sam2`` with the matching small config, and its
image features and decoder outputs (points, mask input) are compared with transformers'.
"""

from __future__ import annotations

import pytest
import torch

from samlabel.sam.errors import CheckpointError
from samlabel.sam.modeling.sam2 import build_sam2
from samlabel.sam.modeling.sam2.hf_mapping import hf_to_official, is_hf_sam2_state_dict

transformers = pytest.importorskip("transformers", reason="transformers is not installed")


def _small_hf_model(sam2_helpers):
    try:
        from transformers import Sam2Config, Sam2Model
        from transformers.models.sam2.configuration_sam2 import (
            Sam2HieraDetConfig,
            Sam2MaskDecoderConfig,
            Sam2PromptEncoderConfig,
            Sam2VisionConfig,
        )
    except ImportError:
        pytest.skip(f"transformers {transformers.__version__} has no Sam2Model")
    backbone = Sam2HieraDetConfig(hidden_size=16, num_attention_heads=2, blocks_per_stage=[1, 2, 3, 1],
                                  embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[2, 4, 8, 16],
                                  global_attention_blocks=[4], window_positional_embedding_background_size=[7, 7])
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[128, 64, 32, 16], fpn_hidden_size=32)
    config = Sam2Config(vision_config=vision, prompt_encoder_config=Sam2PromptEncoderConfig(hidden_size=32),
                        mask_decoder_config=Sam2MaskDecoderConfig(hidden_size=32))
    torch.manual_seed(0)
    model = Sam2Model(config)
    sam2_helpers.perturb_(model, seed=1)
    with torch.no_grad():  # a converted checkpoint holds the same Fourier matrix twice
        model.prompt_encoder.shared_embedding.positional_embedding.copy_(model.shared_image_embedding.positional_embedding)
    return model.eval()


@pytest.fixture(scope="module")
def hf_pair(sam2_helpers, tmp_path_factory):
    from safetensors.torch import save_file

    hf = _small_hf_model(sam2_helpers)
    folder = tmp_path_factory.mktemp("hf_sam2")
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, str(folder / "model.safetensors"))
    ours = build_sam2(sam2_helpers.small_config(), checkpoint=folder / "model.safetensors")
    return hf, ours, folder


@pytest.fixture(scope="module")
def features(hf_pair):
    """(pixels, transformers' feature list, ours) for one random input, computed once."""
    hf, ours, _ = hf_pair
    x = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        return x, hf.get_image_embeddings(x), ours.image_features(x)


def test_every_hf_key_is_mapped_once(hf_pair):
    hf, ours, _ = hf_pair
    sd = hf.state_dict()
    assert is_hf_sam2_state_dict(sd)
    mapped = hf_to_official(sd)
    assert sorted(mapped) == sorted(ours.state_dict())
    assert ours.ignored_keys == []


def test_image_features_equal(features):
    _, theirs, feats = features  # theirs: [high-res 0, high-res 1, embedding]
    torch.testing.assert_close(feats["image_embed"], theirs[-1], atol=1e-4, rtol=0)
    for a, b in zip(feats["high_res_feats"], theirs[:-1]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize("with_mask", [False, True])
def test_decoder_outputs_equal(hf_pair, features, multimask, with_mask):
    hf, ours, _ = hf_pair
    _, emb, feats = features
    g = torch.Generator().manual_seed(3)
    points = torch.rand(1, 3, 2, generator=g) * 1024
    labels = torch.tensor([[1, 0, 1]], dtype=torch.int)
    mask = torch.randn(1, 1, 256, 256, generator=g) if with_mask else None
    with torch.no_grad():
        out = hf(image_embeddings=emb, input_points=points[:, None], input_labels=labels[:, None],
                 input_masks=mask, multimask_output=multimask)
        sparse, dense = ours.sam_prompt_encoder(points=(points, labels), boxes=None, masks=mask)
        masks, iou, _, obj = ours.sam_mask_decoder(feats["image_embed"], ours.sam_prompt_encoder.get_dense_pe(), sparse, dense,
                                                   multimask_output=multimask, repeat_image=False,
                                                   high_res_features=feats["high_res_feats"])
    torch.testing.assert_close(masks, out.pred_masks[:, 0], atol=1e-3, rtol=0)
    torch.testing.assert_close(iou, out.iou_scores[:, 0], atol=1e-4, rtol=0)
    torch.testing.assert_close(obj, out.object_score_logits[:, 0], atol=1e-4, rtol=0)


def test_differing_duplicate_fourier_matrix_is_refused(hf_pair, sam2_helpers, tmp_path):
    from safetensors.torch import save_file

    hf, _, _ = hf_pair
    sd = {k: v.clone().contiguous() for k, v in hf.state_dict().items()}
    sd["prompt_encoder.shared_embedding.positional_embedding"] += 1.0
    path = tmp_path / "model.safetensors"
    save_file(sd, str(path))
    with pytest.raises(CheckpointError, match="shared_embedding"):
        build_sam2(sam2_helpers.small_config(), checkpoint=path)


def test_missing_hf_key_names_file(hf_pair, sam2_helpers, tmp_path):
    from safetensors.torch import save_file

    hf, _, _ = hf_pair
    sd = {k: v.contiguous() for k, v in hf.state_dict().items() if k != "mask_decoder.conv_s1.weight"}
    path = tmp_path / "model.safetensors"
    save_file(sd, str(path))
    with pytest.raises(CheckpointError) as info:
        build_sam2(sam2_helpers.small_config(), checkpoint=path)
    assert str(path) in str(info.value) and "sam_mask_decoder.conv_s1.weight" in str(info.value)
