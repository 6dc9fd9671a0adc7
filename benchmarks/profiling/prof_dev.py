import sys
import time
import numpy as np
import torch
sys.path.insert(0,"benchmarks"); sys.path.insert(0,"benchmarks/profiling")
if "malloc" in sys.argv:
    from samlabel.sam.runtime.cpu import configure_allocator; print("malloc", configure_allocator())
torch.set_num_threads(2)
from bench_speed import build_pair
from samlabel.sam import SamPredictor
from samlabel.sam.interactive import Prompt
from samlabel.sam.embedding import ImageEmbedding, model_id_of
from segment_anything import SamPredictor as RP
from torch.profiler import profile, ProfilerActivity
ref, ours = build_pair()
feats=torch.randn(1,256,64,64)
emb=ImageEmbedding(feats,(1080,1920),(576,1024),model_id_of(ours))
op=SamPredictor(ours); op.set_embedding(emb)
pt,lb=np.array([[1100.,500.]]),np.array([1])
p=Prompt(points=pt,labels=lb)
with torch.inference_mode():
    for _ in range(3): op.session.decode(p)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5): op.session.decode(p)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))
img=np.random.default_rng(0).integers(0,255,(768,1024,3),dtype=np.uint8)
rp=RP(ref)
with torch.inference_mode():
    for i in range(2):
        t=time.perf_counter(); rp.set_image(img); tr=time.perf_counter()-t
        t=time.perf_counter(); op.set_image(img); to=time.perf_counter()-t
        print("set_image ref %.2f ours %.2f ratio %.2f"%(tr,to,tr/to), flush=True)
    if "profenc" in sys.argv:
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            op.set_image(img)
        print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=20, max_name_column_width=25, max_shapes_column_width=70))
