"""Fixtures of the video tests: a small random SAM 2.1 video predictor and tiny sequences.

The model is the video tests' small one (tests/sam/modeling/sam2/test_sam2_video_small.py):
Hiera of width 16, a 256 px input, memory modules of width 32 / 16, seeded random weights
(the object-score bias shifted so that objects are kept).
The sequences: video_testing.py.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from video_testing import make_sequence  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # small ops on a shared machine: one thread is fastest
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def small_predictor():
    from samlabel.sam.modeling.sam2.config import (
        SAM2_VIDEO_CONFIG_21,
        FpnConfig,
        HieraConfig,
        MemoryAttentionConfig,
        MemoryEncoderConfig,
        Sam2Config,
    )
    from samlabel.sam.sam2_video_predictor import build_sam_video_predictor

    trunk = HieraConfig(embed_dim=16, num_heads=2, stages=(1, 2, 3, 1), global_att_blocks=(4,),
                        window_pos_embed_bkg_spatial_size=(7, 7))
    config = Sam2Config(name="test_video_small", trunk=trunk, neck=FpnConfig(d_model=32), image_size=256)
    video = replace(SAM2_VIDEO_CONFIG_21, memory_attention=MemoryAttentionConfig(num_layers=2, dim_feedforward=64),
                    memory_encoder=MemoryEncoderConfig(out_dim=16))
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor = build_sam_video_predictor(config, video_config=video)
    # The random model scores every object about -0.1 on tracked frames (all "lost"); shifted, it
    # keeps them, with masks of a few hundred pixels, so the frames get shapes.
    with torch.no_grad():
        predictor.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.add_(1.0)
    return predictor


@pytest.fixture
def sequence(tmp_path):
    return make_sequence(tmp_path / "seq")
