"""Speck removal is written once (mask_tracing.despeckle): holes first, then islands (counted
with their filled holes); background on the image border is never a hole."""

from __future__ import annotations

import numpy as np
import pytest

from samlabel.annotations import AnnotationError
from samlabel.annotations.mask_tracing import count_regions, despeckle, remove_specks, trace_shape


def _object_with_details() -> np.ndarray:
    m = np.zeros((80, 90), bool)
    m[0:50, 0:50] = True  # 2500 px: the limit is max(9, 0.01 * 2500) = 25 px
    m[0, 10:12] = False  # a 2 px notch on the image border: open to the outside, kept
    m[20:23, 20:23] = False  # a 9 px hole ...
    m[21, 21] = True  # ... with a 1 px speck inside: the hole is filled first
    m[60:65, 60:66] = True  # a 30 px island ...
    m[61:64, 61:63] = False  # ... with a 6 px hole: 24 px, 30 px once its hole is filled: kept
    m[70:74, 5:10] = True  # a 20 px island: dropped
    return m


def test_remove_specks_fills_holes_first_then_drops_islands():
    m = _object_with_details()
    out = remove_specks(m, min_fraction=0.01)
    assert not out[0, 10:12].any()  # border notch kept
    assert out[20:23, 20:23].all()  # hole and its speck filled
    assert out[60:65, 60:66].all()  # the holed island survives, filled
    assert not out[70:74, 5:10].any()  # the small island is gone
    expected = m.copy()
    expected[20:23, 20:23] = True
    expected[60:65, 60:66] = True
    expected[70:74, 5:10] = False
    np.testing.assert_array_equal(out, expected)


def test_remove_specks_is_despeckle_with_a_relative_limit():
    import cv2

    rng = np.random.default_rng(1)
    m = rng.random((60, 70)) > 0.6
    m[10:40, 10:50] = True
    largest = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)[2][1:, cv2.CC_STAT_AREA].max()
    assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any()  # the mask's box is the image
    kept, _ = despeckle(m.astype(np.uint8), max(9, int(0.01 * largest)))
    np.testing.assert_array_equal(remove_specks(m, min_fraction=0.01, min_pixels=9), kept.astype(bool))
    empty = remove_specks(np.zeros((5, 5), bool))
    assert empty.dtype == bool and empty.shape == (5, 5) and not empty.any()


def test_the_reference_generator_cleanup_is_deliberately_different():
    """samlabel.sam keeps Meta's remove_small_regions (the official generator's masks): it
    fills small background regions on the image border too."""
    from samlabel.sam.amg_utils import remove_small_regions

    m = _object_with_details()
    meta, changed = remove_small_regions(m, 25, mode="holes")
    assert changed and meta[0, 10:12].all()
    assert not remove_specks(m, min_fraction=0.01)[0, 10:12].any()


def test_count_regions_and_trace_shape():
    m = np.zeros((10, 12), bool)
    m[1:4, 1:5] = True
    m[6:9, 6:9] = True
    assert count_regions(m) == 2 and count_regions(np.zeros((3, 3), bool)) == 0
    shape = trace_shape(m[1:4, 1:5], (11, 21), "cat", tolerance=0)
    assert shape.label == "cat" and shape.kind == "polygon"
    assert shape.bbox() == (11.0, 21.0, 15.0, 24.0)
    with pytest.raises(AnnotationError):
        trace_shape(np.zeros((4, 4), bool), (0, 0), "cat", tolerance=1.0)


def _fragmented(seed: int) -> np.ndarray:
    """A mask like a random-weight SAM's: blobs, specks, pin-holes."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(30, 120, size=2))
    blobs = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), float(rng.uniform(0.7, 3))) > 0.5
    return blobs ^ (rng.random((h, w)) > 0.98)


def test_the_accept_path_removes_specks_once_with_the_same_polygons_as_removing_them_twice(monkeypatch):
    """remove_specks then trace_shape (the SAM tool's accept step) cleans once, and gives the
    polygons that cleaning a second time in mask_to_polygons (4 px) gave before."""
    import samlabel.annotations.mask_tracing as tracing
    from samlabel.annotations.geometry import mask_to_polygons

    real = tracing.despeckle
    cleanings = []
    monkeypatch.setattr(tracing, "despeckle", lambda b, a: (cleanings.append(a) if a > 1 else None, real(b, a))[1])
    for seed in range(12):
        mask = _fragmented(seed)
        cleanings.clear()
        clean = remove_specks(mask)
        for tolerance in (0.0, 1.0):
            shape = trace_shape(clean, (0, 0), "cat", tolerance)
            before = mask_to_polygons(clean, tolerance=tolerance)  # the second cleaning of old
            assert len(shape.polygons) == len(before), seed
            for mine, old in zip(shape.polygons, before):
                np.testing.assert_array_equal(mine.exterior, old.exterior)
                assert len(mine.holes) == len(old.holes)
                for a, b in zip(mine.holes, old.holes):
                    np.testing.assert_array_equal(a, b)
        assert len(cleanings) == 1 + 2, seed  # remove_specks once, + the two reference calls above


def test_the_accepted_shape_has_no_specks_and_keeps_small_real_regions():
    from samlabel.annotations.geometry import polygons_to_mask

    m = np.zeros((60, 70), bool)
    m[5:45, 5:45] = True  # 1600 px: the limit is 9 px
    m[10, 10] = False  # a pin-hole: filled
    m[20:23, 20:23] = False  # a 9 px hole: kept
    m[50:53, 50:53] = True  # a 9 px island: kept
    expected = m.copy()
    expected[10, 10] = True
    m[50, 5] = True  # 1 px, 4 px and 8 px specks: dropped
    m[55:57, 20:22] = True
    m[48:50, 60:64] = True
    shape = trace_shape(remove_specks(m), (0, 0), "cat", tolerance=0)  # exact: pixel for pixel
    assert len(shape.polygons) == 2
    np.testing.assert_array_equal(polygons_to_mask(shape.polygons, 60, 70), expected)
