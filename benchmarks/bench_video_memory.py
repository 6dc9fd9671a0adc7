"""Video propagation's memory against the clip's length: samlabel beside Meta's ``sam2``.

    python benchmarks/bench_video_memory.py                      # 100 and 1000 frames, 1280x720, small model
    python benchmarks/bench_video_memory.py --frames 100 --model tiny   # full-size sam2.1_hiera_tiny (slow)
    python benchmarks/bench_video_memory.py --frames 1000 --model edgetam --cases samlabel   # the CPU default
    python benchmarks/bench_video_memory.py --frames 1000 --model tiny --cases reference --track 30

Each case runs in a fresh subprocess: the model is built and loaded, the kernel's peak-RSS mark
(``VmHWM``) is reset through ``/proc/self/clear_refs``, then one object (a box on frame 0) is
tracked forwards through every frame; the row gives the RSS before the clip was opened, the
peak while it was tracked, their difference (what the clip cost), and the seconds per frame.

* ``samlabel``: what ``samlabel propagate`` does: frames decoded as they are needed (at most 8
  kept), ``propagate_in_video(..., release_memory=True)`` (the tracked outputs more than
  ``memory_window()`` frames behind are dropped);
* ``samlabel keep-all``: the same predictor keeping every frame's outputs, as the reference's
  API does by default;
* ``reference``: ``sam2`` 1.1.0's ``SAM2VideoPredictor`` (``init_state`` decodes every frame up
  front into an ``image_size``-square float32 tensor; every tracked frame's outputs are kept).

Both sides get the same random weights (the reference built from its YAML, seeded and
perturbed, saved as an official checkpoint, loaded strictly by samlabel). ``--model small`` is
the video tests' small model (256 px input, narrow memory), so 1000 frames take minutes, not
hours: what it shows is how memory *grows*; its per-frame sizes are smaller than the real
model's. The real model's frame tensor (1024 px: 12 MiB a frame) and memory (a 64x64x64
feature map in bf16 plus a 256x256 float32 mask: about 0.8 MiB a frame and object) are printed
beside, as arithmetic, and ``--model tiny`` measures them (about 5 s a frame here).
``--model edgetam`` runs samlabel's EdgeTAM (full size, random weights; the CPU default for
propagation; the reference case is not defined for it).

``--track N`` stops each case after the prompted frame and ``N`` tracked ones while the clip
stays whole (the "tracked" column counts the frames after the prompted one): the
reference's ``init_state`` still decodes every frame up front, so its peak at 1000 frames with
``--track 30`` is a *lower bound* of what tracking all of them costs (its tracked outputs, about
0.8 MiB a frame and object, come on top), measured in minutes instead of hours.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
for p in (ROOT, HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bench_sam2 import _vm_hwm_mb, cpu_line  # noqa: E402

SAM2_TESTS = ROOT / "tests" / "sam" / "modeling" / "sam2"


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _helpers():
    """The SAM 2 tests' builders: the reference from its YAML shrunk by hydra overrides, ours."""
    conftest = _module("sam2_test_conftest", SAM2_TESTS / "conftest.py")
    video = _module("sam2_test_video_small", SAM2_TESTS / "test_sam2_video_small.py")

    class H:
        SMALL_OVERRIDES = conftest.SMALL_OVERRIDES
        perturb_ = staticmethod(conftest.perturb_)
        save_official = staticmethod(conftest.save_official)

    return H, video


def build_reference(model: str):
    from sam2.build_sam import build_sam2_video_predictor

    H, video = _helpers()
    if model == "small":
        return video.build_reference_video(H, add_all_frames_to_correct_as_cond=True)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", ckpt_path=None, device="cpu",
                                         hydra_overrides_extra=["++model.add_all_frames_to_correct_as_cond=true"])
    H.perturb_(ref, 1).eval()
    ref.fill_hole_area = 0
    video._patch_reference_memory_dtype(ref)
    return ref


def build_ours(model: str, checkpoint: str):
    from samlabel.sam.video.sam2_video_predictor import build_sam_video_predictor

    if model == "edgetam":
        from samlabel.sam.video.edgetam_video_predictor import build_edgetam_video_predictor

        torch.manual_seed(0)
        return build_edgetam_video_predictor(None, fill_hole_area=0)
    if model == "small":
        _, video = _helpers()
        return video.build_ours(checkpoint, fill_hole_area=0)
    return build_sam_video_predictor("sam2.1_hiera_tiny", checkpoint=checkpoint, fill_hole_area=0)


