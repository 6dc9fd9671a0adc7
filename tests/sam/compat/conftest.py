"""Fixtures for the compatibility adapters: a small ``transformers`` SAM with random weights,
saved as a Hugging Face snapshot folder, and the same weights loaded by samlabel."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def tiny_hf_config():
    """A ``transformers`` SamConfig: 2 encoder blocks of width 32, full 1024 geometry (64x64 grid)."""
    from transformers import SamConfig, SamMaskDecoderConfig, SamPromptEncoderConfig, SamVisionConfig

    vision = SamVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, global_attn_indexes=[1],
                             output_channels=32, window_size=14, mlp_dim=64, num_pos_feats=16)
    prompt = SamPromptEncoderConfig(hidden_size=32, mask_input_channels=8)
    decoder = SamMaskDecoderConfig(hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32)
    return SamConfig(vision_config=vision.to_dict(), prompt_encoder_config=prompt.to_dict(),
                     mask_decoder_config=decoder.to_dict())


@pytest.fixture(scope="session")
def hf_snapshot(tmp_path_factory):
    """``(folder, transformers SamModel)``: random weights large enough for logits of a few units."""
    from transformers import SamModel

    torch.manual_seed(0)
    model = SamModel(tiny_hf_config()).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            base = 1.0 if "layer_norm" in name and name.endswith("weight") else 0.0
            p.copy_(base + 0.25 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("hf") / "sam-tiny"
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="session")
def ours(hf_snapshot):
    """samlabel's ``SamModel`` adapter loaded from the snapshot folder."""
    from samlabel.sam.compat.hf_model import SamModel

    return SamModel.from_pretrained(hf_snapshot[0])


@pytest.fixture(scope="session")
def images():
    """Two RGB images of odd sizes with smooth structure (so masks have real regions)."""
    rng = np.random.default_rng(1)
    out = []
    for h, w in ((333, 517), (601, 403)):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([np.sin(xx / 37.0), np.cos(yy / 23.0), np.sin((xx + yy) / 51.0)], -1)
        img = (127.5 + 100 * base + rng.normal(0, 10, (h, w, 3))).clip(0, 255).astype(np.uint8)
        out.append(img)
    return out
