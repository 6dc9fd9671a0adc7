"""The real window's hover latency beside the reference, in one process (issue 6's hover row).

    python benchmarks/bench_window_hover.py [--blocks 10] [--moves 15] [--ref-calls 4]
                                            [--rest-ms 0] [--json FILE]

Issue 6 asks for every goal "side by side with the reference, in one process ... since
absolute times on shared machines drift". Its hover row is in milliseconds "on this
machine", and it gives that machine's speed: the reference's ``predict`` (one point) took
about 70 ms on a 768x1024 image. On the shared 2-core machines the same call takes 70-120 ms
from one hour to the next, and the hover latency moves with it, so an absolute figure alone
says as much about the host as about samlabel.

This benchmark alternates blocks in one process, with the same random vit_b weights on both
sides (``bench_speed.build_pair``):

* reference: ``--ref-calls`` calls of ``SamPredictor.predict`` (one point, multimask) on a
  768x1024 embedding, the issue's own speed measure, and as many of the reference's hover
  path on 1920x1080 (``predict``, best mask, RGBA: ``bench_speed``'s hover row). They run on
  a thread that ends with the block, as the app runs its model jobs, so no OpenMP team is
  left beside the decoder's;
* samlabel: ``--moves`` isolated hover moves in the real main window over a 1920x1080 image
  (``window_latency.measure_hover_latency``: mouse event -> decoder worker -> overlay
  -> end of the canvas paint), after one discarded move.

It prints each block and the totals: the window's median and p95, the reference's
``predict`` (768x1024) and hover path (1920x1080), their ratio to the window, and the
window's latency at the issue's machine speed (``latency x 70 ms / reference predict``).
Runs under ``QT_QPA_PLATFORM=offscreen`` unless a display is set (e.g. ``xvfb-run``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

ISSUE_REFERENCE_PREDICT_MS = 70.0  # issue 6, "Where we start": reference predict, 768x1024
GOAL_MEDIAN_MS, GOAL_P95_MS = 25.0, 50.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--moves", type=int, default=15, help="window hover moves per block")
    parser.add_argument("--ref-calls", type=int, default=4, help="reference calls of each kind per block")
    parser.add_argument("--rest-ms", type=int, default=0, help="mouse rest before each window move")
    parser.add_argument("--window", default="1400x900", help="window size WxH")
    parser.add_argument("--json", help="also write the samples to this file")
    args = parser.parse_args(argv)
    if min(args.blocks, args.moves, args.ref_calls) < 1:
        parser.error("--blocks, --moves and --ref-calls must be at least 1")

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="samlabel-hover-bench-"))
    os.environ.setdefault("SAMLABEL_CONFIG_DIR", str(tmp / "config"))
    os.environ.setdefault("SAMLABEL_CACHE_DIR", str(tmp / "cache"))

    from samlabel.sam.runtime.openmp_env import configure_openmp_env

    configure_openmp_env()  # as the app's entry point does: before torch is imported
    import numpy as np
    import torch
    from PIL import Image

    from bench_speed import build_pair, colourise, inject_reference_embedding, random_image
    from samlabel.gui.app import create_main_window
    from window_latency import LatencyReport, measure_hover_latency, wait_for_signal
    from samlabel.gui.settings import AppSettings
    from samlabel.gui.tools import Tool
    from samlabel.gui.transient_thread import run_on_transient_thread

    t = time.perf_counter()
    ref, ours = run_on_transient_thread(lambda: build_pair("vit_b"))
    print(f"reference and samlabel vit_b (same random weights) built in {time.perf_counter() - t:.1f} s", flush=True)

    from segment_anything import SamPredictor as RefPredictor

    small, big = RefPredictor(ref), RefPredictor(ref)
    gen = torch.Generator().manual_seed(1)
    features = torch.randn(1, 256, 64, 64, generator=gen)  # the decoder's cost does not depend on the values
    inject_reference_embedding(small, features, (768, 1024), (768, 1024))
    inject_reference_embedding(big, features, (1080, 1920), (576, 1024))
    rng = np.random.default_rng(3)
    label = np.array([1])

    def reference_block() -> tuple[list[float], list[float]]:
        predict_ms, hover_ms = [], []
        with torch.inference_mode():
            for _ in range(args.ref_calls):
                pt = np.array([[rng.uniform(0, 1024), rng.uniform(0, 768)]])
                t0 = time.perf_counter()
                small.predict(pt, label, multimask_output=True)
                predict_ms.append((time.perf_counter() - t0) * 1e3)
                pt = np.array([[rng.uniform(0, 1920), rng.uniform(0, 1080)]])
                t0 = time.perf_counter()
                masks, scores, _ = big.predict(pt, label, multimask_output=True)
                colourise(masks[int(np.argmax(scores))])
                hover_ms.append((time.perf_counter() - t0) * 1e3)
        return predict_ms, hover_ms

    run_on_transient_thread(reference_block)  # warm-up

    image = tmp / "hover_1920x1080.png"
    Image.fromarray(random_image(1080, 1920, seed=2)).save(image)
    win_w, win_h = (int(v) for v in args.window.split("x"))
    window = create_main_window(path=image, sam_model=ours, settings=AppSettings(tmp / "config" / "s.ini"))
    window.resize(win_w, win_h)
    window.show()
    t = time.perf_counter()
    wait_for_signal(window.embeddingReady, 900)
    print(f"window embedding ready after {time.perf_counter() - t:.1f} s", flush=True)
    window.set_tool(Tool.SAM)
    measure_hover_latency(window, n=2, warmup=1)  # the decoder worker's first hovers

    blocks = []
    print("block | window median / p95 | ref predict 768x1024 | ref hover 1920x1080 | window at 70 ms machine")
    try:
        for b in range(args.blocks):
            predict_ms, hover_ms = run_on_transient_thread(reference_block)
            report = measure_hover_latency(window, n=args.moves, warmup=1, rest_ms=args.rest_ms)
            if not report.samples_ms:
                raise RuntimeError(f"block {b}: no hover reached the screen ({report.dropped} dropped)")
            med_w, med_p = report.median_ms, statistics.median(predict_ms)
            blocks.append({"window_ms": list(report.samples_ms), "worker_ms": list(report.worker_ms),
                           "ref_predict_ms": predict_ms, "ref_hover_ms": hover_ms, "dropped": report.dropped})
            print(f"{b:5d} | {med_w:6.1f} / {report.p95_ms:6.1f} ms | {med_p:6.1f} ms | "
                  f"{statistics.median(hover_ms):6.1f} ms | {med_w * ISSUE_REFERENCE_PREDICT_MS / med_p:6.1f} ms",
                  flush=True)
    finally:
        window.shutdown()
        window.close()

    win = [x for blk in blocks for x in blk["window_ms"]]
    worker = [x for blk in blocks for x in blk["worker_ms"]]
    ref_predict = [x for blk in blocks for x in blk["ref_predict_ms"]]
    ref_hover = [x for blk in blocks for x in blk["ref_hover_ms"]]

    def p95(values) -> float:
        return LatencyReport(tuple(values), 0).p95_ms

    med_w, p95_w = statistics.median(win), p95(win)
    med_p, med_h = statistics.median(ref_predict), statistics.median(ref_hover)
    scale = ISSUE_REFERENCE_PREDICT_MS / med_p
    print()
    print(f"window hover, {len(win)} moves in {len(blocks)} blocks (rest {args.rest_ms} ms): median {med_w:.1f} ms, "
          f"p95 {p95_w:.1f} ms (worker decode + render median {statistics.median(worker):.1f} ms)")
    print(f"reference predict 768x1024: median {med_p:.1f} ms (issue 6's machine: {ISSUE_REFERENCE_PREDICT_MS:.0f} ms); "
          f"this machine runs at {scale:.2f}x that speed")
    print(f"reference hover path 1920x1080: median {med_h:.1f} ms, p95 {p95(ref_hover):.1f} ms; "
          f"ratio to the window: {med_h / med_w:.2f}x (median), {p95(ref_hover) / p95_w:.2f}x (p95)")
    print(f"window hover at the issue's machine speed: median {med_w * scale:.1f} ms (goal <= {GOAL_MEDIAN_MS:.0f}), "
          f"p95 {p95_w * scale:.1f} ms (goal <= {GOAL_P95_MS:.0f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"rest_ms": args.rest_ms, "blocks": blocks}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
