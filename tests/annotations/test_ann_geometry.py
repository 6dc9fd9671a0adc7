"""Mask <-> polygon geometry: the issue's IoU >= 0.98 round trips and the pixel convention."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samlabel.annotations import (
    GeometryError,
    PolygonWithHoles,
    mask_iou,
    mask_to_polygons,
    mask_to_rle,
    polygons_to_mask,
    repair_polygons,
    rle_area,
    rle_bbox,
    rle_to_mask,
)

H, W = 160, 200
YY, XX = np.mgrid[:H, :W]


def disc(cx, cy, r):
    return (XX - cx) ** 2 + (YY - cy) ** 2 <= r**2


def diagonal_bar(width):
    # distance from the line y - 20 = 0.7 (x - 20)
    d = np.abs((YY - 20) - (XX - 20) * 0.7) / np.sqrt(1 + 0.49)
    return (d <= width / 2) & (XX > 15) & (XX < 185)


SHAPES = {
    "disc": disc(90, 80, 40),
    "ring": disc(90, 80, 50) & ~disc(90, 80, 22),
    "two_blobs": disc(40, 40, 18) | (((XX - 150) / 30.0) ** 2 + ((YY - 120) / 20.0) ** 2 <= 1),
    "thin_diagonal_bar": diagonal_bar(3.0),
    "one_pixel_diagonal": diagonal_bar(1.2),
    "touching_border": disc(0, 60, 55) | ((YY >= H - 10) & (XX > 120)),
    "small_disc": disc(100, 80, 6),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("tolerance", [1.0, 2.0])
def test_mask_polygon_mask_round_trip_iou(name, tolerance):
    mask = SHAPES[name]
    polygons = mask_to_polygons(mask, tolerance=tolerance)
    back = polygons_to_mask(polygons, H, W)
    assert mask_iou(mask, back) >= 0.98, name


def test_holes_and_parts_are_kept():
    polygons = mask_to_polygons(SHAPES["ring"])
    assert len(polygons) == 1 and len(polygons[0].holes) == 1
    assert len(mask_to_polygons(SHAPES["two_blobs"])) == 2
    # an island inside a hole is its own part and survives rasterisation
    island = SHAPES["ring"] | disc(90, 80, 8)
    polys = mask_to_polygons(island)
    assert len(polys) == 2
    assert mask_iou(island, polygons_to_mask(polys, H, W)) >= 0.98


def test_no_simplification_is_pixel_exact():
    for name, mask in SHAPES.items():
        back = polygons_to_mask(mask_to_polygons(mask, tolerance=0, min_area=0.5), H, W)
        assert np.array_equal(back, mask), name


def test_simplification_reduces_vertices():
    exact = mask_to_polygons(SHAPES["disc"], tolerance=0)
    simple = mask_to_polygons(SHAPES["disc"], tolerance=1.0)
    assert len(simple[0].exterior) < len(exact[0].exterior) / 2


def test_specks_and_pinholes_dropped():
    mask = disc(90, 80, 30).copy()
    mask[5, 5] = True  # a one-pixel speck
    mask[80, 90] = False  # a one-pixel pin-hole
    polys = mask_to_polygons(mask, min_area=4.0)
    assert len(polys) == 1 and polys[0].holes == ()
    assert mask_to_polygons(np.zeros((10, 10), bool)) == ()


def test_pixel_edge_convention_matches_pycocotools():
    """A polygon around pixels [10, 20) covers exactly those pixels, like COCO."""
    square = PolygonWithHoles([[10, 10], [20, 10], [20, 20], [10, 20]])
    mask = polygons_to_mask([square], 30, 30)
    assert mask.sum() == 100 and mask[10:20, 10:20].all()
    polys = mask_to_polygons(mask, tolerance=0)
    assert np.allclose(sorted(map(tuple, polys[0].exterior)), sorted([(10, 10), (20, 10), (20, 20), (10, 20)]))
    # polygons that leave the image are clipped, not wrapped
    big = PolygonWithHoles([[-5, -5], [50, -5], [50, 8], [-5, 8]])
    assert polygons_to_mask([big], 30, 30).sum() == 8 * 30


def test_rle_helpers_agree_with_pycocotools():
    mask = SHAPES["ring"]
    rle = mask_to_rle(mask)
    assert isinstance(rle["counts"], str) and rle["size"] == [H, W]
    assert np.array_equal(rle_to_mask(rle), mask)
    assert rle_area(rle) == int(mask.sum())
    ys, xs = np.nonzero(mask)
    assert rle_bbox(rle) == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    coco = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert coco["counts"].decode() == rle["counts"]


def test_repair_self_intersecting_polygon():
    bowtie = PolygonWithHoles([[0, 0], [10, 10], [10, 0], [0, 10]])
    fixed, repaired = repair_polygons([bowtie])
    assert repaired and len(fixed) == 2
    assert sum(p.to_shapely().area for p in fixed) == pytest.approx(50.0)
    square = PolygonWithHoles([[0, 0], [10, 0], [10, 10], [0, 10]])
    same, repaired = repair_polygons([square])
    assert not repaired and same[0] == square
    with pytest.raises(GeometryError):
        repair_polygons([PolygonWithHoles([[0, 0], [5, 5], [10, 10]])])


def test_polygon_rings_are_read_only_and_validated():
    poly = PolygonWithHoles([[0, 0], [1, 0], [1, 1]])
    with pytest.raises(ValueError):
        poly.exterior[0, 0] = 5
    with pytest.raises(GeometryError):
        PolygonWithHoles([[0, 0, 0]])
    with pytest.raises(GeometryError):
        PolygonWithHoles([[0, 0], [np.nan, 1], [1, 1]])


def test_polygons_far_outside_the_image_rasterise_safely():
    """Vertices far past the border are cut first (pycocotools crashed the process at 1e300)."""
    from samlabel.annotations import PolygonWithHoles, polygons_to_mask

    covering = PolygonWithHoles([[-50, -50], [100, -50], [100, 100], [-50, 100]], ([[5, 5], [10, 5], [10, 10], [5, 10]],))
    mask = polygons_to_mask([covering], 20, 30)
    expected = np.ones((20, 30), bool)
    expected[5:10, 5:10] = False
    assert np.array_equal(mask, expected)
    # in a child process: before the fix this killed the interpreter (SIGSEGV)
    code = (
        "from samlabel.annotations import PolygonWithHoles, polygons_to_mask\n"
        "wild = PolygonWithHoles([[0, 0], [1e300, 0], [0, 1e300]])\n"
        "assert polygons_to_mask([wild], 20, 30).shape == (20, 30)\n"
    )
    child = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    triangle = PolygonWithHoles([[0, 0], [1e9, 0], [0, 1e9]])  # covers the whole image
    assert polygons_to_mask([triangle], 20, 30).all()
