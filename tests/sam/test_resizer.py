"""ImageResizer against the reference ResizeLongestSide and Sam.postprocess_masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from segment_anything.utils.transforms import ResizeLongestSide

from samlabel.sam.sam1.resizer import ImageResizer


@pytest.mark.parametrize("size", [(600, 900), (1000, 400), (37, 1023), (333, 333), (1500, 1200)])
def test_scale_image_uint8_is_bit_identical_to_reference(size):
    rng = np.random.default_rng(sum(size))
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    ref = ResizeLongestSide(1024).apply_image(image)
    ours = ImageResizer(1024).scale_image(image)
    assert ours.shape == ref.shape
    assert ours.dtype == np.uint8
    assert np.array_equal(ours, ref)


def test_scale_to_size_matches_reference_rounding():
    r = ImageResizer(1024)
    for h, w in [(600, 900), (1000, 400), (3, 5000), (767, 1023), (1080, 1920)]:
        assert r.scale_to_size((h, w)) == ResizeLongestSide.get_preprocess_shape(h, w, 1024)
    # Where the reference rounds a side to 0 (and then fails to resize), we keep 1 pixel.
    assert ResizeLongestSide.get_preprocess_shape(1, 5000, 1024) == (0, 1024)
    assert r.scale_to_size((1, 5000)) == (1, 1024)
    assert r.scale_to_size((5000, 1)) == (1024, 1)


def test_layouts_numpy_torch_hwc_chw_3d_4d_agree():
    rng = np.random.default_rng(0)
    hwc = rng.random((60, 90, 3), dtype=np.float32)
    r = ImageResizer(32)
    a = r.scale_image(hwc)
    assert a.shape == (21, 32, 3)
    chw = torch.from_numpy(hwc).permute(2, 0, 1)
    b = r.scale_image(chw)
    assert isinstance(b, torch.Tensor) and b.shape == (3, 21, 32)
    np.testing.assert_allclose(b.permute(1, 2, 0).numpy(), a, atol=1e-6)
    c = r.scale_image(torch.from_numpy(hwc)[None].permute(0, 3, 1, 2))
    assert c.shape == (1, 3, 21, 32)
    d = r.scale_image(np.stack([hwc, hwc]))
    assert d.shape == (2, 21, 32, 3)
    np.testing.assert_allclose(d[1], a, atol=1e-6)
    # unscale returns to the original size; a smooth image comes back close to itself
    smooth = np.broadcast_to(np.linspace(0, 1, 90, dtype=np.float32)[None, :, None], (60, 90, 3)).copy()
    back = r.unscale_image(r.pad_image(r.scale_image(smooth)), (60, 90))
    assert back.shape == (60, 90, 3)
    assert np.abs(back - smooth)[:, 3:-3].max() < 0.02


def test_pad_image_bottom_right_zeros_and_too_big_refused():
    r = ImageResizer(8)
    im = np.ones((5, 8, 3), np.uint8)
    p = r.pad_image(im)
    assert p.shape == (8, 8, 3) and p[:5].min() == 1 and p[5:].max() == 0
    t = r.pad_image(torch.ones(1, 3, 8, 6))
    assert t.shape == (1, 3, 8, 8) and t[..., 6:].abs().max() == 0 and t[..., :6].min() == 1
    with pytest.raises(ValueError, match="larger than target_length"):
        r.pad_image(np.ones((9, 8, 3)))
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        r.scale_image(np.ones((5, 5)))


def test_points_and_boxes_match_reference():
    ref = ResizeLongestSide(1024)
    r = ImageResizer(1024)
    pts = np.array([[10.5, 20.0], [899.0, 599.0]])
    for size in [(600, 900), (1000, 400)]:
        np.testing.assert_array_equal(r.scale_points(pts, size), ref.apply_coords(pts, size))
        boxes = np.array([[1, 2, 300, 400], [5, 6, 7, 8]], float)
        np.testing.assert_array_equal(r.scale_boxes(boxes, size), ref.apply_boxes(boxes, size))
        tp = torch.tensor(pts)
        assert torch.equal(r.scale_points(tp, size), ref.apply_coords_torch(tp, size))
        np.testing.assert_allclose(r.unscale_points(r.scale_points(pts, size), size), pts, atol=1e-9)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        r.scale_points(np.zeros((3, 3)), (10, 10))


def test_postprocess_mask_matches_reference_formula():
    rng = np.random.default_rng(1)
    low = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    size, target = (150, 100), 256
    r = ImageResizer(target)
    t = torch.from_numpy(low)
    ref = F.interpolate(t, (target, target), mode="bilinear", align_corners=False)
    h, w = r.scale_to_size(size)
    ref = F.interpolate(ref[..., :h, :w], size, mode="bilinear", align_corners=False).numpy()
    bound = r.for_image(size)
    ours = bound.postprocess_mask(low)  # the signature: postprocess_mask(mask, threshold=None)
    assert ours.shape == (2, 3, 150, 100)
    np.testing.assert_array_equal(ours, ref)
    binary = bound.postprocess_mask(low[0, 0], threshold=0.0)
    assert binary.dtype == np.bool_ and np.array_equal(binary, ref[0, 0] > 0)
    np.testing.assert_array_equal(r.postprocess_mask(low, original_size=size), ref)  # unbound, size given


def test_postprocess_mask_without_a_source_size_says_how_to_give_one():
    with pytest.raises(ValueError, match="for_image"):
        ImageResizer(256).postprocess_mask(np.zeros((64, 64), np.float32))
    assert ImageResizer(256).for_image((150, 100)).original_size == (150, 100)
    with pytest.raises(ValueError):
        ImageResizer(256).for_image((0, 100))


def test_pad_only_keeps_scale():
    r = ImageResizer(64, pad_only=True)
    im = np.zeros((40, 50, 3), np.uint8)
    assert r.scale_image(im) is im
    assert r.scale_to_size((40, 50)) == (40, 50)
    np.testing.assert_array_equal(r.scale_points(np.array([[3.0, 4.0]]), (40, 50)), [[3.0, 4.0]])
    assert r.postprocess_mask(np.zeros((16, 16), np.float32), original_size=(40, 50)).shape == (40, 50)
    with pytest.raises(TypeError, match="threshold"):
        r.postprocess_mask(np.zeros((16, 16), np.float32), (40, 50))  # a size where the threshold goes
    with pytest.raises(ValueError, match="exceeds target_length"):
        r.scale_image(np.zeros((65, 10, 3), np.uint8))


def test_official_transform_spellings_match_reference():
    ref = ResizeLongestSide(1024)
    r = ImageResizer(1024)
    image = np.random.default_rng(3).integers(0, 256, (300, 700, 3), dtype=np.uint8)
    assert np.array_equal(r.apply_image(image), ref.apply_image(image))
    pts = np.array([[[3.0, 4.0], [650.0, 290.0]]])
    np.testing.assert_array_equal(r.apply_coords(pts, (300, 700)), ref.apply_coords(pts, (300, 700)))
    boxes = torch.tensor([[1.0, 2.0, 600.0, 250.0]])
    assert torch.equal(r.apply_boxes_torch(boxes, (300, 700)), ref.apply_boxes_torch(boxes, (300, 700)))
    assert r.get_preprocess_shape(300, 700, 1024) == ref.get_preprocess_shape(300, 700, 1024)
