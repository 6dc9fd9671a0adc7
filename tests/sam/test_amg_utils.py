"""amg_utils against segment_anything.utils.amg and torchvision's NMS (reference only in tests)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from segment_anything.utils import amg as ref
from torchvision.ops import batched_nms as tv_batched_nms
from torchvision.ops import nms as tv_nms

from samlabel.sam import amg_utils as U


def _blobby_masks(n, h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        for _ in range(rng.integers(0, 4)):
            cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(1, max(2, min(h, w) // 3))
            masks[i] |= (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    masks[0] = False  # one empty mask
    masks[1, 0, 0] = True  # one touching the corner
    return masks


def test_point_grids_and_crop_boxes_match_reference():
    for n in (1, 8, 32):
        np.testing.assert_array_equal(U.build_point_grid(n), ref.build_point_grid(n))
    for a, b in zip(U.build_all_layer_point_grids(16, 2, 2), ref.build_all_layer_point_grids(16, 2, 2)):
        np.testing.assert_array_equal(a, b)
    for size in [(256, 320), (1080, 1920), (999, 333)]:
        for layers in (0, 1, 2):
            assert U.generate_crop_boxes(size, layers, 512 / 1500) == ref.generate_crop_boxes(size, layers, 512 / 1500)


def test_stability_and_boxes_match_reference():
    torch.manual_seed(0)
    logits = torch.randn(6, 40, 50) * 3
    np.testing.assert_allclose(
        U.calculate_stability_score(logits, 0.0, 1.0).numpy(), ref.calculate_stability_score(logits, 0.0, 1.0).numpy()
    )
    masks = torch.from_numpy(_blobby_masks(12, 37, 53, 1))
    assert torch.equal(U.batched_mask_to_box(masks), ref.batched_mask_to_box(masks))
    assert torch.equal(U.batched_mask_to_box(masks.reshape(3, 4, 37, 53)), ref.batched_mask_to_box(masks.reshape(3, 4, 37, 53)))
    boxes = ref.batched_mask_to_box(masks)
    crop, orig = [10, 5, 50, 37], [0, 0, 80, 60]
    assert torch.equal(U.is_box_near_crop_edge(boxes, crop, orig), ref.is_box_near_crop_edge(boxes, crop, orig))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_matches_torchvision_including_ties(seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(300, 2, generator=g) * 100
    wh = torch.rand(300, 2, generator=g) * 40 + 1
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(300, generator=g)
    tied = torch.randint(0, 4, (300,), generator=g).float()  # many ties, as the crop NMS has
    for s in (scores, tied):
        for thr in (0.3, 0.7, 0.99):
            assert torch.equal(U.nms(boxes, s, thr), tv_nms(boxes, s, thr))
    cats = torch.randint(0, 3, (300,), generator=g)
    assert torch.equal(U.batched_nms(boxes, scores, cats, 0.5), tv_batched_nms(boxes, scores, cats, 0.5))
    assert U.nms(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0


def test_rle_formats_round_trip_and_match_reference():
    masks = _blobby_masks(8, 23, 31, 3)
    ref_rles = ref.mask_to_rle_pytorch(torch.from_numpy(masks))
    coco = U.encode_coco_rle(masks)
    for m, r, c in zip(masks, ref_rles, coco):
        ours = U.mask_to_uncompressed_rle(m)
        assert ours == r
        np.testing.assert_array_equal(U.uncompressed_rle_to_mask(ours), m)
        assert U.uncompressed_rle_area(ours) == m.sum()
        assert c == ref.coco_encode_rle(r)
        np.testing.assert_array_equal(U.decode_coco_rle(c), m)
        np.testing.assert_array_equal(U.decode_coco_rle(r), m)


def test_remove_small_regions_matches_reference():
    masks = _blobby_masks(6, 64, 64, 4)
    masks[3, 20:22, 20:22] = ~masks[3, 20:22, 20:22]
    for m in masks:
        for mode in ("holes", "islands"):
            a, ca = U.remove_small_regions(m, 30, mode)
            b, cb = ref.remove_small_regions(m, 30, mode)
            assert ca == cb
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="holes"):
        U.remove_small_regions(masks[0], 3, "both")
