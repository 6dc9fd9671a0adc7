"""How fast is this machine right now? Hover decode time against two calibration kernels.

    PYTHONPATH=. python benchmarks/profiling/machine_phase.py [SECONDS]

Every 0.2 s for SECONDS (default 90): 50 in-cache ``256 x 256 x 256`` products (pure
arithmetic, no memory traffic), one sum over 64 MB (streaming memory), then five vit_b
hover decodes (random weights, 1920x1080, the recorded decoder). Prints the spread of each,
their correlation, and the decode's median in the thirds of the in-cache product's speed.

On a shared VM the in-cache product's speed changes with what the host's other guests do
(0% steal can still mean a shared physical core or clock); docs/performance.md, eighth
session, reads the hover goal against it.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import torch

from samlabel.sam.build import build_sam
from samlabel.sam.embedding import ImageEmbedding, model_id_of
from samlabel.sam.interactive import DecoderSession, Prompt
from samlabel.sam.runtime.cpu import configure_runtime


def main(seconds: float) -> None:
    configure_runtime()
    torch.manual_seed(0)
    model = build_sam("vit_b")
    emb = ImageEmbedding(torch.randn(1, 256, 64, 64), (1080, 1920), (576, 1024), model_id_of(model))
    session = DecoderSession(model, emb)
    session.warm_hover()
    a, b, c = torch.randn(256, 256), torch.randn(256, 256), torch.empty(256, 256)
    big = torch.randn(16 << 20)  # 64 MB
    rows = []
    i = 0
    end = time.time() + seconds
    while time.time() < end:
        t = time.perf_counter()
        for _ in range(50):
            torch.mm(a, b, out=c)
        product_us = (time.perf_counter() - t) / 50 * 1e6
        t = time.perf_counter()
        big.sum()
        sum_ms = (time.perf_counter() - t) * 1e3
        decodes = []
        for k in range(5):
            prompt = Prompt(points=[[300 + i % 1000, 400 + k]], labels=[1])
            i += 1
            t = time.perf_counter()
            session.decode(prompt, image_only=True)
            decodes.append(time.perf_counter() - t)
        rows.append((product_us, sum_ms, statistics.median(decodes) * 1e3))
        time.sleep(0.2)
    r = np.array(rows)
    print(f"samples {len(r)}")
    for col, name, unit in ((0, "in-cache 256^3 product", "us"), (1, "64 MB sum", "ms"), (2, "hover decode (median of 5)", "ms")):
        v = r[:, col]
        print(f"{name:28s} min {v.min():7.2f} median {np.median(v):7.2f} max {v.max():7.2f} {unit}")
    print(f"correlation of the decode with the product {np.corrcoef(r[:, 2], r[:, 0])[0, 1]:.2f}, "
          f"with the memory sum {np.corrcoef(r[:, 2], r[:, 1])[0, 1]:.2f}")
    lo, hi = np.quantile(r[:, 0], [1 / 3, 2 / 3])
    for sel, name in ((r[:, 0] < lo, "fastest third"), ((r[:, 0] >= lo) & (r[:, 0] < hi), "middle third"),
                      (r[:, 0] >= hi, "slowest third")):
        if sel.any():
            print(f"{name:14s}: product {np.median(r[sel, 0]):6.1f} us, decode median {np.median(r[sel, 2]):6.2f} ms")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 90.0)
