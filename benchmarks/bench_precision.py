"""Reduced-precision image encoders (issue 23): speed and agreement of bf16 / int8 against fp32.

    python benchmarks/bench_precision.py                       # vit_t, vit_b, sam2.1_hiera_tiny (~8 min)
    python benchmarks/bench_precision.py --models vit_t --reps 3
    python benchmarks/bench_precision.py --quick               # test_tiny, few prompts (< 1 min)
    python benchmarks/bench_precision.py --precisions bf16,ov-f32,ov-bf16   # PyTorch bf16 beside OpenVINO

For each model, samlabel's model with seeded random weights (``bench_peers.build_pair``: the
reference's initialisation, untrained position tables and BN statistics filled) is deep-copied
once per precision and converted with ``samlabel.sam.fast.precision.set_encoder_precision``
(``bf16``, ``int8``: PyTorch) or given to samlabel's OpenVINO engine
(``samlabel.sam.fast.openvino_engine.use_openvino``; ``ov-f32``, ``ov-bf16``, ``ov-int8``: exported
into a fresh cache folder each run, the first-use time printed in the notes; ``ov-int8`` calibrated on
views of scikit-learn's two sample photos, held out from the measured images).
Images: the sample photo ``resources/sample/coffee.jpg`` cropped to 4:3 and 16:9 and resized
to 1024x768 and 1920x1080. 2 torch threads.

Per model, image and reduced precision:

* the image encoder alone (in the notes: ``compute_path.encode_image`` / ``image_features`` on a
  ``(1, 3, S, S)`` input, interleaved like ``set_image``);
* ``set_image`` time (``SamPredictor.set_image``; median and min of ``--reps`` interleaved rounds
  after one warm-up, the order of the precisions rotating per round) and the fp32 / reduced
  ratio of the medians and of the mins (the min is less hit by other processes' load spikes);
* embedding deviation from fp32: max abs and relative L2 (SAM 2: the image embedding; the
  high-resolution maps' relative L2 is printed in the notes);
* agreement as a user feels it: mask IoU against the fp32 masks over ``--prompts`` prompts per
  image (default 240: 60% random single foreground points with ``multimask_output=True``, 40%
  random boxes with ``multimask_output=False``), the decoder and prompts identical, only the
  embedding differs. Two statistics, median and 5th percentile:
  ``all``: every output mask, index-matched (3 per point prompt, 1 per box);
  ``shown``: the mask the app displays, each side's own highest-scoring one (box: its mask),
  compared with each other. Two empty masks count as IoU 1.
  ``minority``: ``all``, but where the fp32 mask covers more than half the image the IoU of
  the two complements (the background) is taken: a large mask hides a moved boundary in its
  big intersection, and random-weight masks are often large (SAM 2.1 tiny: ~90% of the image).

Random weights give less structured masks than trained ones (blobs driven by the untrained
decoder, often covering much of the image), so the IoU here is an estimate of how the
precision perturbs the decision boundary, not of real-use quality; the median mask area is
printed so the reader can judge.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bench_peers import build_pair, cpu_line, load_average  # noqa: E402  (the same random weights)

THREADS = 2
SAMPLE = ROOT / "resources" / "sample" / "coffee.jpg"
IMAGES = {"4:3 1024x768": (4, 3, 1024, 768), "16:9 1920x1080": (16, 9, 1920, 1080)}  # name: (aw, ah, W, H)


def cpu_flags_line() -> str:
    from samlabel.sam.fast.precision import _cpu_flags, native_bf16

    flags = _cpu_flags()
    wanted = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "bf16")
              if f in flags]
    ok, reason = native_bf16()
    return (f"CPU flags: {' '.join(wanted) or '?'}; torch capability {torch.backends.cpu.get_cpu_capability()}; "
            f"native bf16: {ok} ({reason})")


def sample_image(aw: int, ah: int, width: int, height: int) -> np.ndarray:
    """The sample photo, centre-cropped to ``aw:ah`` and resized to ``width x height`` (RGB uint8)."""
    import cv2

    bgr = cv2.imread(str(SAMPLE), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {SAMPLE}")
    h, w = bgr.shape[:2]
    if w * ah > h * aw:  # too wide: crop the width
        cw, ch = h * aw // ah, h
    else:
        cw, ch = w, w * ah // aw
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = bgr[y0 : y0 + ch, x0 : x0 + cw]
    return cv2.cvtColor(cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC), cv2.COLOR_BGR2RGB)


def prompts(h: int, w: int, n: int, seed: int) -> list:
    """``n`` prompts: 60% single foreground points (multimask), 40% boxes (single mask)."""
    rng = np.random.default_rng(seed)
    out = []
    n_points = int(round(n * 0.6))
    for _ in range(n_points):
        out.append(dict(point_coords=np.array([[rng.uniform(0, w - 1), rng.uniform(0, h - 1)]]),
                        point_labels=np.array([1]), multimask_output=True))
    for _ in range(n - n_points):
        bw, bh = rng.uniform(0.05, 0.8) * w, rng.uniform(0.05, 0.8) * h
        x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        out.append(dict(box=np.array([x0, y0, x0 + bw, y0 + bh]), multimask_output=False))
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def timed_set_image(predictor, image) -> float:
    t = time.perf_counter()
    predictor.set_image(image)
    return time.perf_counter() - t


def bench_model(name: str, args, tmp: Path, rows: list, notes: list) -> None:
    from samlabel.sam import SamPredictor
    from samlabel.sam.fast.precision import PrecisionUnavailableError, set_encoder_precision

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, base = build_pair(name, tmp)
    del ref
    models = {"fp32": base}
    for prec in args.precisions:
        try:
            if prec.startswith("ov-"):  # samlabel's OpenVINO engine (fast/openvino_engine.py), a fresh cache
                from samlabel.sam.fast.openvino_engine import EngineError, EngineUnavailableError, use_openvino

                try:
                    t = time.perf_counter()
                    models[prec] = use_openvino(copy.deepcopy(base), prec[3:], cache_dir=tmp / "openvino",
                                                **({"calibration": held_out_calibration()} if prec == "ov-int8" else {}))
                    info = models[prec].image_encoder._samlabel_openvino.info
                    notes.append(f"{name} {prec}: first use {time.perf_counter() - t:.1f} s "
                                 f"(export + conversion {info.export_s:.1f} s, int8 quantisation {info.quantize_s:.1f} s, "
                                 f"compile {info.compile_s:.1f} s)")
                except (EngineUnavailableError, EngineError) as exc:
                    notes.append(f"{name} {prec}: skipped: {exc}")
            else:
                models[prec] = set_encoder_precision(copy.deepcopy(base), prec)
        except PrecisionUnavailableError as exc:
            notes.append(f"{name} {prec}: skipped: {exc}")
    print(f"{name}: built in {time.perf_counter() - t0:.1f} s; precisions {list(models)}", flush=True)
    predictors = {p: SamPredictor(m, path=args.path) for p, m in models.items()}
    order = list(predictors)
    encoder_times(name, models, order, args, notes)
    for iname, (aw, ah, W, H) in IMAGES.items():
        if args.quick and iname.startswith("16:9"):
            continue
        image = sample_image(aw, ah, W, H)
        times = {p: [] for p in order}
        for r in range(args.reps + 1):  # round 0: warm-up
            k = r % len(order)
            for p in order[k:] + order[:k]:
                t = timed_set_image(predictors[p], image)
                if r:
                    times[p].append(t)
        emb = {p: predictors[p].embedding for p in order}
        ps = prompts(H, W, args.prompts, seed=7)
        masks = {p: [] for p in order}
        for p in order:
            for pr in ps:
                m, s, _ = predictors[p].predict(**pr)
                masks[p].append((m, s))
        fp32_t, fp32_min = statistics.median(times["fp32"]), min(times["fp32"])
        area = statistics.median(float(m.mean()) for m, _ in masks["fp32"] for m in m)
        notes.append(f"{name} {iname}: median fp32 mask area {area:.1%} of the image, {len(ps)} prompts")
        rows.append((name, iname, "fp32", (fp32_t, fp32_min), "1.00x", "-", "-", "-", "-", "-"))
        for p in order[1:]:
            e0, e1 = emb["fp32"].features, emb[p].features
            dmax = (e1 - e0).abs().max().item()
            drel = ((e1 - e0).norm() / e0.norm()).item()
            if emb[p].high_res_features:
                hr = [((a - b).norm() / b.norm()).item()
                      for a, b in zip(emb[p].high_res_features, emb["fp32"].high_res_features)]
                notes.append(f"{name} {iname} {p}: high-res maps rel L2 " + ", ".join(f"{v:.2e}" for v in hr))
            suffix = "" if p == "ov-f32" else "+" + p  # PyTorch's +bf16 / +int8, OpenVINO's +ov-bf16 / +ov-int8
            assert e1.dtype == torch.float32 and emb[p].model_id.startswith(emb["fp32"].model_id + suffix)
            all_iou, shown, minority = [], [], []
            for (m0, s0), (m1, s1) in zip(masks["fp32"], masks[p]):
                for a, b in zip(m0, m1):
                    all_iou.append(iou(a, b))
                    minority.append(all_iou[-1] if a.mean() <= 0.5 else iou(~a, ~b))
                shown.append(iou(m0[int(np.argmax(s0))], m1[int(np.argmax(s1))]))
            small_text = f"{statistics.median(minority):.4f} / {pct(minority, 5):.4f}"
            t, t_min = statistics.median(times[p]), min(times[p])
            rows.append((name, iname, p, (t, t_min), f"{fp32_t / t:.2f}x ({fp32_min / t_min:.2f}x)", f"{dmax:.3g} / {drel:.2e}",
                         f"{statistics.median(all_iou):.4f} / {pct(all_iou, 5):.4f}",
                         f"{statistics.median(shown):.4f} / {pct(shown, 5):.4f}", small_text,
                         f"{len(all_iou)} / {len(shown)}"))
        print(f"{name} {iname}: done ({time.perf_counter() - t0:.0f} s)", flush=True)


def held_out_calibration() -> list:
    """The int8 engine's calibration images for this benchmark: views of scikit-learn's two sample
    photos (installed with NNCF), not of the photo the benchmark measures on, which is the
    engine's default calibration set: agreement is then measured on images it was not tuned to."""
    from sklearn.datasets import load_sample_images

    from samlabel.sam.fast.openvino_int8 import calibration_views

    photos = load_sample_images().images  # china.jpg, flower.jpg: 427x640 RGB
    return [v for photo in photos for v in calibration_views(np.ascontiguousarray(photo))[:3]]


