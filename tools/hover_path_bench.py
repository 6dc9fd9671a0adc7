#!/usr/bin/env python3
"""Time the model side of the GUI hover path without Qt: decode + display-mask render.

    python3 tools/hover_path_bench.py [--model vit_b] [--threads 1 2] [--n 100] [--view 1100x620]

Builds the model with random weights, encodes a 1920x1080 image once, then for each thread
count decodes ``n`` single-point hover prompts along a path and renders the best candidate
for the whole image at the ``--view`` size (what the canvas shows in a 1400x900 window),
exactly as the decoder worker does. Pin the cores with ``taskset -c 0,1`` to mimic a
2-core laptop. The Qt side (QImage wrap + paint) adds a few ms on top; see
``tools/screenshot.py --latency``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="vit_b")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--view", default="1100x620")
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from samlabel.gui.mask_render import region_mask
    from samlabel.sam.build import build_sam
    from samlabel.sam.embedding import compute_embedding
    from samlabel.sam.interactive import DecoderSession, Prompt

    torch.manual_seed(0)
    model = build_sam(args.model)
    rng = np.random.default_rng(0)
    image = (rng.random((1080, 1920, 3)) * 255).astype(np.uint8)
    t = time.perf_counter()
    emb = compute_embedding(model, image)
    print(f"{args.model}: encoder {time.perf_counter() - t:.2f} s with {torch.get_num_threads()} threads", flush=True)
    vw, vh = (int(v) for v in args.view.split("x"))
    for threads in args.threads:
        torch.set_num_threads(threads)
        session = DecoderSession(model, emb)
        dec, ren, tot = [], [], []
        for i in range(args.n + 5):
            x, y = 200 + (i * 37) % 1500, 150 + (i * 53) % 800
            t0 = time.perf_counter()
            pred = session.decode(Prompt(points=[[x, y]], labels=[1], multimask=True), image_only=True)
            t1 = time.perf_counter()
            k = pred.best_index()
            region_mask(pred.logits[k], pred.original_size, pred.input_size, pred.input_side,
                        (0, 0, 1920, 1080), (vw, vh), pred.threshold)
            t2 = time.perf_counter()
            if i >= 5:
                dec.append((t1 - t0) * 1e3)
                ren.append((t2 - t1) * 1e3)
                tot.append((t2 - t0) * 1e3)

        def p95(v):
            return sorted(v)[int(round(0.95 * (len(v) - 1)))]

        print(f"threads={threads}: decode median {statistics.median(dec):.1f} ms p95 {p95(dec):.1f}; "
              f"render {vw}x{vh} median {statistics.median(ren):.2f} ms; "
              f"decode+render median {statistics.median(tot):.1f} ms p95 {p95(tot):.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
