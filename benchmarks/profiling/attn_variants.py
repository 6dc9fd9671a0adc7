import time
import torch
import sys
import ctypes
import torch.nn.functional as F
sys.path.insert(0, __import__("os").path.dirname(__file__))
if "malloc" in sys.argv:
    libc=ctypes.CDLL("libc.so.6"); libc.mallopt(-3, 1<<30); libc.mallopt(-1, 1<<30)
from segment_anything.modeling.image_encoder import Attention as RefAttn, get_rel_pos
torch.manual_seed(0); torch.set_num_threads(int(__import__("os").environ.get("NT","2"))); print("threads",torch.get_num_threads())
def bench(f,n=2):
    f(); ts=[]
    for _ in range(n):
        t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)
    return min(ts)

def manual(q,k,v,Rh,Rw,H,W,rows, scale):
    # q,k,v (B,nH,N,hd) 
    B,nH,N,hd=q.shape
    out=torch.empty_like(q)
    kt=k.transpose(-1,-2)
    for r0 in range(0,H,rows):
        r1=min(H,r0+rows)
        qc=q[:,:,r0*W:r1*W]
        s=torch.matmul(qc*scale, kt)  # B,nH,R*W,N
        r_q=qc.reshape(B,nH,r1-r0,W,hd)
        rel_h=torch.einsum("bnhwc,hkc->bnhwk", r_q, Rh[r0:r1])
        rel_w=torch.einsum("bnhwc,wkc->bnhwk", r_q, Rw)
        s5=s.view(B,nH,r1-r0,W,H,W)
        s5.add_(rel_h[...,:,None]).add_(rel_w[...,None,:])
        s=torch.softmax(s,-1)
        torch.matmul(s, v, out=out[:,:,r0*W:r1*W])
    return out

def augmented(q,k,v,Rh,Rw,H,W,scale):
    B,nH,N,hd=q.shape
    r_q=q.reshape(B,nH,H,W,hd)
    rel_h=torch.einsum("bnhwc,hkc->bnhwk", r_q, Rh).reshape(B,nH,N,H)
    rel_w=torch.einsum("bnhwc,wkc->bnhwk", r_q, Rw).reshape(B,nH,N,W)
    qa=torch.cat([q*scale, rel_h, rel_w],-1)
    eh=torch.eye(H).repeat_interleave(W,0)  # N,H : key (m,n) -> onehot m
    ew=torch.eye(W).repeat(H,1)             # N,W
    ka=torch.cat([k, eh.expand(B,nH,N,H), ew.expand(B,nH,N,W)],-1)
    # value padded? SDPA needs same hd for v? no: v can differ
    return F.scaled_dot_product_attention(qa,ka,v,scale=1.0)

def fused(q,k,v,Rh,Rw,H,W,rows,scale):
    B,nH,N,hd=q.shape
    out=torch.empty(B,nH,N,hd)
    kt=k.transpose(-1,-2).reshape(B*nH,hd,N) if False else k.reshape(B*nH,N,hd).transpose(1,2)
    vv=v.reshape(B*nH,N,hd)
    for r0 in range(0,H,rows):
        r1=min(H,r0+rows); R=r1-r0
        qc=q[:,:,r0*W:r1*W]
        r_q=qc.reshape(B,nH,R,W,hd)
        rel_h=torch.einsum("bnhwc,hkc->bnhwk", r_q, Rh[r0:r1])
        rel_w=torch.einsum("bnhwc,wkc->bnhwk", r_q, Rw)
        bias=(rel_h[...,:,None]+rel_w[...,None,:]).reshape(B*nH,R*W,N)
        bias.baddbmm_(qc.reshape(B*nH,R*W,hd), kt, alpha=scale)
        torch._softmax(bias,-1,False,out=bias) if False else None
        p=torch.softmax(bias,-1)
        out[:,:,r0*W:r1*W]=torch.bmm(p,vv).view(B,nH,R*W,hd)
    return out

with torch.inference_mode():
  for name, shape, insz in [("global",(1,64,64,768),(64,64)),("window",(25,14,14,768),(14,14))]:
    ref=RefAttn(768,12,True,True,True,insz).eval()
    for p in ref.parameters(): p.normal_(0,0.02)
    x=torch.randn(shape)
    B,H,W,C=shape
    qkv = ref.qkv(x).reshape(B, H * W, 3, 12, -1).permute(2, 0, 3, 1, 4)
    q,k,v=[t.contiguous() for t in qkv.unbind(0)]
    Rh=get_rel_pos(H,H,ref.rel_pos_h); Rw=get_rel_pos(W,W,ref.rel_pos_w)
    # reference core
    def refcore():
        qq=q.reshape(B*12,H*W,-1); kk=k.reshape(B*12,H*W,-1); vv=v.reshape(B*12,H*W,-1)
        from segment_anything.modeling.image_encoder import add_decomposed_rel_pos
        attn=(qq*ref.scale)@kk.transpose(-2,-1)
        attn=add_decomposed_rel_pos(attn,qq,ref.rel_pos_h,ref.rel_pos_w,(H,W),(H,W))
        return (attn.softmax(-1)@vv).view(B,12,H*W,-1)
    yr=refcore()
    print(name,"refcore",bench(refcore))
    print(name,"sdpa nomask",bench(lambda: F.scaled_dot_product_attention(q,k,v)))
    ya=augmented(q,k,v,Rh,Rw,H,W,ref.scale)
    print(name,"augmented",bench(lambda: augmented(q,k,v,Rh,Rw,H,W,ref.scale)), (ya-yr).abs().max().item())
    from samlabel.sam.fast.vit_encoder import rel_pos_attention
    for mbe in [1<<22, 1<<24, 1<<26]:
        yA=rel_pos_attention(q,k,v,ref.rel_pos_h,ref.rel_pos_w,(H,W),mbe)
        print(name,"A mbe",mbe,bench(lambda: rel_pos_attention(q,k,v,ref.rel_pos_h,ref.rel_pos_w,(H,W),mbe)), (yA-yr).abs().max().item())
    for rows in ([1,2,4,8] if name=="global" else [14]):
        ym=fused(q,k,v,Rh,Rw,H,W,rows,ref.scale)
        print(name,"fused rows",rows,bench(lambda: fused(q,k,v,Rh,Rw,H,W,rows,ref.scale)), (ym-yr).abs().max().item())
    for rows in ([1,2,4,8] if name=="global" else [14]):
        ym=manual(q,k,v,Rh,Rw,H,W,rows,ref.scale)
        print(name,"manual rows",rows,bench(lambda: manual(q,k,v,Rh,Rw,H,W,rows,ref.scale)), (ym-yr).abs().max().item())
