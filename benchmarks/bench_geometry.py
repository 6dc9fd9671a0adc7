"""Time ``mask_to_polygons`` on 1920x1080 masks like the GUI accepts (run by hand).

    python3 benchmarks/bench_geometry.py [--reps N] [--profile NAME]

Cases: a clean object (ellipse with a hole), the same with 500 specks, a noisy object (ragged edge, pin-holes,
specks) and two fragmented masks like a random-weight SAM gives (upsampled noise
thresholded: hundreds of blobs and specks). Prints the median time, the number of parts
and the IoU of the rasterised polygons with the de-specked mask.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import cv2
import numpy as np

from samlabel.annotations.geometry import mask_iou, mask_to_polygons, polygons_to_mask

H, W = 1080, 1920


def clean() -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    outer = ((xx - 900) / 500.0) ** 2 + ((yy - 540) / 350.0) ** 2 <= 1
    hole = ((xx - 1000) / 120.0) ** 2 + ((yy - 500) / 80.0) ** 2 <= 1
    return outer & ~hole


def noisy(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W]
    base = ((xx - 960) / 600.0) ** 2 + ((yy - 540) / 400.0) ** 2
    field = cv2.resize(rng.normal(size=(H // 8, W // 8)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    pixel = rng.normal(size=(H, W)).astype(np.float32)
    return (base + 0.15 * field + 0.01 * pixel) <= 1


def fragmented(seed: int, cell: int, noise: float = 0.05) -> np.ndarray:
    """Thresholded noise upsampled from a 256x256 grid (SAM's low-res logits), plus pixel noise."""
    rng = np.random.default_rng(seed)
    low = rng.normal(size=(H // cell, W // cell)).astype(np.float32)
    up = cv2.resize(low, (W, H), interpolation=cv2.INTER_LINEAR)
    up += noise * rng.normal(size=(H, W)).astype(np.float32)
    return up > 0.6


def specks(seed: int = 4, count: int = 500) -> np.ndarray:
    """The clean object plus ``count`` specks of 1-9 pixels scattered over the image."""
    rng = np.random.default_rng(seed)
    mask = clean()
    for x, y, w, h in zip(rng.integers(0, W - 3, count), rng.integers(0, H - 3, count), rng.integers(1, 4, count), rng.integers(1, 4, count)):
        mask[y : y + h, x : x + w] = True
    return mask


CASES = {
    "clean": clean,
    "specks": specks,
    "noisy": noisy,
    "fragmented": lambda: fragmented(1, 16),
    "fragmented_stress": lambda: fragmented(2, 8),
}


def despecked(mask: np.ndarray, min_area: float) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--profile", default="")
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    for name in args.cases.split(","):
        mask = CASES[name]()
        n_cc = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1
        if args.profile == name:
            prof = cProfile.Profile()
            prof.enable()
            mask_to_polygons(mask)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        times = []
        for _ in range(args.reps):
            t = time.perf_counter()
            polys = mask_to_polygons(mask)
            times.append(time.perf_counter() - t)
        iou = mask_iou(despecked(mask, 4.0), polygons_to_mask(polys, H, W))
        verts = sum(len(r) for p in polys for r in p.rings)
        print(
            f"{name:18s} components={n_cc:5d} parts={len(polys):5d} vertices={verts:6d} "
            f"median={1000 * float(np.median(times)):8.1f} ms  min={1000 * min(times):8.1f} ms  iou={iou:.4f}"
        )


if __name__ == "__main__":
    main()
