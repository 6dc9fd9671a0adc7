import sys
import time
import numpy as np
import torch
sys.path.insert(0,"benchmarks"); sys.path.insert(0,"benchmarks/profiling")
from samlabel.sam.runtime.cpu import configure_runtime; print(configure_runtime())
from bench_speed import build_pair, colourise, inject_reference_embedding
from samlabel.sam.interactive import DecoderSession, Prompt
from samlabel.sam.embedding import ImageEmbedding, model_id_of
from segment_anything import SamPredictor as RP
from samlabel.sam import SamPredictor
ref, ours = build_pair()
torch.manual_seed(0); feats=torch.randn(1,256,64,64)
emb=ImageEmbedding(feats,(1080,1920),(576,1024),model_id_of(ours))
s=DecoderSession(ours, emb)
rp=RP(ref); inject_reference_embedding(rp,feats,(1080,1920),(576,1024)); op=SamPredictor(ours); op.set_embedding(emb)
rng=np.random.default_rng(0); pts=[np.array([[x,y]]) for x,y in zip(rng.uniform(0,1920,40), rng.uniform(0,1080,40))]
lb=np.array([1])
def med(ts): return "med %.1f ms p95 %.1f"%(1e3*np.median(ts),1e3*np.percentile(ts,95))
with torch.inference_mode():
  for nt in [2,1]:
    torch.set_num_threads(nt)
    d,m,c,tot,rpred,opred=[],[],[],[],[],[]
    for pt in pts:
        t0=time.perf_counter(); pr=s.decode(Prompt(points=pt,labels=lb)); t1=time.perf_counter()
        mk=pr.mask(pr.best_index(), region=(0,0,1920,1080), out_size=(1080,1920)); t2=time.perf_counter()
        rgba=colourise(mk); t3=time.perf_counter()
        d.append(t1-t0); m.append(t2-t1); c.append(t3-t2); tot.append(t3-t0)
        t=time.perf_counter(); rp.predict(pt,lb); rpred.append(time.perf_counter()-t)
        t=time.perf_counter(); op.predict(pt,lb); opred.append(time.perf_counter()-t)
    print("threads",nt,"decode",med(d),"| mask",med(m),"| colour",med(c),"| hover total",med(tot),"| ref predict",med(rpred),"| our predict",med(opred), flush=True)