def make_frames(folder: Path, n: int, w: int, h: int) -> None:
    """``n`` JPEG frames ``00000.jpg`` ... (the reference reads integer names only): a smooth
    background with a bright box moving across it."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:h, :w]
    background = np.stack([(xx * 255 // w), (yy * 255 // h), np.full_like(xx, 120)], -1).astype(np.uint8)
    for i in range(n):
        path = folder / f"{i:05d}.jpg"
        if path.exists():
            continue
        img = background.copy()
        x0 = int((w // 8) + (i % 200) * (w // 400))
        img[h // 3: h // 3 + h // 6, x0: x0 + w // 8] = (240, 40, 40)
        Image.fromarray(img).save(path, quality=90)


def child(case: str, model: str, checkpoint: str, frames: str, n: int, threads: int, track: int = 0) -> dict:
    torch.set_num_threads(threads)
    from bench_sam2 import _rss_mb

    folder = Path(frames)
    if case == "reference":
        predictor = build_reference(model)
    else:
        predictor = build_ours(model, checkpoint)
    torch.zeros(1)  # (allocator warm)
    base = _rss_mb()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    t0 = time.perf_counter()
    with torch.inference_mode():
        if case == "reference":
            state = predictor.init_state(str(folder))
        else:
            from samlabel.video.propagate import init_state

            state = init_state(predictor, sorted(folder.glob("*.jpg"))[:n])
        w, h = state["video_width"], state["video_height"]
        predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1,
                                        box=[w // 8, h // 3, w // 8 + w // 8, h // 3 + h // 6])
        t1 = time.perf_counter()
        options = {"release_memory": True} if case == "samlabel" else {}
        count = 0
        for _ in predictor.propagate_in_video(state, **options):
            count += 1
            if count % 100 == 0:  # a long run's trace: the peak so far (stderr, shown as it runs)
                print(f"  {case}: {count} frames tracked, peak {_vm_hwm_mb():.0f} MB, "
                      f"{(time.perf_counter() - t1) / count:.2f} s / frame", file=sys.stderr, flush=True)
            if track and count > track:  # the prompted frame, then `track` tracked ones
                break
    t2 = time.perf_counter()
    return {"case": case, "frames": count - 1, "clip": n, "base_mb": base, "peak_mb": _vm_hwm_mb(),
            "open_s": t1 - t0, "per_frame_s": (t2 - t1) / max(1, count - 1)}


def run_child(case: str, model: str, checkpoint: Path, frames: Path, n: int, threads: int, track: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--_child", case, "--model", model, "--_checkpoint", str(checkpoint),
           "--_frames", str(frames), "--_n", str(n), "--threads", str(threads), "--track", str(track)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=str(ROOT))  # stderr: the trace, live
    if out.returncode != 0:
        return {"case": case, "error": f"exit code {out.returncode} (its error is printed above)"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", default="100,1000", help="clip lengths, comma-separated (default 100,1000)")
    ap.add_argument("--size", default="1280x720", help="frame size WxH (default 1280x720)")
    ap.add_argument("--model", choices=("small", "tiny", "edgetam"), default="small")
    ap.add_argument("--cases", default="samlabel,samlabel keep-all,reference")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--track", type=int, default=0, help="stop after N tracked frames (0: the whole clip)")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    ap.add_argument("--_checkpoint", help=argparse.SUPPRESS)
    ap.add_argument("--_frames", help=argparse.SUPPRESS)
    ap.add_argument("--_n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        print(json.dumps(child(args._child, args.model, args._checkpoint, args._frames, args._n, args.threads, args.track)))
        return 0
    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.lower().split("x"))
    lengths = [int(v) for v in args.frames.split(",")]
    print(cpu_line())
    tracked = f"the next {args.track} frames" if args.track else "every frame"
    print(f"model {args.model}, frames {w}x{h}, one object (a box on frame 0), tracked forwards through {tracked}")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    with tempfile.TemporaryDirectory(prefix="samlabel-video-mem-") as tmp:
        tmp = Path(tmp)
        checkpoint = tmp / "video.pt"
        if args.model == "edgetam":
            size = 1024
            if "reference" in cases:
                cases = [c for c in cases if c != "reference"]
                print("--model edgetam: no reference case (Meta's sam2 has no EdgeTAM; bench_edgetam.py compares it "
                      "with transformers)")
        else:
            ref = build_reference(args.model)
            _helpers()[0].save_official(ref, checkpoint)
            size = ref.image_size
            del ref
        print(f"model input {size} px: a decoded frame is {3 * size * size * 4 / 2 ** 20:.1f} MiB in float32 "
              f"(the reference decodes all of them at init_state; samlabel keeps at most 8)")
        print()
        print("| clip frames | tracked | case | RSS before (MB) | peak (MB) | clip cost (MB) | s / frame |")
        print("|---|---|---|---|---|---|---|")
        for n in lengths:
            frames = tmp / f"clip{n}"
            make_frames(frames, n, w, h)
            for case in cases:
                r = run_child(case, args.model, checkpoint, frames, n, args.threads, args.track)
                if "error" in r:
                    print(f"| {n} | | {case} | failed: {r['error']} | | | |", flush=True)
                    continue
                print(f"| {n} | {r['frames']} | {case} | {r['base_mb']:.0f} | {r['peak_mb']:.0f} | "
                      f"{r['peak_mb'] - r['base_mb']:.0f} | {r['per_frame_s']:.3f} |", flush=True)
    if args.model == "small":
        full = 3 * 1024 * 1024 * 4 / 2 ** 20
        mem = (64 * 64 * 64 * 2 + 256 * 256 * 4) / 2 ** 20
        print()
        print(f"At the real models' 1024 px input (arithmetic): the reference's init_state holds {full:.0f} MiB a frame "
              f"({full * 100 / 1024:.1f} GiB for 100 frames, {full * 1000 / 1024:.1f} GiB for 1000), and every tracked "
              f"frame keeps ~{mem:.2f} MiB of memory per object ({mem * 1000 / 1024:.2f} GiB per object over 1000 frames); "
              f"samlabel keeps 8 frames ({8 * full:.0f} MiB) and {17} tracked frames per object ({17 * mem:.0f} MiB).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
