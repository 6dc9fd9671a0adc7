import sys
import time
import numpy as np
import torch
sys.path.insert(0,"benchmarks"); sys.path.insert(0,"benchmarks/profiling")
from bench_speed import build_pair, inject_reference_embedding
from samlabel.sam import SamPredictor
from segment_anything import SamPredictor as RP
ref, ours = build_pair()
torch.manual_seed(0)
feats=torch.randn(1,256,64,64)
from samlabel.sam.embedding import ImageEmbedding, model_id_of
emb=ImageEmbedding(feats,(1080,1920),(576,1024),model_id_of(ours))
rp,op=RP(ref),SamPredictor(ours)
inject_reference_embedding(rp,feats,(1080,1920),(576,1024)); op.set_embedding(emb)
pt,lb=np.array([[1100.,500.]]),np.array([1])
with torch.inference_mode():
  for nt in [1,2,1,2]:
    torch.set_num_threads(nt)
    for name,f in [("ref",lambda: rp.predict(pt,lb)),("ours",lambda: op.predict(pt,lb)), ("ours_decode", lambda: op.session.decode(__import__("samlabel.sam.interactive",fromlist=["Prompt"]).Prompt(points=pt,labels=lb)))]:
        f(); ts=[]
        for _ in range(7):
            t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)
        print(nt,name,"median %.1f ms min %.1f"%(1e3*np.median(ts),1e3*min(ts)), flush=True)
