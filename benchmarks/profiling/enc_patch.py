import sys
import time
import numpy as np
import torch
import copy
sys.path.insert(0,"benchmarks"); sys.path.insert(0,"benchmarks/profiling"); sys.path.insert(0,"benchmarks/patches")
from samlabel.sam.runtime.cpu import configure_runtime; print(configure_runtime())
from bench_speed import build_pair
from samlabel.sam import SamPredictor
import samlabel.sam.fast.vit_encoder as enc
from fused_rel_pos_attention import fused_rel_pos_attention
from segment_anything import SamPredictor as RP
ref, ours = build_pair()
img=np.random.default_rng(0).integers(0,255,(768,1024,3),dtype=np.uint8)
rp, op = RP(ref), SamPredictor(ours)
orig = enc.rel_pos_attention
def t(f):
    s=time.perf_counter(); f(); return time.perf_counter()-s
with torch.inference_mode():
    for i in range(2):
        tr=t(lambda: rp.set_image(img))
        enc.rel_pos_attention=orig; ta=t(lambda: op.set_image(img)); ea=op.get_image_embedding().clone()
        enc.rel_pos_attention=fused_rel_pos_attention; tf=t(lambda: op.set_image(img)); ef=op.get_image_embedding()
        print("ref %.2f A %.2f fused %.2f | ratio A %.2f fused %.2f | diff fused-ref %.1e A-ref %.1e"%(tr,ta,tf,tr/ta,tr/tf,(ef-rp.features).abs().max(),(ea-rp.features).abs().max()), flush=True)
    if "int8" in sys.argv:
        from samlabel.sam.fast.quantize import quantize_encoder
        q=SamPredictor(quantize_encoder(copy.deepcopy(ours)))
        for i in range(2):
            tq=t(lambda: q.set_image(img)); tf=t(lambda: op.set_image(img))
            e=q.get_image_embedding(); f=op.get_image_embedding()
            print("int8 %.2f fp32 %.2f ratio %.2f maxdiff %.2e rel %.2e"%(tq,tf,tf/tq,(e-f).abs().max(),((e-f).norm()/f.norm())), flush=True)