def encoder_times(name: str, models: dict, order: list, args, notes: list) -> None:
    """The image encoder alone (``compute_path.encode_image`` / ``image_features`` on one
    ``(1, 3, S, S)`` input), interleaved like ``set_image``: what ``set_image`` adds around it
    (preprocessing, the decoder's per-image context) is the same for every precision."""
    from samlabel.sam.compute_path import encode_image, image_features
    from samlabel.sam.model_family import is_sam2

    base = models["fp32"]
    size = int(base.image_size) if is_sam2(base) else int(base.image_encoder.img_size)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(5))
    run = image_features if is_sam2(base) else encode_image
    times = {p: [] for p in order}
    with torch.inference_mode():
        for r in range(args.reps + 1):
            k = r % len(order)
            for p in order[k:] + order[:k]:
                t = time.perf_counter()
                run(models[p], x, path=args.path)
                if r:
                    times[p].append(time.perf_counter() - t)
    fp32 = statistics.median(times["fp32"])
    parts = [f"{p} {statistics.median(times[p]):.3f} s ({fp32 / statistics.median(times[p]):.2f}x)" for p in order]
    notes.append(f"{name}: the image encoder alone, median of {args.reps}: " + ", ".join(parts))


def markdown(rows: list) -> str:
    head = ("| model | image | precision | set_image median (min) | ratio of medians (of mins) | embedding max abs / rel L2 "
            "| IoU all: median / p5 | IoU shown: median / p5 | IoU minority: median / p5 | masks / prompts |")
    lines = [head, "|" + "---|" * 10]
    for name, image, prec, t, ratio, dev, a, s, sm, n in rows:
        lines.append(f"| {name} | {image} | {prec} | {t[0]:.3f} ({t[1]:.3f}) s | {ratio} | {dev} | {a} | {s} | {sm} | {n} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="comma list (default vit_t,vit_b,sam2.1_hiera_tiny)")
    ap.add_argument("--precisions", default="bf16,int8", help="reduced precisions to compare with fp32: bf16, int8 (PyTorch), "
                    "ov-f32, ov-bf16, ov-int8 (samlabel's OpenVINO engine, exported into a fresh cache)")
    ap.add_argument("--reps", type=int, default=None, help="timed set_image rounds after a warm-up (default 3)")
    ap.add_argument("--prompts", type=int, default=None, help="prompts per image (default 240, at least 200)")
    ap.add_argument("--quick", action="store_true", help="test_tiny, 4:3 image, 1 round, 40 prompts")
    ap.add_argument("--path", choices=("fast", "plain"), default=None,
                    help="compute path of every precision (default: samlabel.sam.compute_path's)")
    ap.add_argument("--markdown", default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    models = args.models.split(",") if args.models else (["test_tiny"] if args.quick else
                                                         ["vit_t", "vit_b", "sam2.1_hiera_tiny"])
    args.precisions = [p for p in args.precisions.split(",") if p and p != "fp32"]
    args.reps = args.reps or (1 if args.quick else 3)
    args.prompts = args.prompts or (40 if args.quick else 240)
    torch.set_num_threads(THREADS)
    torch.set_grad_enabled(False)
    from samlabel.sam.compute_path import resolve_path

    header = [cpu_line(), cpu_flags_line(), f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"compute path {resolve_path(args.path)}",
              "start: " + load_average()]
    print("\n".join(header), flush=True)
    rows: list = []
    notes = ["IoU 'all': every output mask index-matched (3 per point prompt, 1 per box); 'shown': "
             "each side's highest-scoring mask. Random weights: masks are less structured than trained ones."]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_precision_") as tmp:
        for name in models:
            bench_model(name, args, Path(tmp), rows, notes)
    md = markdown(rows)
    footer = [f"end: {load_average()}; total {time.perf_counter() - t0:.0f} s", *notes]
    print("\n" + "\n".join(header[:3]) + "\n\n" + md + "\n\n" + "\n".join(footer))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(header) + "\n\n" + md + "\n\n" + "\n".join(footer) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
