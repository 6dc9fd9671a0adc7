"""Shared fixtures of the fast-path tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_models import small_sam2_model, tiny_sam_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny_sam():
    """SAM 1 ``test_tiny`` with random weights (``small_models.tiny_sam_model``), one per test module."""
    return tiny_sam_model()


@pytest.fixture(scope="module")
def small_sam2():
    """A small random SAM 2 (``small_models.small_sam2_model``), one per test module."""
    return small_sam2_model()


@pytest.fixture
def onednn_linear_calls(monkeypatch):
    """Every fused oneDNN linear call made while the test runs, as ``(kind, input dtype,
    post-op)``: ``("pointwise", dtype, "none" | "gelu")`` or ``("binary", dtype, "add")``; the
    calls themselves go through."""
    calls = []
    ops = torch.ops.mkldnn._linear_pointwise

    class Spy:
        def __call__(self, *a):
            calls.append(("pointwise", a[0].dtype, a[3]))
            return ops(*a)

        def binary(self, *a):
            calls.append(("binary", a[0].dtype, a[-1]))
            return ops.binary(*a)

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", Spy())
    return calls
