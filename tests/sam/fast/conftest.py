"""Shared fixtures of the fast-path tests."""

from __future__ import annotations

import pytest
import torch


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
