"""Images per second of ``samlabel autolabel``: both engines (local, Ray) x both modes
(boxes, everything), on this machine, plus where the time goes (encoder, decoder, tracing,
generator, writes) per image.

    python benchmarks/bench_autolabel.py [--model vit_t] [--images 8] [--boxes 8]
                                         [--size 768x1024] [--points-per-side 16] [--no-ray]

No checkpoint is needed: the model's own architecture with seeded random weights (saved as a
checkpoint file so that every Ray actor loads the same weights) costs the same arithmetic
as the official weights. Random weights make noisy masks with many parts, so the tracing
and writing figures are an upper bound; real SAM masks trace faster. The images are
synthetic (flat discs on a gradient, with noise), the boxes random. Each engine runs on a
fresh copy of the same project; the sidecars of the two engines are compared and must be
identical, so both use one torch thread per model (the thread count changes float rounding):
the local engine one model on one core (the per-core cost), Ray one actor per core
(``--num-actors``, ``--cpus-per-actor``). ``--threads 0`` gives the local engine torch's
default (all cores) instead, and skips the comparison.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synthetic_image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = 60 + 80 * (xx / w)
    img[..., 1] = 90 + 60 * (yy / h)
    img[..., 2] = 120
    for _ in range(12):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        r = rng.integers(min(h, w) // 20, min(h, w) // 6)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_project(root: Path, n_images: int, n_boxes: int, h: int, w: int) -> Path:
    from PIL import Image

    from samlabel.annotations import ImageAnnotation, Project, Shape

    root.mkdir(parents=True)
    for i in range(n_images):
        Image.fromarray(synthetic_image(h, w, i)).save(root / f"img{i:04d}.jpg", quality=92)
    project = Project(root)
    rng = np.random.default_rng(0)
    for image in project.images:
        shapes = []
        for k in range(n_boxes):
            bw, bh = int(rng.integers(w // 12, w // 3)), int(rng.integers(h // 12, h // 3))
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            shapes.append(Shape.rectangle(f"class{k % 3}", (x0, y0), (x0 + bw, y0 + bh)))
        project.save(ImageAnnotation(image_path=image.name, image_height=h, image_width=w, shapes=tuple(shapes)), image)
    return root


def object_masks(h: int, w: int, seed: int) -> np.ndarray:
    """``(H, W)`` bool: the discs of :func:`synthetic_image` (same seed), as real objects."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), bool)
    for _ in range(12):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        r = rng.integers(min(h, w) // 20, min(h, w) // 6)
        rng.integers(0, 256, 3)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    return mask


def realistic_tracing_and_write(project: Path, h: int, w: int) -> tuple[float, float, int]:
    """Tracing and write cost with object-like masks (the image's discs inside each box,
    dilated into the box's neighbourhood): ``(trace s per object, write s per image, objects)``.
    Random weights give speckled masks, which cost far more to trace and write than SAM's."""
    from samlabel.annotations import Project, Shape
    from samlabel.annotations.geometry import mask_to_polygons

    proj = Project(project)
    trace = write = 0.0
    objects = 0
    for i, image in enumerate(proj.images):
        annotation = proj.load(image)
        discs = object_masks(h, w, i)
        shapes = []
        for rect in annotation.shapes:
            x0, y0, x1, y1 = (int(v) for v in rect.bbox())
            mask = np.zeros((h, w), bool)
            mask[y0:y1, x0:x1] = discs[y0:y1, x0:x1]
            mask[y0 + (y1 - y0) // 3:y1 - (y1 - y0) // 3, x0 + (x1 - x0) // 3:x1 - (x1 - x0) // 3] ^= True  # a hole
            t0 = time.perf_counter()
            polygons = mask_to_polygons(mask, tolerance=1.0, min_area=4.0)
            trace += time.perf_counter() - t0
            objects += 1
            if polygons:
                shapes.append(Shape.from_polygons(rect.label, polygons))
        t0 = time.perf_counter()
        proj.save(annotation.with_shapes(shapes), image)
        write += time.perf_counter() - t0
    return trace / max(1, objects), write / max(1, len(proj.images)), objects


def random_checkpoint(name: str, folder: Path) -> str:
    import torch

    from samlabel.sam.build import build_sam

    torch.manual_seed(0)
    path = folder / f"{name}_random.pth"
    torch.save(build_sam(name).state_dict(), path)
    return str(path)


def sidecars(root: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(root.glob("*.json"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vit_t")
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--boxes", type=int, default=8)
    parser.add_argument("--size", default="768x1024", help="HxW")
    parser.add_argument("--points-per-side", type=int, default=16)
    parser.add_argument("--num-actors", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cpus-per-actor", type=float, default=1.0)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per model (0: torch's default)")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split("x"))

    from samlabel.autolabel.job import run
    from samlabel.autolabel.ray_engine import RayOptions
    from samlabel.autolabel.spec import AutolabelSpec, EverythingParams, ModelSpec

    tmp = Path(tempfile.mkdtemp(prefix="bench-autolabel-"))
    try:
        checkpoint = random_checkpoint(args.model, tmp)
        template = make_project(tmp / "template", args.images, args.boxes, h, w)
        import torch

        print(f"load average before: {os.getloadavg()[0]:.1f}; machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads; model {args.model} (random weights); {args.images} images {w}x{h}, "
              f"{args.boxes} boxes each; everything: {args.points_per_side}x{args.points_per_side} points")
        trace, write, objects = realistic_tracing_and_write(shutil.copytree(template, tmp / "realistic"), h, w)
        print(f"object-like masks: tracing {trace * 1000:.1f} ms per object, write {write * 1000:.1f} ms per image "
              f"({objects} objects)", flush=True)
        engines = ["local"] + ([] if args.no_ray else ["ray"])
        rows = []
        for mode in ("boxes", "everything"):
            outputs = {}
            for engine in engines:
                root = tmp / f"{mode}-{engine}"
                shutil.copytree(template, root)
                spec = AutolabelSpec(root, mode=mode, model=ModelSpec(name=args.model, checkpoint=checkpoint, device="cpu",
                                                     threads=args.threads or None),
                                     everything=EverythingParams(points_per_side=args.points_per_side))
                options = None
                if engine == "ray":
                    import ray

                    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
                    options = RayOptions(num_actors=args.num_actors, cpus_per_actor=args.cpus_per_actor)
                t0 = time.perf_counter()
                report = run(spec, engine=engine, ray_options=options)
                seconds = time.perf_counter() - t0
                if engine == "ray":
                    ray.shutdown()
                assert not report.problems, report.problems
                outputs[engine] = sidecars(root)
                per = {k: v / args.images for k, v in report.seconds.items()}
                rows.append((mode, engine, args.images / seconds, seconds, per, report.summary()))
                print(f"{mode:10s} {engine:5s} {args.images / seconds:6.3f} images/s  ({seconds:6.1f} s incl. model load"
                      f"{' and Ray start' if engine == 'ray' else ''}); per image: "
                      + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in per.items()), flush=True)
            if len(outputs) == 2 and args.threads == 1:
                same = outputs["local"] == outputs["ray"]
                print(f"{mode:10s} local and ray sidecars identical: {same}", flush=True)
                if not same:
                    return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
