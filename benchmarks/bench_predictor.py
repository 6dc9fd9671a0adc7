"""Predictor and generator speed, samlabel vs Meta's reference, in one process, same weights.

    python benchmarks/bench_predictor.py            # full: vit_b, 32x32 generate (several minutes)
    python benchmarks/bench_predictor.py --quick    # smaller: fewer repeats, 16x16 generate

Both sides get the same random vit_b weights (the reference is built with seeded random
init, saved as an official-format state dict and loaded by ``samlabel.sam.build_sam``).
Rows: ``set_image`` (768x1024 image), ``predict`` (one point, multimask, 1920x1080 image,
full-size masks; both sides use the same embedding so only prompt work is timed), the
interactive ``hover`` path (decode + best mask sampled to a 960x540 view; samlabel only)
and ``generate`` (points_per_side^2 prompts, the same thresholds on both sides). Each row
prints the reference time, the samlabel time, the ratio and the correctness deltas.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = 60 + 80 * xx / w
    img[..., 1] = 90 + 60 * yy / h
    img[..., 2] = 120
    for _ in range(12):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(min(h, w) // 12, min(h, w) // 4)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _models(name: str):
    import segment_anything

    from samlabel.sam import build_sam

    torch.manual_seed(0)
    ref = segment_anything.sam_model_registry[name]().eval()
    with torch.no_grad():  # the reference zero-initialises these; make them matter
        for pname, p in ref.named_parameters():
            if "pos" in pname and p.abs().max() == 0:
                p.normal_(0, 0.02)
    path = Path(tempfile.mkdtemp()) / f"random_{name}.pth"
    torch.save(ref.state_dict(), path)
    try:
        ours = build_sam(name, checkpoint=path)
    except ImportError:  # checkpoint loader not available: load the state dict directly
        ours = build_sam(name)
        ours.load_state_dict(ref.state_dict())
    return ref, ours.eval()


def _timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, times


def _row(name: str, ref_t: float, our_t: float, deltas: str) -> None:
    print(f"{name:<34} {ref_t * 1000:>11.1f} {our_t * 1000:>11.1f} {ref_t / our_t:>7.2f}x   {deltas}", flush=True)


def _match_masks(ref_records, our_records) -> str:
    if not ref_records and not our_records:
        return "0 masks on both sides"
    ref_m = np.stack([r["segmentation"] for r in ref_records]).reshape(len(ref_records), -1) if ref_records else None
    worst, matched = 1.0, 0
    used = set()
    for o in our_records:
        om = o["segmentation"].reshape(-1)
        inter = (ref_m & om).sum(1)
        union = (ref_m | om).sum(1)
        iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        j = int(np.argmax(iou))
        if j not in used:
            used.add(j)
            matched += 1
        worst = min(worst, float(iou[j]))
    return f"masks ref={len(ref_records)} ours={len(our_records)} matched={matched} worst IoU={worst:.4f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and a 16x16 generate grid")
    ap.add_argument("--model", default="vit_b")
    ap.add_argument("--points-per-side", type=int, default=None)
    ap.add_argument("--pred-iou-thresh", type=float, default=0.88)
    ap.add_argument("--stability-score-thresh", type=float, default=0.95)
    ap.add_argument("--skip-generate", action="store_true")
    args = ap.parse_args(argv)
    from segment_anything import SamAutomaticMaskGenerator as RefGenerator
    from segment_anything import SamPredictor as RefPredictor

    from samlabel.sam.automatic_mask_generator import SamAutomaticMaskGenerator
    from samlabel.sam.interactive import DecoderSession, Prompt
    from samlabel.sam.predictor import SamPredictor

    repeats = 5 if args.quick else 20
    pps = args.points_per_side or (16 if args.quick else 32)
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, cpus={os.cpu_count()}, model={args.model}")
    ref_model, our_model = _models(args.model)
    print(f"{'measure':<34} {'ref ms':>11} {'samlabel ms':>11} {'ratio':>8}   correctness")

    # set_image, 768x1024
    image = _image(768, 1024, 1)
    ref_p, our_p = RefPredictor(ref_model), SamPredictor(our_model)
    n_enc = 1 if args.quick else 2
    _, rt = _timed(lambda: ref_p.set_image(image), n_enc)
    _, ot = _timed(lambda: our_p.set_image(image), n_enc)
    d = (ref_p.features - our_p.features).abs().max().item()
    _row("set_image 768x1024", min(rt), min(ot), f"max |embedding diff| = {d:.2e}")

    # predict, 1920x1080, same embedding on both sides (only prompt work is timed)
    big = _image(1080, 1920, 2)
    our_p.set_image(big)
    feats = our_p.features
    ref_p.reset_image()
    ref_p.features, ref_p.original_size = feats, (1080, 1920)
    ref_p.input_size, ref_p.is_image_set = tuple(our_p.input_size), True
    kw = dict(point_coords=np.array([[900.0, 500.0]]), point_labels=np.array([1]), multimask_output=True)
    r_out, rt = _timed(lambda: ref_p.predict(**kw), repeats)
    o_out, ot = _timed(lambda: our_p.predict(**kw), repeats)
    ds = np.abs(r_out[1] - o_out[1]).max()
    dl = np.abs(r_out[2] - o_out[2]).max()
    dm = (r_out[0] != o_out[0]).mean()
    _row("predict 1 point 1920x1080", statistics.median(rt), statistics.median(ot),
         f"scores {ds:.1e}, low-res logits {dl:.1e}, mask pixels differing {dm:.4%}")

    # hover path (samlabel only): decode + best candidate sampled to a 960x540 view
    session = DecoderSession(our_model, our_p.embedding)
    prompt = Prompt(points=[[900.0, 500.0]], labels=[1])

    def hover():
        pred = session.decode(prompt)
        return pred.mask(pred.best_index(), out_size=(540, 960))

    _, ht = _timed(hover, repeats)
    ht.sort()
    p95 = ht[min(len(ht) - 1, int(round(0.95 * (len(ht) - 1))))]
    print(f"{'hover: decode + view mask 960x540':<34} {'':>11} {statistics.median(ht) * 1000:>11.1f} {'':>8}   "
          f"p95 {p95 * 1000:.1f} ms (samlabel only)", flush=True)

    if args.skip_generate:
        return 0
    # generate, points_per_side^2 prompts, same thresholds
    gkw = dict(points_per_side=pps, pred_iou_thresh=args.pred_iou_thresh,
               stability_score_thresh=args.stability_score_thresh)
    t = time.perf_counter()
    ref_records = RefGenerator(ref_model, **gkw).generate(image)
    rt = time.perf_counter() - t
    t = time.perf_counter()
    our_records = SamAutomaticMaskGenerator(our_model, **gkw).generate(image)
    ot = time.perf_counter() - t
    _row(f"generate {pps}x{pps} 768x1024", rt, ot,
         f"{_match_masks(ref_records, our_records)} (iou>{args.pred_iou_thresh}, stab>={args.stability_score_thresh})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
