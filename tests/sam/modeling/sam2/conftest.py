"""Fixtures for the SAM 2 tests: Meta's ``sam2`` package is the reference.

Reference models are built with ``sam2.build_sam.build_sam2`` from the package's own YAML
configs (for the small logic tests with hydra overrides that shrink the trunk and the
neck), with seeded random weights perturbed so that no parameter keeps an init constant
(zeros, ones); their whole ``state_dict`` is saved as an official-format
``{"model": ...}`` file and loaded through ``samlabel``'s ``build_sam2``. Everything here
skips, with the reason, only when ``sam2`` (or hydra) cannot be imported.
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest
import torch

try:
    import sam2  # noqa: F401
    import sam2.build_sam  # noqa: F401  (hydra, iopath)

    _SAM2_PROBLEM = None
except Exception as exc:  # ImportError, or hydra failing to initialise
    _SAM2_PROBLEM = f"Meta's sam2 reference is not importable ({type(exc).__name__}: {exc}); pip install sam2==1.1.0"

# Meta's config files of the four SAM 2.1 releases, by our registry name.
REFERENCE_CONFIGS = {
    "sam2.1_hiera_tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_large": "configs/sam2.1/sam2.1_hiera_l.yaml",
    "sam2_hiera_tiny": "configs/sam2/sam2_hiera_t.yaml",
    "sam2_hiera_small": "configs/sam2/sam2_hiera_s.yaml",
    "sam2_hiera_base_plus": "configs/sam2/sam2_hiera_b+.yaml",
    "sam2_hiera_large": "configs/sam2/sam2_hiera_l.yaml",
}

# A small model (1024 px input, so the reference predictor works unchanged): Hiera of
# width 16 with 2 heads, stages (1, 2, 3, 1) with one global block, an FPN of width 32.
# The windows of stages 3 and 4 (14 and 7) do not divide 64 and 32, so padding is exercised.
SMALL_OVERRIDES = [
    "++model.image_encoder.trunk.embed_dim=16",
    "++model.image_encoder.trunk.num_heads=2",
    "++model.image_encoder.trunk.stages=[1,2,3,1]",
    "++model.image_encoder.trunk.global_att_blocks=[4]",
    "++model.image_encoder.neck.backbone_channel_list=[128,64,32,16]",
    "++model.image_encoder.neck.d_model=32",
    "++model.image_encoder.neck.position_encoding.num_pos_feats=32",
]


def small_config():
    """Our config equal to the reference tiny YAML with ``SMALL_OVERRIDES``."""
    from samlabel.sam.modeling.sam2.config import FpnConfig, HieraConfig, Sam2Config

    trunk = HieraConfig(embed_dim=16, num_heads=2, stages=(1, 2, 3, 1), global_att_blocks=(4,),
                        window_pos_embed_bkg_spatial_size=(7, 7))
    return Sam2Config(name="test_small", trunk=trunk, neck=FpnConfig(d_model=32))


@pytest.fixture(autouse=True)
def _needs_sam2():
    if _SAM2_PROBLEM is not None:
        pytest.skip(_SAM2_PROBLEM)


def perturb_(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Move every parameter off its init value (zeros, ones, truncated normals) in place."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.dim() == 1 and bool((p == 1).all()):  # norm scales
                p.add_(noise * 0.1)
            else:
                p.add_(noise * 0.02)
    return model


def build_reference(config_file: str, overrides=(), seed: int = 0) -> torch.nn.Module:
    """Meta's ``SAM2Base`` from ``config_file`` (CPU, eval), seeded and perturbed."""
    from sam2.build_sam import build_sam2 as ref_build_sam2

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ref_build_sam2(config_file, ckpt_path=None, device="cpu", hydra_overrides_extra=list(overrides))
    return perturb_(ref, seed + 1).eval()


def save_official(ref: torch.nn.Module, path) -> None:
    torch.save({"model": ref.state_dict()}, path)


def smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    """``(h, w, 3)`` uint8 RGB: coarse colour blobs plus noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 9, 12, generator=g) * 255
    image = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")[0]
    image = (image + torch.rand(3, h, w, generator=g) * 30).clamp(0, 255)
    return image.permute(1, 2, 0).round().to(torch.uint8).numpy()


def reference_predictor(ref, **kwargs):
    from sam2.sam2_image_predictor import SAM2ImagePredictor as RefPredictor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script deprecation in SAM2Transforms
        return RefPredictor(ref, **kwargs)


@pytest.fixture(scope="session")
def sam2_helpers():
    """The helpers above, for test modules (``--import-mode=importlib`` cannot import conftest)."""

    class H:
        pass

    h = H()
    h.build_reference = build_reference
    h.save_official = save_official
    h.smooth_image = smooth_image
    h.small_config = small_config
    h.reference_predictor = reference_predictor
    h.perturb_ = perturb_
    h.REFERENCE_CONFIGS = REFERENCE_CONFIGS
    h.SMALL_OVERRIDES = SMALL_OVERRIDES
    h.has_transformers = importlib.util.find_spec("transformers") is not None
    return h


@pytest.fixture(scope="session")
def small_pair(tmp_path_factory):
    """``(reference SAM2Base, our SAM2Image, checkpoint path)`` for the small config."""
    if _SAM2_PROBLEM is not None:
        pytest.skip(_SAM2_PROBLEM)
    from samlabel.sam.modeling.sam2 import build_sam2

    ref = build_reference("configs/sam2.1/sam2.1_hiera_t.yaml", SMALL_OVERRIDES, seed=0)
    path = tmp_path_factory.mktemp("sam2_small") / "sam2.1_small_random.pt"
    save_official(ref, path)
    ours = build_sam2(small_config(), checkpoint=path)
    return ref, ours, path
