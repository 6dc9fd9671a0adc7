"""A small project with known instance masks, shared by the format tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations import ImageAnnotation, Project, Shape

H, W = 120, 160
YY, XX = np.mgrid[:H, :W]


def disc(cx, cy, r):
    return (XX - cx) ** 2 + (YY - cy) ** 2 <= r**2


@dataclass
class Expected:
    """One instance as the formats should reproduce it (mask built analytically)."""

    label: str
    group_id: int | None
    mask: np.ndarray
    kind: str


def _image_zero():
    ring = disc(40, 45, 30) & ~disc(40, 45, 12)
    blobs = disc(115, 20, 12) | disc(140, 45, 10)
    person = (XX >= 75) & (XX < 100) & (YY >= 80) & (YY < 110)
    tree_a, tree_b = disc(125, 95, 9), disc(145, 105, 7)
    shapes = [
        Shape.polygon_from_mask("car", ring, group_id=5),
        Shape.polygon_from_mask("dog", blobs),
        Shape.from_mask("person", person, group_id=2),
        Shape.rectangle("bus", (5, 85), (40, 115)),
        Shape.point("cat", (3, 3)),
        Shape.polygon_from_mask("tree", tree_a, group_id=7),
        Shape.polygon_from_mask("tree", tree_b, group_id=7),
    ]
    bus = (XX >= 5) & (XX < 40) & (YY >= 85) & (YY < 115)
    expected = [
        Expected("car", 5, ring, "polygon"),
        Expected("dog", None, blobs, "polygon"),
        Expected("person", 2, person, "mask"),
        Expected("bus", None, bus, "rectangle"),
        Expected("tree", 7, tree_a | tree_b, "polygon"),
    ]
    return shapes, expected


def _image_one():
    d = np.abs((YY - 10) - (XX - 10) * 0.6) / np.sqrt(1 + 0.36)
    bar = (d <= 1.6) & (XX > 8) & (XX < 150)
    border = disc(0, 90, 28) | ((YY >= H - 6) & (XX > 100))
    shapes = [Shape.polygon_from_mask("car", bar, group_id=1), Shape.polygon_from_mask("dog", border, group_id=3)]
    return shapes, [Expected("car", 1, bar, "polygon"), Expected("dog", 3, border, "polygon")]


@dataclass
class SampleProject:
    root: Path
    expected: dict[str, list[Expected]]  # by image stem
    labels: list[str]


@pytest.fixture
def sample_project(tmp_path) -> SampleProject:
    root = tmp_path / "project"
    root.mkdir()
    rng = np.random.default_rng(0)
    expected = {}
    for name, (shapes, exp) in (("img0.png", _image_zero()), ("img1.jpg", _image_one())):
        Image.fromarray((rng.random((H, W, 3)) * 255).astype(np.uint8)).save(root / name)
        Project(root).save(ImageAnnotation(name, H, W, tuple(shapes)))
        expected[Path(name).stem] = exp
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(root / "img2.png")  # not annotated yet
    expected["img2"] = []
    return SampleProject(root, expected, ["car", "dog", "person", "bus", "cat", "tree"])
