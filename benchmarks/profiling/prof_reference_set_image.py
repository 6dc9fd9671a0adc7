import torch
import numpy as np
from segment_anything import sam_model_registry, SamPredictor
torch.manual_seed(0)
sam = sam_model_registry["vit_b"]().eval()
pred = SamPredictor(sam)
rng = np.random.default_rng(0)
img = rng.integers(0,255,(768,1024,3),dtype=np.uint8)
from torch.profiler import profile, ProfilerActivity
with torch.inference_mode():
    pred.set_image(img)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        pred.set_image(img)
print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=20, max_shapes_column_width=90))
