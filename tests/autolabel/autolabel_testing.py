"""Helpers of the auto-label tests (imported by name: a test module cannot import a conftest
reliably): synthetic projects with rectangles, the model factory the CLI takes, JSON reading."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


FACTORY = "autolabel_small_model:build"


def structured_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A uint8 RGB image with a few flat discs and a little noise (as tests/sam/conftest.py's)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = 60 + 80 * (xx / w)
    img[..., 1] = 90 + 60 * (yy / h)
    img[..., 2] = 120
    for _ in range(6):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        r = rng.integers(min(h, w) // 10, min(h, w) // 4)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def random_boxes(h: int, w: int, n: int, seed: int) -> list[tuple[float, float, float, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        bw, bh = int(rng.integers(12, w // 2)), int(rng.integers(12, h // 2))
        x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        out.append((float(x0), float(y0), float(x0 + bw), float(y0 + bh)))
    return out


def make_project(root: Path, n_images: int = 3, boxes_per_image: int = 5, size=(96, 128), seed: int = 0,
                 human: bool = True) -> Path:
    """``root`` with ``img<i>.png`` and sidecars: ``boxes_per_image`` rectangles (labels
    ``a``/``b``, group ids, a flag) and, with ``human``, one polygon a person drew."""
    from PIL import Image

    from samlabel.annotations import ImageAnnotation, Project, Shape

    root.mkdir(parents=True, exist_ok=True)
    h, w = size
    for i in range(n_images):
        Image.fromarray(structured_image(h, w, seed=seed + i)).save(root / f"img{i}.png")
    project = Project(root)
    for i, image in enumerate(project.images):
        shapes = [Shape.rectangle("a" if k % 2 else "b", (x0, y0), (x1, y1), group_id=k if k % 3 == 0 else None,
                                  flags={"checked": bool(k % 2)}, description=f"box {k}")
                  for k, (x0, y0, x1, y1) in enumerate(random_boxes(h, w, boxes_per_image, seed * 100 + i))]
        if human:
            shapes.insert(1, Shape.polygon("person", [[2, 2], [20, 2], [20, 20], [2, 20]]))
        project.save(ImageAnnotation(image_path=image.name, image_height=h, image_width=w, shapes=tuple(shapes)), image)
    return root


def read_json(path: Path) -> dict:
    import json

    return json.loads(path.read_text(encoding="utf-8"))
