"""Fixtures for the MobileSAM (``vit_t``) tests.

The reference is the PyPI ``mobilesam-mirror`` package (module ``mobile_sam``, the official
MobileSAM code, which needs timm). Its model is built with seeded random weights; parameters
the official init leaves at 0 or 1 (attention biases, batch-norm scales and shifts, layer
norms, the zero-initialised last batch norm of every MBConv) and the batch-norm running
statistics are randomised too, so that every weight changes the outputs. Its whole
``state_dict`` is saved in the official format (``torch.save``) and loaded through
``samlabel.sam.build_sam("vit_t", checkpoint=path)``.
"""

from __future__ import annotations

import warnings

import pytest
import torch


def build_reference_vit_t(seed: int = 0) -> torch.nn.Module:
    """The official ``mobile_sam`` ``Sam`` for ``vit_t``, with random weights and BN statistics."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # timm deprecation / registry-overwrite warnings
        from mobile_sam import sam_model_registry

    torch.manual_seed(seed)
    ref = sam_model_registry["vit_t"]()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if name.endswith("attention_biases"):
                p.normal_(0.0, 1.0)  # large enough that a wrong offset table would show
            elif not p.any():
                p.normal_(0.0, 0.1 if name.endswith(".bn.weight") else 0.02)
            elif p.dim() == 1 and bool((p == 1).all()):  # norm scales
                p.add_(torch.randn_like(p) * 0.1)
        for name, b in ref.named_buffers():
            if name.endswith("running_mean"):
                b.normal_(0.0, 0.1)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)
    ref.eval()  # also refreshes TinyViT's cached attention biases (``ab``) from the new values
    return ref


def smooth_image(h: int, w: int, seed: int) -> torch.Tensor:
    """``(3, h, w)`` float pixels in [0, 255]: coarse colour blobs plus noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 12, 12, generator=g) * 255
    image = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")[0]
    return (image + torch.rand(3, h, w, generator=g) * 20).clamp(0, 255)


@pytest.fixture(scope="session")
def make_smooth_image():
    return smooth_image


@pytest.fixture(scope="session")
def reference_vit_t() -> torch.nn.Module:
    return build_reference_vit_t(seed=0)


@pytest.fixture(scope="session")
def reference_checkpoint(tmp_path_factory, reference_vit_t):
    """The reference's whole state dict saved as an official-format ``mobile_sam.pt``."""
    path = tmp_path_factory.mktemp("vit_t") / "mobile_sam.pt"
    torch.save(reference_vit_t.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def mobilesam_pair(reference_vit_t, reference_checkpoint):
    """(reference, ours, image, x, ref_emb, our_emb) on one full-size 1024x1024 input."""
    from samlabel.sam import build_sam

    ref = reference_vit_t
    ours = build_sam("vit_t", checkpoint=reference_checkpoint)
    image = smooth_image(1024, 1024, seed=3)
    with torch.no_grad():
        x = ref.preprocess(image)[None]
        ref_emb = ref.image_encoder(x)
        our_emb = ours.image_encoder(ours.preprocess(image)[None])
    return ref, ours, image, x, ref_emb, our_emb
