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


def _bilinear_reference(logits, pred, region, out_size):
    """The display mask computed directly in float64: sample the low-res bilinear surface at
    each screen pixel's centre (clamped at the borders), as ``region_mask``'s docstring says."""
    (H, W), (ih, iw), side = pred.original_size, pred.input_size, logits.shape[-1]
    x0, y0, x1, y1 = region
    ow, oh = out_size
    xs = (x0 + (np.arange(ow) + 0.5) * (x1 - x0) / ow) * iw / W * side / pred.input_side - 0.5
    ys = (y0 + (np.arange(oh) + 0.5) * (y1 - y0) / oh) * ih / H * side / pred.input_side - 0.5

    def taps(c):
        c = np.clip(c, 0, side - 1)
        i0 = np.minimum(np.floor(c).astype(int), side - 2)
        return i0, c - i0

    (r0, fy), (c0, fx) = taps(ys), taps(xs)
    lg = logits.astype(np.float64)
    top = lg[r0][:, c0] * (1 - fx) + lg[r0][:, c0 + 1] * fx
    bottom = lg[r0 + 1][:, c0] * (1 - fx) + lg[r0 + 1][:, c0 + 1] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]


def test_region_mask_whole_image_samples_the_bilinear_surface_exactly():
    pred = _prediction(1080, 1920)
    for out_size in [(1920, 1080), (1100, 620), (2500, 1400)]:
        fast = region_mask(pred.logits[1], pred.original_size, pred.input_size, pred.input_side,
                           (0, 0, 1920, 1080), out_size)
        ref = _bilinear_reference(pred.logits[1], pred, (0, 0, 1920, 1080), out_size)
        sure = np.abs(ref) > 1e-3  # pixels whose sign float rounding cannot change
        assert fast.shape == ref.shape
        assert np.array_equal(fast[sure], ref[sure] > 0)


def test_region_mask_any_view_stays_within_half_a_screen_pixel_of_the_surface():
    """Random regions and zooms (in and out): every pixel that differs from the exact bilinear
    surface lies within half a screen pixel (a crop starts on a whole low-res pixel)."""
    pred = _prediction(1080, 1920)
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(60):
        x0, x1 = sorted(rng.integers(0, 1921, 2))
        y0, y1 = sorted(rng.integers(0, 1081, 2))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        out_size = (int(rng.integers(20, 1600)), int(rng.integers(20, 1000)))
        region = (int(x0), int(y0), int(x1), int(y1))
        fast = region_mask(pred.logits[1], pred.original_size, pred.input_size, pred.input_side, region, out_size)
        # the surface sampled half a screen pixel either way (in both axes) brackets the result
        ow, oh = out_size
        dx, dy = 0.5 * (x1 - x0) / ow, 0.5 * (y1 - y0) / oh
        shifted = [_bilinear_reference(pred.logits[1], pred, (x0 + sx * dx, y0 + sy * dy, x1 + sx * dx, y1 + sy * dy),
                                       out_size) > 0 for sx in (-1, 0, 1) for sy in (-1, 0, 1)]
        lo, hi = np.logical_and.reduce(shifted), np.logical_or.reduce(shifted)
        assert not np.any(fast & ~hi), region
        assert not np.any(~fast & lo), region
        checked += 1
    assert checked > 40


def test_remove_specks_keeps_objects_and_real_holes():
    from samlabel.annotations.mask_tracing import remove_specks

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


@pytest.mark.parametrize("seed", range(6))
def test_mask_bbox_is_the_box_of_the_true_pixels(seed):
    from samlabel.gui.mask_render import mask_bbox

    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 40, size=2)
    mask = np.zeros((h, w), bool)
    if seed:  # seed 0: empty
        for _ in range(seed):
            mask[rng.integers(0, h), rng.integers(0, w)] = True
    got = mask_bbox(mask)
    if not mask.any():
        assert got is None
        return
    rows, cols = np.nonzero(mask)
    assert got == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
