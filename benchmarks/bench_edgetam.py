"""Per-frame video propagation: EdgeTAM beside SAM 2.1 tiny (samlabel's, and Meta's ``sam2``), on the CPU.

    flock /tmp/bench.lock .venv/bin/python benchmarks/bench_edgetam.py            # 8 frames, 640x480, 2 threads
    flock /tmp/bench.lock .venv/bin/python benchmarks/bench_edgetam.py --frames 8 --threads 2
    .venv/bin/python benchmarks/bench_edgetam.py --models edgetam,sam2.1_hiera_tiny,reference --objects 3

``reference`` is Meta's ``SAM2VideoPredictor`` (``sam2`` 1.1.0) built from its ``sam2.1_hiera_t``
YAML with random weights (``add_all_frames_to_correct_as_cond``, its bf16 memory cast to fp32
before the memory attention as the tests patch it, hole filling off as it is on a CPU without
its extension): the per-frame time samlabel's SAM 2.1 and EdgeTAM are compared with.
``--objects 3`` adds two more boxes on frame 0 (the reference and samlabel's SAM 2.1 track
objects one at a time; EdgeTAM too, with its lighter memory).

Both models are full size with random weights (timing does not depend on them):
``build_edgetam_video_predictor()`` (RepViT-M1 encoder, 2 memory-attention layers over
512 Perceiver tokens a memory frame) and ``build_sam_video_predictor("sam2.1_hiera_tiny")``.
On a clip of JPEG frames one object (a box on frame 0) is tracked forwards with
``propagate_in_video``; each row gives the seconds of the prompt (``init_state`` encodes frame
0, ``add_new_points_or_box`` decodes it), the mean and the median seconds of the tracked
frames (image encoder, memory attention, decoder, memory encoder), and the image encoder's
share (timed alone on one frame).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def make_clip(folder: Path, frames: int, width: int, height: int) -> tuple[float, float, float, float]:
    """JPEG frames of a smooth background with a moving box; returns the box on frame 0."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, size=(6, 8, 3)).astype(np.uint8)
    background = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR))
    for i in range(frames):
        img = background.copy()
        x0, y0 = 100 + 12 * i, 150 + 4 * i
        img[y0 : y0 + 120, x0 : x0 + 160] = (230, 40, 40)
        Image.fromarray(img).save(folder / f"{i:05d}.jpg", quality=90)
    return (100.0, 150.0, 260.0, 270.0)


def boxes_for(box, objects: int, width: int, height: int) -> list:
    """``objects`` boxes on frame 0: the moving one, then boxes elsewhere in the frame."""
    out = [box]
    for k in range(1, objects):
        x0, y0 = (0.1 + 0.35 * k) % 0.8 * width, (0.55 + 0.1 * k) % 0.8 * height
        out.append((x0, y0, x0 + 0.15 * width, y0 + 0.15 * height))
    return out


def run(name: str, predictor, clip: Path, boxes) -> dict:
    with torch.inference_mode():
        t0 = time.perf_counter()
        state = predictor.init_state(str(clip))
        for obj_id, box in enumerate(boxes, start=1):
            predictor.add_new_points_or_box(state, 0, obj_id, box=np.array(box, dtype=np.float32))
        prompt_s = time.perf_counter() - t0
        times = []
        t = time.perf_counter()
        for frame_idx, _, _ in predictor.propagate_in_video(state):
            now = time.perf_counter()
            if frame_idx > 0:
                times.append(now - t)
            t = now
        image = state["images"][0].float().unsqueeze(0)
        t = time.perf_counter()
        predictor.forward_image(image)
        encoder_s = time.perf_counter() - t
    return {"model": name, "prompt_s": prompt_s, "mean_s": statistics.mean(times), "median_s": statistics.median(times),
            "encoder_s": encoder_s, "tracked": len(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="edgetam,sam2.1_hiera_tiny",
                        help="comma-separated: edgetam, sam2.1_hiera_tiny (samlabel's), reference (Meta's sam2)")
    parser.add_argument("--objects", type=int, default=1, help="objects tracked (boxes on frame 0)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_sam2 import cpu_line

    print(cpu_line())

    from samlabel.sam.video.edgetam_video_predictor import build_edgetam_video_predictor
    from samlabel.sam.video.sam2_video_predictor import build_sam_video_predictor

    print(f"clip {args.frames} frames {args.width}x{args.height}, {args.objects} object(s)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp)
        box = make_clip(clip, args.frames, args.width, args.height)
        boxes = boxes_for(box, args.objects, args.width, args.height)
        for name in args.models.split(","):
            torch.manual_seed(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if name == "reference":
                    from bench_video_memory import build_reference

                    predictor = build_reference("tiny")
                elif name == "edgetam":
                    predictor = build_edgetam_video_predictor()
                else:
                    predictor = build_sam_video_predictor(name)
            rows.append(run(name, predictor, clip, boxes))
            del predictor
    print(f"{'model':<18} {'prompt s':>9} {'mean s/frame':>13} {'median s/frame':>15} {'encoder s':>10}")
    for r in rows:
        print(f"{r['model']:<18} {r['prompt_s']:>9.2f} {r['mean_s']:>13.2f} {r['median_s']:>15.2f} {r['encoder_s']:>10.2f}")
    ref = next((r for r in rows if r["model"] == "reference"), None)
    if ref is not None:
        for r in rows:
            if r is not ref:
                print(f"{r['model']}: {ref['median_s'] / r['median_s']:.2f}x the reference per frame (median)")


if __name__ == "__main__":
    main()
