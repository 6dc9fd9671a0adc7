"""Fixtures of the video tests: a small random SAM 2.1 video predictor and tiny sequences.

The model is the video tests' small one (tests/sam/modeling/sam2/test_sam2_video_small.py):
Hiera of width 16, a 256 px input, memory modules of width 32 / 16, seeded random weights
(the object-score bias shifted so that objects are kept).
The sequences: video_testing.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from video_testing import make_sequence, small_video_predictor  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # small ops on a shared machine: one thread is fastest
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def small_predictor():
    return small_video_predictor()


@pytest.fixture
def sequence(tmp_path):
    return make_sequence(tmp_path / "seq")
