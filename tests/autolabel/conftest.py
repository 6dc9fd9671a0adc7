"""Fixtures for the auto-label tests: a small random SAM (Meta's and ours, same weights) and the
model spec the CLI takes; the plain helpers are in ``autolabel_testing``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import autolabel_small_model as small  # noqa: E402
from autolabel_testing import FACTORY, make_project, read_json  # noqa: E402,F401


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> str:
    """Path of the small model's random weights in Meta's ``.pth`` format."""
    return small.save_weights(tmp_path_factory.mktemp("weights") / "small_random.pth")


@pytest.fixture(scope="session")
def model_spec(weights):
    from samlabel.autolabel.spec import ModelSpec

    return ModelSpec(checkpoint=weights, device="cpu", factory=FACTORY)


@pytest.fixture(scope="session")
def runner(model_spec):
    """A :class:`Runner` on the small model, built once for the session."""
    from samlabel.autolabel.model import Runner
    from samlabel.autolabel.spec import AutolabelSpec

    return Runner.for_spec(AutolabelSpec(".", model=model_spec))


@pytest.fixture
def one_thread():
    """torch on one thread for this test (as each Ray actor with one CPU), restored after:
    the thread count changes float rounding, so engines compared must use the same."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def reference_sam():
    return small.reference_sam()
