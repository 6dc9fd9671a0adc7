"""The two image conversion rules, in one module on purpose: the API's for arrays (fixed
dtype scale, alpha dropped) and the app's for image files (16-bit stretched, alpha over white)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from samlabel.sam.image_input import pil_to_rgb_uint8, to_rgb_uint8


def test_16bit_api_scales_by_the_dtype_app_stretches_min_to_max():
    flat = np.full((2, 3), 257 * 100, np.uint16)
    ramp = np.array([[1000, 2000, 3000]], np.uint16)
    assert (to_rgb_uint8(flat) == 100).all()  # a constant array keeps its level
    assert (pil_to_rgb_uint8(Image.fromarray(flat)) == 0).all()  # nothing to stretch
    assert to_rgb_uint8(ramp)[0, :, 0].tolist() == [4, 8, 12]  # round(v * 255 / 65535)
    assert pil_to_rgb_uint8(Image.fromarray(ramp))[0, :, 0].tolist() == [0, 128, 255]


def test_alpha_api_drops_it_app_composites_over_white():
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[0, 0, 3] = 255  # opaque
    rgba[0, 1, 3] = 0  # transparent
    assert to_rgb_uint8(rgba).tolist() == [[[200, 0, 0], [200, 0, 0]]]
    assert pil_to_rgb_uint8(Image.fromarray(rgba, "RGBA")).tolist() == [[[200, 0, 0], [255, 255, 255]]]


def test_uint8_rgb_is_the_same_under_both_rules():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for out in (to_rgb_uint8(rgb), pil_to_rgb_uint8(Image.fromarray(rgb))):
        assert out.dtype == np.uint8 and out.flags.c_contiguous
        np.testing.assert_array_equal(out, rgb)


def test_importing_the_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, samlabel.sam.image_input; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
