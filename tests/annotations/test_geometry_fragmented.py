"""mask_to_polygons on fragmented masks (what a random-weight SAM gives), speck removal
before tracing, per-part tolerance fallback and exactness of the pixel-edge tracing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from shapely.geometry import Polygon

from samlabel.annotations import mask_tracing
from samlabel.annotations.geometry import mask_iou, mask_to_polygons, polygons_to_mask

H, W = 270, 480


def fragmented_mask(seed: int = 3, cell: int = 8, noise: float = 0.05) -> np.ndarray:
    """Thresholded low-res noise, upsampled like SAM's logits, plus pixel noise: hundreds of
    blobs and specks, ragged edges, holes and islands."""
    rng = np.random.default_rng(seed)
    low = rng.normal(size=(H // cell, W // cell)).astype(np.float32)
    up = cv2.resize(low, (W, H), interpolation=cv2.INTER_LINEAR)
    up += noise * rng.normal(size=(H, W)).astype(np.float32)
    return up > 0.6


def components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, areas) of the 8-connected components, computed independently of the code."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, stats[:, cv2.CC_STAT_AREA]


def despecked(mask: np.ndarray, min_area: float) -> np.ndarray:
    labels, areas = components(mask)
    keep = areas >= min_area
    keep[0] = False
    return keep[labels]


def test_fixture_is_really_fragmented():
    _, areas = components(fragmented_mask())
    assert len(areas) - 1 > 150  # components
    assert (areas[1:] < 4).sum() > 30  # specks below the default min_area


@pytest.mark.parametrize("tolerance", [1.0, 2.0])
def test_fragmented_mask_round_trip_iou_against_despecked_mask(tolerance):
    mask = fragmented_mask()
    polygons = mask_to_polygons(mask, tolerance=tolerance, min_area=4.0)
    expected = despecked(mask, 4.0)
    assert mask_iou(expected, polygons_to_mask(polygons, H, W)) >= 0.98
    # every kept component is there (make_valid may split one at a touching corner)
    _, areas = components(mask)
    assert len(polygons) >= int((areas[1:] >= 4).sum())
    for p in polygons:
        assert Polygon(p.exterior, p.holes).is_valid
        assert p.exterior.min() >= 0 and p.exterior[:, 0].max() <= W and p.exterior[:, 1].max() <= H


def test_fragmented_mask_without_simplification_is_pixel_exact():
    mask = fragmented_mask(seed=5)
    polygons = mask_to_polygons(mask, tolerance=0, min_area=1)
    assert np.array_equal(polygons_to_mask(polygons, H, W), mask)


def test_corner_touching_pixels_islands_and_pinholes_are_exact():
    rng = np.random.default_rng(0)
    mask = rng.random((40, 50)) < 0.5  # salt and pepper: diagonal contacts everywhere
    mask[10:30, 10:30] = True
    mask[14:26, 14:26] = False  # a hole...
    mask[18:22, 18:22] = True  # ...with an island in it
    polygons = mask_to_polygons(mask, tolerance=0, min_area=1)
    assert np.array_equal(polygons_to_mask(polygons, 40, 50), mask)
    assert all(Polygon(p.exterior, p.holes).is_valid for p in polygons)


def test_specks_are_dropped_before_tracing(monkeypatch):
    mask = np.zeros((60, 80), bool)
    mask[10:40, 10:40] = True  # kept
    mask[50, 50] = True  # 1 px speck
    mask[50:52, 60] = True  # 2 px speck
    mask[5, 60:63] = True  # 3 px speck
    mask[40, 40] = True  # 1 px touching the square at a corner: part of it, kept
    traced: list[np.ndarray] = []
    original = mask_tracing.edge_contours

    def spy(binary):
        traced.append(binary.copy())
        return original(binary)

    monkeypatch.setattr(mask_tracing, "edge_contours", spy)
    polygons = mask_to_polygons(mask, tolerance=0, min_area=4)
    assert len(traced) == 1
    _, areas = components(traced[0])
    assert len(areas) == 2 and areas[1] == 30 * 30 + 1  # only the square (+ its corner pixel) is traced
    assert len(polygons) >= 1
    back = polygons_to_mask(polygons, 60, 80)
    assert back[10:40, 10:40].all() and back[40, 40]
    assert back.sum() == 30 * 30 + 1


def test_small_holes_dropped_large_holes_kept():
    mask = np.zeros((60, 60), bool)
    mask[5:55, 5:55] = True
    mask[10, 10] = False  # 1 px pin-hole: filled
    mask[20:30, 20:30] = False  # 100 px hole: kept
    polygons = mask_to_polygons(mask, min_area=4)
    assert len(polygons) == 1 and len(polygons[0].holes) == 1
    expected = mask.copy()
    expected[10, 10] = True
    assert mask_iou(expected, polygons_to_mask(polygons, 60, 60)) >= 0.99


def test_only_failing_parts_fall_back_to_a_smaller_tolerance():
    yy, xx = np.mgrid[:200, :300]
    disc = (xx - 80) ** 2 + (yy - 100) ** 2 <= 60**2
    line = (np.abs((yy - 20) - (xx - 160) * 0.6) <= 0.5) & (xx > 160) & (xx < 290)  # 1-2 px wide
    mask = disc | line
    polygons = mask_to_polygons(mask, tolerance=2.0)
    assert len(polygons) == 2
    assert mask_iou(mask, polygons_to_mask(polygons, 200, 300)) >= 0.98
    assert mask_iou(line, polygons_to_mask(polygons[1:], 200, 300)) >= 0.98
    # each part got the tolerance it needs on its own: the thin line did not drag the disc down
    (disc_alone,) = mask_to_polygons(disc, tolerance=2.0)
    assert polygons[0] == disc_alone
    assert len(disc_alone.exterior) < len(mask_to_polygons(disc, tolerance=0)[0].exterior) / 2
    (line_alone,) = mask_to_polygons(line, tolerance=2.0)
    assert polygons[1] == line_alone
    assert len(line_alone.exterior) > len(mask_to_polygons(line, tolerance=2.0, min_iou=0.0)[0].exterior)


def test_rings_are_oriented_like_shapely_orient():
    yy, xx = np.mgrid[:80, :80]
    ring = ((xx - 40) ** 2 + (yy - 40) ** 2 <= 30**2) & ((xx - 40) ** 2 + (yy - 40) ** 2 > 10**2)
    (part,) = mask_to_polygons(ring)
    assert Polygon(part.exterior).exterior.is_ccw
    assert not Polygon(part.holes[0]).exterior.is_ccw


def test_parts_come_largest_first():
    mask = np.zeros((50, 90), bool)
    mask[5:10, 5:10] = True
    mask[20:45, 20:45] = True
    mask[5:20, 60:75] = True
    areas = [Polygon(p.exterior, p.holes).area for p in mask_to_polygons(mask)]
    assert areas == sorted(areas, reverse=True) and len(areas) == 3
