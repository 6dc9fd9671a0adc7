"""SAM 2.1 image models: samlabel's ``SamPredictor`` against Meta's reference ``SAM2ImagePredictor``.

    python benchmarks/bench_sam2.py                          # tiny and small, 5 set_image / 20 predict repeats
    python benchmarks/bench_sam2.py --quick                  # 3 / 10 repeats, 768x1024 only
    python benchmarks/bench_sam2.py --models tiny --reps 3 --predict-reps 10 --no-memory
    python benchmarks/bench_sam2.py --engine openvino        # samlabel's encoder on its OpenVINO engine (f32)

Both sides run in ONE process on the SAME random weights: the reference ``SAM2Base`` is built
by ``sam2.build_sam.build_sam2`` from its YAML with ``ckpt_path=None`` (seeded, every
parameter perturbed so that none keeps an init constant), its state dict saved as an
official ``{"model": sd}`` file and loaded through ``samlabel.sam.build.build_sam``. Timings
are interleaved (reference, samlabel, samlabel, reference, ...) after one warm-up each, and
the median is reported, so machine-load drift hits both sides alike; ratio = reference /
samlabel. ``torch.set_num_threads(--threads)`` (default 2) applies to both sides, and no
samlabel runtime tuning (allocator, OpenMP) is applied, to either side.

Rows: ``set_image`` (768x1024 and 1080x1920 RGB), ``predict`` (one foreground point,
multimask, full-size masks), the max abs deviation of the image embedding and of the two
high-resolution maps (samlabel vs reference, after ``set_image``), and the peak RSS of a
``set_image`` of a 768x1024 image, each side in a fresh subprocess (model built and loaded,
then the peak RSS of ``set_image``: the kernel's ``VmHWM`` reset
through ``/proc/self/clear_refs`` after the build, and RSS sampled every 5 ms).

``--engine openvino``: samlabel's image encoder runs on its OpenVINO engine in float32
(``samlabel.sam.fast.openvino_engine.use_openvino``), exported into the run's temporary folder
before the timings (the first-use time is printed); the memory child reads that export and
includes the compiled model in its peak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REFERENCE_YAML = {
    "tiny": ("sam2.1_hiera_tiny", "configs/sam2.1/sam2.1_hiera_t.yaml"),
    "small": ("sam2.1_hiera_small", "configs/sam2.1/sam2.1_hiera_s.yaml"),
    "base_plus": ("sam2.1_hiera_base_plus", "configs/sam2.1/sam2.1_hiera_b+.yaml"),
    "large": ("sam2.1_hiera_large", "configs/sam2.1/sam2.1_hiera_l.yaml"),
}
GOAL = 1.5  # set_image speed-up asked for (tiny and small)


def cpu_line() -> str:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return (f"CPU: {model}, {os.cpu_count()} logical CPUs, flags {' '.join(wanted) or '?'}; torch {torch.__version__}, "
            f"threads {torch.get_num_threads()}, interop {torch.get_num_interop_threads()}, "
            f"mkldnn {torch.backends.mkldnn.is_available()}, load average {os.getloadavg()[0]:.2f}")


def random_image(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random RGB image (blobs plus noise)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 64), max(2, w // 64), 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(-8, 9, img.shape)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _perturb_(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            noise = torch.randn(p.shape, generator=g)
            p.add_(noise * (0.1 if p.dim() == 1 and bool((p == 1).all()) else 0.02))
    return model


def build_reference(size: str, seed: int = 0) -> torch.nn.Module:
    from sam2.build_sam import build_sam2 as ref_build_sam2

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ref_build_sam2(REFERENCE_YAML[size][1], ckpt_path=None, device="cpu")
    return _perturb_(ref, seed + 1).eval()


def build_ours(size: str, checkpoint: str, engine: str = "torch") -> torch.nn.Module:
    from samlabel.sam.build import build_sam

    model = build_sam(REFERENCE_YAML[size][0], checkpoint=checkpoint).eval()
    if engine == "openvino":
        from samlabel.sam.fast.openvino_engine import use_openvino

        t = time.perf_counter()
        use_openvino(model, "f32", cache_dir=Path(checkpoint).parent / "openvino")
        info = model.image_encoder._samlabel_openvino.info
        print(f"{REFERENCE_YAML[size][0]}: OpenVINO engine ready in {time.perf_counter() - t:.1f} s "
              f"(export {info.export_s:.1f} s, compile {info.compile_s:.1f} s)", file=sys.stderr, flush=True)
    return model


def reference_predictor(ref):
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script deprecation in SAM2Transforms
        return SAM2ImagePredictor(ref)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(ref_fn, our_fn, reps: int, warmup: int = 1):
    """Lists of seconds of ``ref_fn`` and ``our_fn``, run alternately ``reps`` times after ``warmup``."""
    for _ in range(warmup):
        ref_fn()
        our_fn()
    ref_t, our_t = [], []
    for i in range(reps):
        if i % 2 == 0:
            ref_t.append(timed(ref_fn))
            our_t.append(timed(our_fn))
        else:
            our_t.append(timed(our_fn))
            ref_t.append(timed(ref_fn))
    return ref_t, our_t


def fmt_t(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1e3:.1f} ms"


def _spread(ts) -> str:
    return f"{min(ts):.2f}-{max(ts):.2f}" if min(ts) >= 1 else f"{min(ts) * 1e3:.0f}-{max(ts) * 1e3:.0f} ms"


# ------------------------------------------------------------------------------- memory child
def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child_memory(side: str, size: str, checkpoint: str, threads: int, engine: str = "torch") -> dict:
    torch.set_num_threads(threads)
    img = random_image(768, 1024, seed=1)
    if side == "ref":
        from sam2.build_sam import build_sam2 as ref_build_sam2

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = ref_build_sam2(REFERENCE_YAML[size][1], ckpt_path=checkpoint, device="cpu").eval()
        predictor = reference_predictor(ref)
    else:
        from samlabel.sam.predictor import SamPredictor

        predictor = SamPredictor(build_ours(size, checkpoint, engine))
    base = _rss_mb()
    try:  # reset the kernel's peak-RSS mark (VmHWM) to the current RSS
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        hwm_ok = True
    except OSError:
        hwm_ok = False
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb())
            stop.wait(0.005)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    with torch.inference_mode():
        t = timed(lambda: predictor.set_image(img))
    stop.set()
    th.join()
    peak[0] = max(peak[0], _rss_mb())
    hwm = _vm_hwm_mb() if hwm_ok else 0.0
    return {"peak_mb": max(peak[0], hwm), "sampled_peak_mb": peak[0], "hwm_mb": hwm, "base_mb": base, "seconds": t}


def _vm_hwm_mb() -> float:
    """The kernel's peak RSS of this process since the last reset (``VmHWM``); ``ru_maxrss`` is
    not used: it keeps the RSS of the parent's image from before ``exec``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_memory_child(side: str, size: str, checkpoint: str, threads: int, engine: str = "torch") -> dict:
    cmd = [sys.executable, __file__, "--_child", f"{side}:{size}:{checkpoint}", "--threads", str(threads),
           "--engine", engine]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=str(ROOT))
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------- rows
class Table:
    def __init__(self) -> None:
        self.rows = []

    def add(self, *row) -> None:
        row = tuple(str(c) for c in row)
        self.rows.append(row)
        print("  -> " + " | ".join(row), flush=True)

    def markdown(self) -> str:
        head = ("model", "measure", "reference (median)", "samlabel (median)", "ratio", "spread ref / ours", "goal / delta")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


