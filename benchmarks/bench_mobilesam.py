"""Image-encoder time: samlabel's MobileSAM (vit_t) against the reference code and ViT-B.

    python benchmarks/bench_mobilesam.py [--runs 3] [--threads N] [--skip-vit-b]

Four encoders with random weights run on the same (1, 3, 1024, 1024) input, in eval mode under
``torch.inference_mode``: samlabel ``vit_t``, the reference MobileSAM (PyPI ``mobilesam-mirror``,
module ``mobile_sam``), samlabel ``vit_b`` and Meta's reference ``vit_b`` (``segment_anything``).
After one warm-up call each, the models take turns (round robin), so that load from other
processes on a shared machine spreads over all of them; the table shows the median and the
fastest run, and ratios against the reference ViT-B and against samlabel vit_t.
The issue's goal: samlabel vit_t at least 10x faster than the reference ViT-B.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings
from typing import Callable

import torch


def _reference_vit_t() -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # timm deprecation / registry warnings
        from mobile_sam import sam_model_registry
    return sam_model_registry["vit_t"]().image_encoder


def _reference_vit_b() -> torch.nn.Module:
    from segment_anything import sam_model_registry

    return sam_model_registry["vit_b"]().image_encoder


def _samlabel(name: str) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        from samlabel.sam import build_sam

        return build_sam(name).image_encoder

    return build


MODELS: list[tuple[str, Callable[[], torch.nn.Module], bool]] = [
    # (label, builder, is a ViT-B)
    ("samlabel vit_t", _samlabel("vit_t"), False),
    ("reference MobileSAM vit_t", _reference_vit_t, False),
    ("samlabel vit_b", _samlabel("vit_b"), True),
    ("reference SAM vit_b", _reference_vit_b, True),
]


def _time_once(encoder: torch.nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        out = encoder(x)
    elapsed = time.perf_counter() - start
    assert out.shape == (1, 256, 64, 64), out.shape
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per encoder (after one warm-up)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--skip-vit-b", action="store_true", help="only the two MobileSAM encoders")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(1, 3, 1024, 1024)

    models = [(label, build().eval()) for label, build, is_b in MODELS if not (is_b and args.skip_vit_b)]
    for _label, encoder in models:
        _time_once(encoder, x)  # warm-up: allocator, oneDNN kernel selection
    times: dict[str, list[float]] = {label: [] for label, _ in models}
    for _ in range(args.runs):
        for label, encoder in models:
            times[label].append(_time_once(encoder, x))

    medians = {label: statistics.median(ts) for label, ts in times.items()}
    base_b = medians.get("reference SAM vit_b")
    ours_t = medians["samlabel vit_t"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"input (1, 3, 1024, 1024), {args.runs} runs after a warm-up")
    header = f"{'encoder':<28}{'median s':>10}{'min s':>9}{'vs ref vit_b':>14}{'vs samlabel vit_t':>19}"
    print(header)
    print("-" * len(header))
    for label, _ in models:
        med = medians[label]
        speedup_b = f"{base_b / med:.2f}x" if base_b else "-"
        print(f"{label:<28}{med:>10.3f}{min(times[label]):>9.3f}{speedup_b:>14}{med / ours_t:>18.2f}x")
    if base_b:
        ratio = base_b / ours_t
        verdict = "met" if ratio >= 10 else "NOT met"
        print(f"\nsamlabel vit_t encoder is {ratio:.1f}x faster than the reference ViT-B (goal >= 10x: {verdict})")
    ref_t = medians["reference MobileSAM vit_t"]
    print(f"samlabel vit_t vs reference MobileSAM: {ref_t / ours_t:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
