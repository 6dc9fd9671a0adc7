"""The display mask path agrees with the model layer's exact upscaling."""

import cv2
import numpy as np
import pytest

from samlabel.gui.mask_render import region_mask
from samlabel.sam.interactive import Prediction


def _prediction(H, W):
    side = 1024
    scale = side / max(H, W)
    input_size = (int(H * scale + 0.5), int(W * scale + 0.5))
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32) + 0.5
    # a smooth blob with a hole, inside the image part of the grid
    cx, cy = input_size[1] / 4 * 0.5, input_size[0] / 4 * 0.5
    r = np.hypot(xx - cx, yy - cy)
    logits = np.minimum(40 - r, r - 12).astype(np.float32)
    return Prediction(logits=logits[None].repeat(3, 0), scores=np.array([0.5, 0.9, 0.1], np.float32),
                      original_size=(H, W), input_size=input_size, input_side=side, threshold=0.0)


@pytest.mark.parametrize("region,out_size", [
    ((0, 0, 1920, 1080), (960, 540)),    # zoomed out: half resolution
    ((300, 100, 900, 700), (600, 600)),  # a window at 1:1
    ((1200, 500, 1300, 580), (400, 320)),  # zoomed in 4x, across the ring's edge
])
def test_region_mask_matches_prediction_mask(region, out_size):
    pred = _prediction(1080, 1920)
    exact = pred.mask(1, region=region, out_size=(out_size[1], out_size[0]))
    fast = region_mask(pred.logits[1], pred.original_size, pred.input_size, pred.input_side, region, out_size)
    assert fast.shape == exact.shape == (out_size[1], out_size[0])
    assert exact.any()
    assert not exact.all()
    iou = np.count_nonzero(fast & exact) / np.count_nonzero(fast | exact)
    assert iou > 0.97
    # differences stay on the outline (sub-pixel sampling), never a shifted or scaled mask
    # (within one original pixel, which is out/region screen pixels when zoomed in)
    k = 2 * int(np.ceil(out_size[0] / (region[2] - region[0]))) + 1
    edge = cv2.morphologyEx(exact.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((k, k), np.uint8)) > 0
    assert not np.any((fast != exact) & ~edge)


def test_remove_specks_keeps_objects_and_real_holes():
    from samlabel.gui.mask_render import remove_specks

    m = np.zeros((100, 100), bool)
    m[10:60, 10:60] = True
    m[30:40, 30:40] = False  # a real hole (100 px)
    m[20, 20] = False  # a pin-hole
    m[80, 80] = True  # a speck
    m[70:90, 5:25] = True  # a second object (400 px)
    out = remove_specks(m, min_fraction=0.01)  # limit: max(9, 25) px
    assert not out[80, 80] and out[20, 20]
    assert not out[35, 35] and out[75, 10]
    assert np.count_nonzero(out) == np.count_nonzero(m) - 1 + 1
