"""Where samlabel's vit_t (MobileSAM TinyViT) encoder spends its time, beside ONNX Runtime's.

    python benchmarks/bench_peers_profile.py [--reps 3] [--onnx FILE]

Same random weights on both sides (``bench_peers.build_pair("vit_t")``), 2 threads, input
(1, 3, 1024, 1024). Prints:

* per-stage wall time (forward hooks on patch_embed, layers[0..3], neck), samlabel's plain
  module and the reference MobileSAM (medians over ``--reps`` runs, interleaved), and the
  whole-encoder time of samlabel's fast path (``samlabel.sam.fast.tiny_vit_encoder``, what
  ``set_image`` runs by default; it calls no module forward, so it has no per-stage hooks);
* ONNX Runtime's per-stage and per-op-type time from its own profiler (node names carry the
  PyTorch module path, e.g. ``/layers.1/blocks.0/attn/MatMul``), and the op counts of the graph
  it runs after its optimisations (what it fused);
* torch.profiler's top ops for samlabel's plain module, grouped by stage, then the fast path's
  top ops by input shape.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_peers as bp  # noqa: E402

STAGES = ("patch_embed", "layers.0", "layers.1", "layers.2", "layers.3", "neck")


def stage_of(name: str) -> str:
    for s in STAGES:
        if f"/{s}/" in name or name.startswith(s + "/") or f"/{s}." in name:
            return s
    return "other"


def hook_times(encoder: torch.nn.Module, x: torch.Tensor) -> dict:
    mods = {"patch_embed": encoder.patch_embed, "neck": encoder.neck}
    for i, layer in enumerate(encoder.layers):
        mods[f"layers.{i}"] = layer
    t: dict = {}
    handles = []
    for name, m in mods.items():
        handles.append(m.register_forward_pre_hook(lambda _m, _a, n=name: t.__setitem__(n, -time.perf_counter())))
        handles.append(m.register_forward_hook(lambda _m, _a, _o, n=name: t.__setitem__(n, t[n] + time.perf_counter())))
    start = time.perf_counter()
    with torch.inference_mode():
        encoder(x)
    t["total"] = time.perf_counter() - start
    for h in handles:
        h.remove()
    return t


def ort_profile(path: Path, x: np.ndarray, reps: int, tmp: Path) -> None:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = bp.THREADS
    so.inter_op_num_threads = 1
    so.optimized_model_filepath = str(tmp / "vit_t_encoder.ort_optimized.onnx")
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    s.run(None, {"image": x})
    wall = []
    for _ in range(reps):
        t = time.perf_counter()
        s.run(None, {"image": x})
        wall.append(time.perf_counter() - t)
    print(f"ORT wall (no profiler): median {statistics.median(wall) * 1e3:.1f} ms over {reps}")
    try:
        import onnx

        m = onnx.load(so.optimized_model_filepath)
        ops = collections.Counter(f"{n.domain + '.' if n.domain else ''}{n.op_type}" for n in m.graph.node)
        print("ORT optimised graph ops:", ", ".join(f"{k} {v}" for k, v in ops.most_common(25)))
    except Exception as e:  # noqa: BLE001
        print("optimised graph not readable:", e)
    so2 = ort.SessionOptions()
    so2.intra_op_num_threads = bp.THREADS
    so2.inter_op_num_threads = 1
    so2.enable_profiling = True
    so2.profile_file_prefix = str(tmp / "ort_prof")
    s2 = ort.InferenceSession(str(path), so2, providers=["CPUExecutionProvider"])
    for _ in range(1 + reps):
        s2.run(None, {"image": x})
    prof = s2.end_profiling()
    events = json.loads(Path(prof).read_text())
    runs = [e for e in events if e.get("name") == "model_run"]
    by_stage, by_op, by_node = collections.Counter(), collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        name = e["name"][: -len("_kernel_time")]
        op = e.get("args", {}).get("op_name", "?")
        by_stage[stage_of(name)] += e["dur"]
        by_op[op] += e["dur"]
        by_node[name] += e["dur"]
    n = len(runs)
    total = sum(by_op.values()) / n
    print(f"ORT profiled: {n} runs, model_run median {statistics.median(r['dur'] for r in runs[1:]) / 1e3:.1f} ms, "
          f"kernel sum {total / 1e3:.1f} ms per run")
    print("  per stage (ms):", ", ".join(f"{k} {v / n / 1e3:.1f}" for k, v in sorted(by_stage.items())))
    print("  per op type (ms):", ", ".join(f"{k} {v / n / 1e3:.1f}" for k, v in by_op.most_common(16)))
    print("  top nodes (ms):", ", ".join(f"{k} {v / n / 1e3:.2f}" for k, v in by_node.most_common(12)))


def torch_profile(encoder: torch.nn.Module, x: torch.Tensor) -> None:
    from torch.profiler import ProfilerActivity, profile, record_function

    mods = {"patch_embed": encoder.patch_embed, "neck": encoder.neck}
    for i, layer in enumerate(encoder.layers):
        mods[f"layers.{i}"] = layer
    ctxs = {}
    handles = []
    for name, m in mods.items():
        def pre(_m, _a, n=name):
            ctxs[n] = record_function(f"stage::{n}")
            ctxs[n].__enter__()

        def post(_m, _a, _o, n=name):
            ctxs[n].__exit__(None, None, None)

        handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        encoder(x)
    for h in handles:
        h.remove()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=22))
    # self time of aten ops, per stage
    per = collections.defaultdict(collections.Counter)
    events = prof.events()
    stage_ranges = [(e.name.split("::", 1)[1], e.time_range.start, e.time_range.end)
                    for e in events if e.name.startswith("stage::")]
    for e in events:
        if e.name.startswith("stage::") or not e.name.startswith("aten::"):
            continue
        st = next((s for s, a, b in stage_ranges if a <= e.time_range.start <= b), "other")
        per[st][e.name] += e.self_cpu_time_total
    for st in STAGES:
        c = per.get(st)
        if c:
            tot = sum(c.values()) / 1e3
            print(f"  {st}: self {tot:.1f} ms; " + ", ".join(f"{k[6:]} {v / 1e3:.1f}" for k, v in c.most_common(8)))


def fast_profile(encoder: torch.nn.Module, x: torch.Tensor) -> None:
    """torch.profiler's top ops of the fast path, by op and input shape."""
    from torch.profiler import ProfilerActivity, profile

    from samlabel.sam.fast.tiny_vit_encoder import encode

    encode(encoder, x)
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        encode(encoder, x)
    print("fast path (samlabel.sam.fast.tiny_vit_encoder):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25,
                                                              max_name_column_width=50,
                                                              max_shapes_column_width=90))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--onnx", default=None, help="an exported vit_t encoder (default: export one)")
    args = ap.parse_args(argv)
    from samlabel.sam.runtime.cpu import configure_threads

    configure_threads(bp.THREADS)
    torch.set_grad_enabled(False)
    print(bp.cpu_line())
    print(bp.versions(), "|", bp.load_average())
    tmp = Path(tempfile.mkdtemp(prefix="bench_peers_profile_"))
    ref, ours = bp.build_pair("vit_t", tmp)
    ref_enc, our_enc = ref.image_encoder.eval(), ours.image_encoder.eval()
    torch.manual_seed(0)
    x = torch.randn(1, 3, 1024, 1024)
    path = Path(args.onnx) if args.onnx else None
    if path is None:
        path = tmp / "vit_t_encoder.onnx"
        print(f"export {bp._export(ref_enc, (x,), path, input_names=['image'], output_names=['image_embeddings']):.1f} s")
    hook_times(our_enc, x), hook_times(ref_enc, x)
    ours_t, ref_t = collections.defaultdict(list), collections.defaultdict(list)
    for _ in range(args.reps):
        for k, v in hook_times(our_enc, x).items():
            ours_t[k].append(v)
        for k, v in hook_times(ref_enc, x).items():
            ref_t[k].append(v)
    from samlabel.sam.fast.tiny_vit_encoder import encode

    fast_t = []
    for _ in range(args.reps):
        t = time.perf_counter()
        encode(our_enc, x)
        fast_t.append(time.perf_counter() - t)
    print("per stage, wall ms (median): stage | samlabel plain | reference MobileSAM")
    for k in (*STAGES, "total"):
        print(f"  {k:<12} {statistics.median(ours_t[k]) * 1e3:8.1f} {statistics.median(ref_t[k]) * 1e3:8.1f}")
    print(f"samlabel fast path, whole encoder: median {statistics.median(fast_t) * 1e3:.1f} ms, "
          f"min {min(fast_t) * 1e3:.1f} ms over {args.reps}")
    if bp.have("onnxruntime"):
        ort_profile(path, x.numpy(), args.reps, tmp)
    torch_profile(our_enc, x)
    fast_profile(our_enc, x)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
