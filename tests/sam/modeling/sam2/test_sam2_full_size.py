"""Full-size SAM 2.1 releases against Meta's ``sam2``: one test per registered model.

Each builds the reference from the package's YAML with perturbed random weights, saves it
as an official ``{"model": ...}`` checkpoint, loads that through ``build_sam2(name, ...)``
and compares on one 4:3 image: the image embedding and the high-resolution features, then
a few prompts (low-res logits, scores, masks).

Each test's cost is almost all the two image embeddings (reference and ours). Measured on
the 2-core machine while it was shared with other jobs (load average 6-9), reference + ours
+ building and saving the checkpoint: tiny 45-52 s, small 57-60 s, base_plus 110-120 s,
large 165-245 s (a Hiera of 48 blocks; about 40-80 s per embedding). Prompts add about a
second each, so large keeps them too.
"""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest
import torch

from samlabel.sam.modeling.sam2 import build_sam2
from samlabel.sam.sam2.image_predictor import SAM2ImagePredictor

# large's two embeddings take 2-4 minutes on 2 cores, which CI's 30 minutes cannot spare: it runs
# with SAMLABEL_HEAVY_TESTS=1 (its keys and shapes are checked in CI by test_sam2_checkpoint.py)
_HEAVY = pytest.mark.skipif(os.environ.get("SAMLABEL_HEAVY_TESTS") != "1",
                            reason="full-size sam2.1_hiera_large: set SAMLABEL_HEAVY_TESTS=1 to run it (2-4 min)")
MODELS = ["sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus",
          pytest.param("sam2.1_hiera_large", marks=_HEAVY)]


@pytest.mark.slow
@pytest.mark.reference
@pytest.mark.parametrize("name", MODELS)
def test_full_size_equals_reference(sam2_helpers, tmp_path, name):
    ref = sam2_helpers.build_reference(sam2_helpers.REFERENCE_CONFIGS[name], seed=11)
    path = tmp_path / f"{name}.pt"
    sam2_helpers.save_official(ref, path)
    ours = build_sam2(name, checkpoint=path)
    path.unlink()
    assert ours.ignored_keys and all(k.split(".")[0] not in ("image_encoder", "sam_mask_decoder") for k in ours.ignored_keys)

    image = sam2_helpers.smooth_image(600, 800, seed=5)
    rp, op = sam2_helpers.reference_predictor(ref), SAM2ImagePredictor(ours)
    rp.set_image(image)
    op.set_image(image)
    figures = {"embed": (op._features["image_embed"] - rp._features["image_embed"]).abs().max().item()}
    assert op._features["image_embed"].shape == (1, 256, 64, 64)
    for i, (a, b) in enumerate(zip(op._features["high_res_feats"], rp._features["high_res_feats"])):
        assert a.shape == b.shape
        figures[f"high_res_{i}"] = (a - b).abs().max().item()
    torch.testing.assert_close(op._features["image_embed"], rp._features["image_embed"], atol=1e-4, rtol=0)
    for a, b in zip(op._features["high_res_feats"], rp._features["high_res_feats"]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)

    prompts = [
        dict(point_coords=np.array([[420, 280]]), point_labels=np.array([1]), multimask_output=True),
        dict(point_coords=np.array([[300, 200], [500, 400]]), point_labels=np.array([1, 0]),
             box=np.array([100, 80, 650, 520]), multimask_output=False),
    ]
    logits, scores, masks = 0.0, 0.0, 0.0
    for kwargs in prompts:
        r = rp.predict(**kwargs)
        o = op.predict(**kwargs)
        logits = max(logits, float(np.abs(o[2] - r[2]).max()))
        scores = max(scores, float(np.abs(o[1] - r[1]).max()))
        masks = max(masks, float((o[0] != r[0]).mean()))
        assert o[0].shape == r[0].shape
    print(f"\n{name}: max |diff| embed {figures['embed']:.2e}, high-res {figures['high_res_0']:.2e} / "
          f"{figures['high_res_1']:.2e}, logits {logits:.2e}, scores {scores:.2e}, mask pixels differing {masks:.2e}")
    assert logits <= 1e-3 and scores <= 1e-4 and masks <= 1e-3
    del ref, ours, rp, op
    gc.collect()
