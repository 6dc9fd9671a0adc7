"""Small random models and images shared by the precision and OpenVINO-engine tests.

Imported by path (``sys.path``), as ``tests/video/video_testing.py`` is; not a test module.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def noise_image(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    """A smooth random ``(h, w, 3)`` uint8 image with a little noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3)).astype(np.float32)
    big = torch.nn.functional.interpolate(torch.from_numpy(small).permute(2, 0, 1)[None], size=(h, w),
                                          mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
    return np.clip(big + rng.normal(0, 6, big.shape), 0, 255).astype(np.uint8)


def tiny_sam_model():
    """SAM 1 ``test_tiny`` (a narrow ViT at 1024 px) with position tables off zero."""
    from samlabel.sam import build_sam

    torch.manual_seed(0)
    model = build_sam("test_tiny").eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "pos" in name:
                p.normal_(0, 0.02)
    return model


def small_sam2_model():
    """A small SAM 2 (Hiera 16 wide, stages 1-2-3-1) with every parameter off its init constant."""
    from samlabel.sam.modeling.sam2.build import build_sam2
    from samlabel.sam.modeling.sam2.config import FpnConfig, HieraConfig, Sam2Config

    trunk = HieraConfig(embed_dim=16, num_heads=2, stages=(1, 2, 3, 1), global_att_blocks=(4,),
                        window_pos_embed_bkg_spatial_size=(7, 7))
    torch.manual_seed(0)
    model = build_sam2(Sam2Config(name="test_small", trunk=trunk, neck=FpnConfig(d_model=32)))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # off the init constants (zeros / ones), as the SAM 2 tests do
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    return model.eval()


class TinyVitHolder(nn.Module):
    """A small TinyViT (MobileSAM's encoder class, 256 px) as ``image_encoder``, seeded."""

    def __init__(self) -> None:
        super().__init__()
        from samlabel.sam.modeling.sam1.tiny_vit import TinyViT

        torch.manual_seed(0)
        self.image_encoder = TinyViT(img_size=256, embed_dims=(16, 32, 40, 48), depths=(1, 1, 1, 1),
                                     num_heads=(1, 2, 2, 2), window_sizes=(7, 7, 7, 7))
        self.model_id = "tinyvit:abc"
