import sys
import time
import numpy as np
import torch
sys.path.insert(0,"benchmarks"); sys.path.insert(0,"benchmarks/patches")
from samlabel.sam.runtime.cpu import configure_runtime; print(configure_runtime())
from bench_speed import build_pair, inject_reference_embedding
from samlabel.sam import SamPredictor
from samlabel.sam.interactive import Prompt
from samlabel.sam.embedding import ImageEmbedding, model_id_of
import samlabel.sam.modeling.sam1.transformer as T
from segment_anything import SamPredictor as RP
import lowrank_decoder_attention as L
ref, ours = build_pair()
torch.manual_seed(0); feats=torch.randn(1,256,64,64)
emb=ImageEmbedding(feats,(1080,1920),(576,1024),model_id_of(ours))
rp=RP(ref); inject_reference_embedding(rp,feats,(1080,1920),(576,1024))
rng=np.random.default_rng(0)
cases=[(np.array([[1100.,500.]]),np.array([1]),None),(rng.uniform(0,1000,(5,2)),np.array([1,0,1,1,0]),None),(None,None,np.array([100,100,900,700.])),(np.array([[300.,300.]]),np.array([1]),np.array([100,100,900,700.]))]
def run(op):
    outs=[]
    for pt,lb,box in cases:
        for mm in (True,False):
            outs.append(op.predict(pt,lb,box=box,multimask_output=mm))
    m,s,l=op.predict(cases[0][0],cases[0][1]); outs.append(op.predict(cases[0][0],cases[0][1],mask_input=l[:1]))
    return outs
with torch.inference_mode():
    op=SamPredictor(ours); op.set_embedding(emb)
    base=run(op)
    refo=[]
    for pt,lb,box in cases:
        for mm in (True,False): refo.append(rp.predict(pt,lb,box=box,multimask_output=mm))
    m,s,l=rp.predict(cases[0][0],cases[0][1]); refo.append(rp.predict(cases[0][0],cases[0][1],mask_input=l[:1]))
    L.install(T.Attention)
    op2=SamPredictor(ours); op2.set_embedding(emb)
    new=run(op2)
    for (bm,bs,bl),(nm,ns,nl),(rm,rs,rl) in zip(base,new,refo):
        print("new-ref logits %.1e scores %.1e | old-ref logits %.1e scores %.1e"%(np.abs(nl-rl).max(),np.abs(ns-rs).max(),np.abs(bl-rl).max(),np.abs(bs-rs).max()))
    pt,lb=cases[0][0],cases[0][1]; torch.set_num_threads(int(__import__("os").environ.get("NT","2")))
    p=Prompt(points=pt,labels=lb)
    for it in range(2):
        for name,pred in (("old",op),("new",op2)):
            T.Attention.forward = T.Attention.forward if name=="new" else T.Attention.forward
        ts={"old":[], "new":[], "ref":[]}
        for _ in range(15):
            T.Attention.forward=T.Attention.forward._lowrank_original if hasattr(T.Attention.forward,"_lowrank_original") else T.Attention.forward
            t=time.perf_counter(); op.session.decode(p); ts["old"].append(time.perf_counter()-t)
            L.install(T.Attention)
            t=time.perf_counter(); op2.session.decode(p); ts["new"].append(time.perf_counter()-t)
            t=time.perf_counter(); rp.predict(pt,lb); ts["ref"].append(time.perf_counter()-t)
        print({k:"%.1f ms"%(1e3*np.median(v)) for k,v in ts.items()}, flush=True)