def bench_model(size: str, args, table: Table, tmpdir: str) -> None:
    from samlabel.sam.predictor import SamPredictor

    name = REFERENCE_YAML[size][0]
    ref = build_reference(size)
    ckpt = os.path.join(tmpdir, f"{name}_random.pt")
    torch.save({"model": ref.state_dict()}, ckpt)
    ours = build_ours(size, ckpt, args.engine)
    rp, op = reference_predictor(ref), SamPredictor(ours)
    print(f"{name}: built, checkpoint {ckpt}", flush=True)

    sizes = [(768, 1024)] if args.quick else [(768, 1024), (1080, 1920)]
    for h, w in sizes:
        img = random_image(h, w, seed=h)
        with torch.inference_mode():
            rt, ot = interleaved(lambda: rp.set_image(img), lambda: op.set_image(img), args.reps)
            emb = op.embedding
            dev = [(emb.features - rp._features["image_embed"]).abs().max().item()]
            dev += [(a - b).abs().max().item() for a, b in zip(emb.high_res_features, rp._features["high_res_feats"], strict=True)]
        r, o = statistics.median(rt), statistics.median(ot)
        ok = "met" if r / o >= GOAL else "not met"
        table.add(name, f"set_image {h}x{w}", fmt_t(r), fmt_t(o), f"**{r / o:.2f}x**", f"{_spread(rt)} / {_spread(ot)}",
                  f">= {GOAL}x: {ok}; max abs dev embed {dev[0]:.1e}, high-res {dev[1]:.1e} / {dev[2]:.1e}")

    # predict: one foreground point, multimask, full-size masks (image of the last set_image)
    pt = np.array([[w * 0.45, h * 0.55]], dtype=np.float32)
    lb = np.array([1], dtype=np.int64)
    with torch.inference_mode():
        rt, ot = interleaved(lambda: rp.predict(point_coords=pt, point_labels=lb, multimask_output=True),
                             lambda: op.predict(point_coords=pt, point_labels=lb, multimask_output=True), args.predict_reps)
        rm, rs, _ = rp.predict(point_coords=pt, point_labels=lb, multimask_output=True)
        om, os_, _ = op.predict(point_coords=pt, point_labels=lb, multimask_output=True)
    r, o = statistics.median(rt), statistics.median(ot)
    differ = int((np.asarray(rm, bool) != np.asarray(om, bool)).sum()) if rm.shape == om.shape else "shape differs"
    table.add(name, f"predict 1 point, multimask ({h}x{w})", fmt_t(r), fmt_t(o), f"{r / o:.2f}x", f"{_spread(rt)} / {_spread(ot)}",
              f"scores max dev {np.abs(np.asarray(rs) - np.asarray(os_)).max():.1e}; {differ} of {rm.size} mask pixels differ")
    rp = op = ref = ours = None  # free the models before the memory subprocesses

    if not args.no_memory:
        mr = run_memory_child("ref", size, ckpt, args.threads)
        mo = run_memory_child("ours", size, ckpt, args.threads, args.engine)
        ok = "met" if mo["peak_mb"] <= mr["peak_mb"] else "not met"
        table.add(name, "set_image 768x1024 peak RSS (fresh process each)", f"{mr['peak_mb']:.0f} MB", f"{mo['peak_mb']:.0f} MB",
                  f"{mr['peak_mb'] / mo['peak_mb']:.2f}x lower", "",
                  f"<= reference: {ok}; above the loaded model {mr['peak_mb'] - mr['base_mb']:.0f} vs "
                  f"{mo['peak_mb'] - mo['base_mb']:.0f} MB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny,small", help=f"comma-separated, of {','.join(REFERENCE_YAML)}")
    ap.add_argument("--reps", type=int, default=None, help="set_image repeats per side (default 5, quick 3)")
    ap.add_argument("--predict-reps", type=int, default=None, help="predict repeats per side (default 20, quick 10)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="fewer repeats, 768x1024 only")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-RSS subprocesses")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--engine", choices=("torch", "openvino"), default="torch",
                    help="what runs samlabel's image encoder (openvino: its OpenVINO engine in f32)")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        side, size, ckpt = args._child.split(":", 2)
        print(json.dumps(child_memory(side, size, ckpt, args.threads, args.engine)))
        return 0
    args.reps = args.reps or (3 if args.quick else 5)
    args.predict_reps = args.predict_reps or (10 if args.quick else 20)
    torch.set_num_threads(args.threads)
    print(cpu_line(), flush=True)
    print(f"samlabel's image encoder: {args.engine}", flush=True)
    table = Table()
    with tempfile.TemporaryDirectory() as tmpdir:
        for size in [s.strip() for s in args.models.split(",") if s.strip()]:
            if size not in REFERENCE_YAML:
                ap.error(f"unknown model {size!r}; choose from {', '.join(REFERENCE_YAML)}")
            bench_model(size, args, table, tmpdir)
    md = table.markdown()
    print()
    print(cpu_line())
    print(md)
    if args.markdown:
        Path(args.markdown).write_text(cpu_line() + "\n\n" + md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
