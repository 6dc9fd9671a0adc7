"""samlabel against the peers' runtimes: ONNX Runtime and OpenVINO, as X-AnyLabeling and labelme run SAM.

    python benchmarks/bench_peers.py                  # vit_t and vit_b (~20 min on 2 busy cores)
    python benchmarks/bench_peers.py --models sam2.1_hiera_tiny   # SAM 2.1 encoder rows (set_image only)
    python benchmarks/bench_peers.py --quick          # test_tiny only, 1 repeat (< 2 min)
    python benchmarks/bench_peers.py --models vit_t --reps 5 --markdown table.md

X-AnyLabeling and labelme (through ``osam``) do not run PyTorch: they run an ONNX export of the
image encoder and of ``segment_anything.utils.onnx.SamOnnxModel`` (the prompt encoder, mask
decoder and upscaling to the original size) through ONNX Runtime's CPU provider, X-AnyLabeling
also through OpenVINO. This script rebuilds that pipeline in ONE process on the SAME random
weights as samlabel and the reference PyTorch code, and times, interleaved (each round runs
every runtime once, the order rotating from round to round), with 2 threads everywhere:

* ``samlabel``: ``samlabel.sam.SamPredictor`` (``set_image``, ``predict``) and the hover path
  ``DecoderSession.decode(prompt, image_only=True)`` + ``Prediction.mask(best, region=whole
  image, out_size=image size)``;
* ``samlabel_ov``: the same ``SamPredictor`` with samlabel's own encoder on its OpenVINO engine in
  float32 (``samlabel.sam.fast.openvino_engine.use_openvino``: exported into the run's temporary
  folder, the first-use time printed; ``--no-samlabel-openvino`` leaves it out); ``set_image`` rows;
* ``reference``: Meta's ``segment_anything.SamPredictor`` (MobileSAM's ``mobile_sam`` model for
  vit_t, ``sam2.sam2_image_predictor.SAM2ImagePredictor`` for SAM 2.1); hover = ``predict`` + best mask;
* ``ort``: ONNX Runtime, ``CPUExecutionProvider``, ``intra_op_num_threads=2``. ``set_image`` =
  the peers' numpy/OpenCV preprocessing (resize the longest side to 1024, normalise, pad) + the
  encoder session; ``predict`` = the ``SamOnnxModel`` session (one point + the padding point,
  ``orig_im_size``), masks = logits > 0; hover = the same + best mask;
* ``ov_f32``: OpenVINO, ``INFERENCE_PRECISION_HINT=f32``, ``INFERENCE_NUM_THREADS=2``, same graphs;
* ``ov_default``: OpenVINO at its default precision on this CPU (bf16 on AMX / AVX512-BF16 Xeons,
  f32 elsewhere); skipped with a note when that default is f32 (the same as ``ov_f32``).

Exports: the reference model's ``image_encoder`` on the ``(1, 3, 1024, 1024)`` normalised
padded input (SAM 2.1: the image encoder + ``_prepare_backbone_features`` + ``no_mem_embed``,
with the two high-resolution feature maps as outputs, as samexporter / X-AnyLabeling export it),
and ``SamOnnxModel(model, return_single_mask=False)`` with dynamic point axes, opset 17, with
torch's TorchScript exporter, into a temporary folder; the export times are printed. The decoder
export carries segment-anything's PR #58 (GitHub main): the 1.0 PyPI release bakes the dummy
``orig_im_size``'s crop into the graph (issue #56; masks of other aspect ratios are deformed),
which is why the peers' exporters (samexporter) install SAM from GitHub. Its masks are the logits
of tokens 1-3 (``multimask_output=True``); the graph upscales all four to the original size.

Correctness: the embedding of every runtime, given the reference's own preprocessed input
tensor, against the reference's embedding (max abs deviation); the peers' OpenCV resize makes
their *end-to-end* input differ slightly, which is printed separately. For ``predict`` the
scores and the share of mask pixels that differ from the reference.

Rows for a runtime that is not installed are skipped with a note. SAM 2.1 has ``set_image``
rows only (its decoder export is a different graph), and is not in the default list: on the
2-core machine its ORT encoder run alone takes 5.5-12 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

THREADS = 2
IMAGES = {"768x1024": (768, 1024, 1), "1080x1920": (1080, 1920, 2)}  # name: (H, W, seed)
RUNTIMES = ("samlabel", "samlabel_ov", "reference", "ort", "ov_f32", "ov_default")
PIXEL_MEAN = np.array([123.675, 116.28, 103.53], np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], np.float32)


# ----------------------------------------------------------------------------- environment
def cpu_line() -> str:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "avx_vnni")
    shown = " ".join(f"{f}={'yes' if f in flags else 'no'}" for f in wanted)
    return f"CPU: {model}, {os.cpu_count()} logical CPUs; flags: {shown}"


def versions() -> str:
    out = [f"torch {torch.__version__}"]
    for mod in ("onnx", "onnxruntime", "openvino"):
        try:
            m = __import__(mod)
            out.append(f"{mod} {getattr(m, '__version__', '?')}")
        except ImportError:
            out.append(f"{mod} not installed")
    return ", ".join(out)


def load_average() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load average: %.2f, %.2f, %.2f" % os.getloadavg()


def have(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def random_image(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random RGB image (blobs, not white noise), as ``bench_speed.random_image``."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 64), max(2, w // 64), 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(-8, 9, img.shape)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- identical weights
def _fill_untrained(model: torch.nn.Module) -> None:
    """Zero-initialised position tables get noise; BatchNorm running stats get plausible values
    (so a conv+BN fold or a skipped BN would show in the deviations)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "pos" in name and p.abs().max() == 0:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)


def _load_into_samlabel(name: str, state: dict, tmp: Path, wrap: bool = False) -> torch.nn.Module:
    from samlabel.sam import build_sam

    path = tmp / f"random_{name}.pth"
    torch.save({"model": state} if wrap else state, path)
    return build_sam(name, checkpoint=path).eval()


def _reference_test_tiny() -> torch.nn.Module:
    """Meta's modules with samlabel's ``test_tiny`` shapes (segment_anything's registry has no such size)."""
    from functools import partial

    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                           TwoWayTransformer)

    from samlabel.sam.config import get_config

    cfg = get_config("test_tiny")
    e, d = cfg.encoder, cfg.decoder
    grid = cfg.input_size // e.patch_size
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=e.depth, embed_dim=e.embed_dim, img_size=cfg.input_size, mlp_ratio=e.mlp_ratio,
            norm_layer=partial(torch.nn.LayerNorm, eps=e.norm_eps), num_heads=e.num_heads, patch_size=e.patch_size,
            qkv_bias=e.qkv_bias, use_rel_pos=e.use_rel_pos, global_attn_indexes=tuple(e.global_attn_indexes),
            window_size=e.window_size, out_chans=e.out_chans),
        prompt_encoder=PromptEncoder(embed_dim=cfg.embed_dim, image_embedding_size=(grid, grid),
                                     input_image_size=(cfg.input_size, cfg.input_size),
                                     mask_in_chans=cfg.prompt_mask_hidden_dim),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=cfg.nb_multimask_outputs,
            transformer=TwoWayTransformer(depth=d.depth, embedding_dim=cfg.embed_dim, mlp_dim=d.mlp_dim,
                                          num_heads=d.num_heads),
            transformer_dim=cfg.embed_dim, iou_head_depth=d.iou_head_depth, iou_head_hidden_dim=d.iou_head_hidden_dim),
        pixel_mean=list(cfg.pixel_mean), pixel_std=list(cfg.pixel_std),
    )


def build_pair(name: str, tmp: Path, seed: int = 0):
    """(reference model, samlabel model) with identical random weights."""
    torch.manual_seed(seed)
    if name == "vit_t":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # timm deprecation warnings
            from mobile_sam import sam_model_registry as mobile_registry
        ref = mobile_registry["vit_t"]().eval()
    elif name == "test_tiny":
        ref = _reference_test_tiny().eval()
    elif name.startswith("sam2"):
        from sam2.build_sam import build_sam2 as ref_build_sam2

        cfg = {"sam2.1_hiera_tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
               "sam2.1_hiera_small": "configs/sam2.1/sam2.1_hiera_s.yaml"}[name]
        ref = ref_build_sam2(cfg, ckpt_path=None, device="cpu").eval()
    else:
        from segment_anything import sam_model_registry

        ref = sam_model_registry[name]().eval()
    _fill_untrained(ref)
    ours = _load_into_samlabel(name, ref.state_dict(), tmp, wrap=name.startswith("sam2"))
    return ref, ours


# ----------------------------------------------------------------------------- ONNX export
class Sam2EncoderOnnx(torch.nn.Module):
    """SAM 2's image encoder as samexporter / X-AnyLabeling export it: embedding + 2 high-res maps."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.sizes = [(256, 256), (128, 128), (64, 64)]

    def forward(self, x: torch.Tensor):
        out = self.model.forward_image(x)
        _, feats, _, _ = self.model._prepare_backbone_features(out)
        if self.model.directly_add_no_mem_embed:
            feats[-1] = feats[-1] + self.model.no_mem_embed
        maps = [f.permute(1, 2, 0).reshape(1, -1, *s) for f, s in zip(feats[::-1], self.sizes[::-1])][::-1]
        return maps[2], maps[0], maps[1]


def _export(module: torch.nn.Module, args: tuple, path: Path, **kw) -> float:
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings of the reference code's Python conditionals
        kwargs = dict(opset_version=17, do_constant_folding=True, **kw)
        try:
            torch.onnx.export(module, args, str(path), dynamo=False, **kwargs)
        except TypeError:  # torch without the dynamo switch: the TorchScript exporter is the default
            torch.onnx.export(module, args, str(path), **kwargs)
    return time.perf_counter() - t


def _fixed_onnx_model_class():
    """``SamOnnxModel`` with segment-anything PR #58 (GitHub main, after the 1.0 PyPI release):
    1.0's ``int(prepadded_size[0])`` bakes the dummy input's 2:3 crop into the graph (issue #56),
    so masks of other aspect ratios come out deformed. The fix slices with the tensor itself."""
    import torch.nn.functional as F
    from segment_anything.utils.onnx import SamOnnxModel

    class FixedSamOnnxModel(SamOnnxModel):
        def mask_postprocessing(self, masks: torch.Tensor, orig_im_size: torch.Tensor) -> torch.Tensor:
            masks = F.interpolate(masks, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False)
            prepadded_size = self.resize_longest_image_size(orig_im_size, self.img_size).to(torch.int64)
            masks = masks[..., : prepadded_size[0], : prepadded_size[1]]  # noqa: E203
            orig_im_size = orig_im_size.to(torch.int64)
            h, w = orig_im_size[0], orig_im_size[1]
            return F.interpolate(masks, size=(h, w), mode="bilinear", align_corners=False)

    return FixedSamOnnxModel


def export_models(name: str, ref: torch.nn.Module, folder: Path) -> dict:
    """ONNX files of ``ref``'s encoder and decoder; returns paths and export seconds."""
    out = {}
    x = torch.randn(1, 3, 1024, 1024)
    enc_path = folder / f"{name}_encoder.onnx"
    with torch.no_grad():
        if name.startswith("sam2"):
            out["encoder_s"] = _export(Sam2EncoderOnnx(ref).eval(), (x,), enc_path, input_names=["image"],
                                       output_names=["image_embeddings", "high_res_feats_0", "high_res_feats_1"])
        else:
            out["encoder_s"] = _export(ref.image_encoder, (x,), enc_path, input_names=["image"],
                                       output_names=["image_embeddings"])
    out["encoder"] = enc_path
    if name.startswith("sam2"):
        return out
    dec = _fixed_onnx_model_class()(ref, return_single_mask=False).eval()
    c = ref.prompt_encoder.embed_dim
    grid = ref.prompt_encoder.image_embedding_size
    mask_side = [4 * g for g in grid]
    dummy = {
        "image_embeddings": torch.randn(1, c, *grid),
        "point_coords": torch.randint(0, 1024, (1, 5, 2), dtype=torch.float),
        "point_labels": torch.randint(0, 4, (1, 5), dtype=torch.float),
        "mask_input": torch.randn(1, 1, *mask_side),
        "has_mask_input": torch.tensor([1], dtype=torch.float),
        "orig_im_size": torch.tensor([1500, 2250], dtype=torch.float),
    }
    dec_path = folder / f"{name}_decoder.onnx"
    with torch.no_grad():
        out["decoder_s"] = _export(dec, tuple(dummy.values()), dec_path, input_names=list(dummy),
                                   output_names=["masks", "iou_predictions", "low_res_masks"],
                                   dynamic_axes={"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}})
    out["decoder"] = dec_path
    return out


# ----------------------------------------------------------------------------- peer runtimes
class OrtRunner:
    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = THREADS
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def __call__(self, feeds: dict) -> list:
        return self.session.run(None, feeds)


class OvRunner:
    def __init__(self, path: Path, precision: Optional[str]) -> None:
        import openvino as ov

        config = {"INFERENCE_NUM_THREADS": THREADS}
        if precision:
            config["INFERENCE_PRECISION_HINT"] = precision
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.precision = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))

    def __call__(self, feeds: dict) -> list:
        self.request.infer(feeds)
        return [self.request.get_output_tensor(i).data.copy() for i in range(len(self.compiled.outputs))]


class PeerSam:
    """The peers' pipeline around an encoder and a ``SamOnnxModel`` runner (X-AnyLabeling style)."""

    def __init__(self, encoder: Callable, decoder: Optional[Callable], sam2: bool = False) -> None:
        self.encoder, self.decoder, self.sam2 = encoder, decoder, sam2
        self.embedding = None
        self.original_size = None

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        if self.sam2:  # SAM 2: stretch to the square, /255, ImageNet mean/std
            x = cv2.resize(image, (1024, 1024), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
            x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
            return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        scale = 1024 / max(h, w)
        nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
        x = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x = (x - PIXEL_MEAN) / PIXEL_STD
        padded = np.zeros((1, 3, 1024, 1024), np.float32)
        padded[0, :, :nh, :nw] = x.transpose(2, 0, 1)
        return padded

    def set_image(self, image: np.ndarray) -> None:
        self.original_size = image.shape[:2]
        self.embedding = self.encoder({"image": self.preprocess(image)})

    def predict(self, point_xy: np.ndarray) -> tuple:
        h, w = self.original_size
        scale = 1024 / max(h, w)
        sx, sy = int(w * scale + 0.5) / w, int(h * scale + 0.5) / h
        coords = np.concatenate([point_xy, np.zeros((1, 2))], 0)[None].astype(np.float32) * np.array([sx, sy], np.float32)
        labels = np.array([[1, -1]], np.float32)
        masks, scores, low = self.decoder({
            "image_embeddings": self.embedding[0], "point_coords": coords, "point_labels": labels,
            "mask_input": np.zeros((1, 1, 256, 256), np.float32), "has_mask_input": np.zeros(1, np.float32),
            "orig_im_size": np.array([h, w], np.float32)})
        # return_single_mask=False gives all 4 tokens; multimask output = tokens 1-3, as SamPredictor
        return masks[0, 1:] > 0.0, scores[0, 1:], low[0, 1:]

    def hover(self, point_xy: np.ndarray) -> np.ndarray:
        masks, scores, _ = self.predict(point_xy)
        return masks[int(np.argmax(scores))]


# ----------------------------------------------------------------------------- timing
def rounds(fns: dict, reps: int, warmup: int = 1) -> dict:
    """Median seconds of each callable; each round runs all once, the order rotating."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names):] + names[:r % len(names)]
        if r % 2:
            order = order[::-1]
        for n in order:
            t = time.perf_counter()
            fns[n]()
            times[n].append(time.perf_counter() - t)
    return {n: statistics.median(ts) for n, ts in times.items()}


def fmt_ms(s: Optional[float]) -> str:
    return "-" if s is None else f"{s * 1e3:,.1f}"


def ratio(ours: Optional[float], other: Optional[float]) -> str:
    if ours is None or other is None:
        return "-"
    return f"{other / ours:.2f}x"


# ----------------------------------------------------------------------------- per model
def bench_model(name: str, args, tmp: Path, table: list, notes: list) -> None:
    sam2 = name.startswith("sam2")
    print(f"\n=== {name}: building identical random weights", flush=True)
    ref, ours = build_pair(name, tmp)
    peers: dict[str, PeerSam] = {}
    if not (args.ort and have("onnxruntime")) and not (args.openvino and have("openvino")):
        notes.append(f"{name}: neither onnxruntime nor openvino available: no export, samlabel and reference only")
    elif args.ort or args.openvino:
        if not have("onnx"):
            notes.append(f"{name}: package 'onnx' not installed: no export, ORT/OpenVINO rows skipped")
        else:
            files = export_models(name, ref, tmp)
            msg = f"{name}: ONNX export (opset 17) encoder {files['encoder_s']:.1f} s"
            if "decoder_s" in files:
                msg += f", decoder (SamOnnxModel) {files['decoder_s']:.1f} s"
            size = files["encoder"].stat().st_size / 2 ** 20
            print(msg + f"; encoder file {size:.0f} MB", flush=True)
            notes.append(msg)
            dec_path = files.get("decoder")
            if args.ort:
                if have("onnxruntime"):
                    peers["ort"] = PeerSam(OrtRunner(files["encoder"]), OrtRunner(dec_path) if dec_path else None, sam2)
                else:
                    notes.append("onnxruntime not installed: ort rows skipped")
            if args.openvino:
                if have("openvino"):
                    f32 = OvRunner(files["encoder"], "f32")
                    peers["ov_f32"] = PeerSam(f32, OvRunner(dec_path, "f32") if dec_path else None, sam2)
                    default = OvRunner(files["encoder"], None)
                    note = f"{name}: OpenVINO default inference precision on this CPU: {default.precision}"
                    if "32" in default.precision:
                        note += " (the same as ov_f32: ov_default not timed)"
                        del default
                    else:
                        peers["ov_default"] = PeerSam(default, OvRunner(dec_path, None) if dec_path else None, sam2)
                    print(note, flush=True)
                    notes.append(note)
                else:
                    notes.append("openvino not installed: ov rows skipped")

    if sam2:
        from sam2.sam2_image_predictor import SAM2ImagePredictor as RefPredictor

        from samlabel.sam.sam2.image_predictor import SAM2ImagePredictor as OurPredictor
    else:
        if name == "vit_t":
            from mobile_sam import SamPredictor as RefPredictor
        else:
            from segment_anything import SamPredictor as RefPredictor
        from samlabel.sam import SamPredictor as OurPredictor
    from samlabel.sam.interactive import DecoderSession, Prompt

    rp, op = RefPredictor(ref), OurPredictor(ours)
    op_ov = None
    if args.samlabel_openvino and have("openvino"):  # samlabel's own encoder on its OpenVINO engine (f32)
        import copy

        from samlabel.sam.fast.openvino_engine import use_openvino

        t = time.perf_counter()
        ours_ov = use_openvino(copy.deepcopy(ours), "f32", cache_dir=tmp / "samlabel-openvino")
        info = ours_ov.image_encoder._samlabel_openvino.info
        msg = (f"{name}: samlabel's OpenVINO engine (f32) ready in {time.perf_counter() - t:.1f} s "
               f"(export + conversion {info.export_s:.1f} s, compile {info.compile_s:.1f} s)")
        print(msg, flush=True)
        notes.append(msg)
        op_ov = OurPredictor(ours_ov)
    first_image = next(iter(IMAGES))
    for image_name, (h, w, seed) in IMAGES.items():
        img = random_image(h, w, seed)
        set_fns = {"samlabel": lambda: op.set_image(img), "reference": lambda: rp.set_image(img)}
        if op_ov is not None:
            set_fns["samlabel_ov"] = lambda: op_ov.set_image(img)
        for k, peer in peers.items():
            set_fns[k] = (lambda p=peer: p.set_image(img))
        print(f"--- {name} {image_name}: set_image x{args.enc_reps} ({', '.join(set_fns)})", flush=True)
        with torch.inference_mode():  # (every side ends on this image: the rounds ran them all)
            t_set = rounds(set_fns, args.enc_reps, warmup=args.warmup if image_name == first_image else 0)
        # embedding deviation: every runtime on the reference's own preprocessed input
        with torch.inference_mode():
            if sam2:
                x = rp._transforms(img)[None]
                ref_emb = rp._features["image_embed"].numpy()
                ref_hr = [f.numpy() for f in rp._features["high_res_feats"]]
                our_emb = op.get_image_embedding().numpy()
                our_hr = [f.numpy() for f in op._features["high_res_feats"]]
            else:
                x = ref.preprocess(rp.input_image_torch if hasattr(rp, "input_image_torch") else
                                   torch.as_tensor(rp.transform.apply_image(img)).permute(2, 0, 1)[None].float())
                ref_emb = rp.features.numpy()
                our_emb = op.get_image_embedding().numpy()
                our_hr = ref_hr = []
        dev = {"samlabel": float(np.abs(our_emb - ref_emb).max())}
        if our_hr:
            dev["samlabel"] = max(dev["samlabel"], *(float(np.abs(a - b).max()) for a, b in zip(our_hr, ref_hr)))
        if op_ov is not None:
            with torch.inference_mode():
                dev["samlabel_ov"] = float(np.abs(op_ov.get_image_embedding().numpy() - ref_emb).max())
                if sam2:
                    dev["samlabel_ov"] = max(dev["samlabel_ov"], *(float(np.abs(a.numpy() - b).max()) for a, b in
                                                                   zip(op_ov._features["high_res_feats"], ref_hr)))
        e2e = {}
        for k, peer in peers.items():
            outs = peer.encoder({"image": x.numpy()})
            dev[k] = float(np.abs(outs[0] - ref_emb).max())
            for a, b in zip(outs[1:], ref_hr):
                dev[k] = max(dev[k], float(np.abs(a - b).max()))
            e2e[k] = float(np.abs(peer.embedding[0] - ref_emb).max())
        scale = float(np.abs(ref_emb).max())
        dev_txt = ", ".join(f"{k} {v:.1e}" for k, v in dev.items())
        e2e_txt = ", ".join(f"{k} {v:.1e}" for k, v in e2e.items())
        print(f"    embedding max|dev| vs reference (same input; max|ref| {scale:.2f}"
              f"{', high-res maps included' if sam2 else ''}): {dev_txt}", flush=True)
        if e2e:
            print(f"    end to end with the peers' OpenCV preprocessing: {e2e_txt}", flush=True)
        table.append((name, image_name, "set_image", t_set, f"emb max|dev| {dev_txt}"))
        if sam2:
            continue

        # predict: one point, multimask, full-size masks
        H, W = img.shape[:2]
        pt, lb = np.array([[W * 0.55, H * 0.45]]), np.array([1])
        pred_fns = {"samlabel": lambda: op.predict(pt, lb, multimask_output=True),
                    "reference": lambda: rp.predict(pt, lb, multimask_output=True)}
        for k, peer in peers.items():
            if peer.decoder is not None:
                pred_fns[k] = (lambda p=peer: p.predict(pt))
        with torch.inference_mode():
            t_pred = rounds(pred_fns, args.reps, warmup=args.warmup)
            outs = {k: fn() for k, fn in pred_fns.items()}
        rm, rs = outs["reference"][0], outs["reference"][1]
        d_txt = ", ".join(f"{k} scores {np.abs(o[1] - rs).max():.1e} px {(o[0] != rm).mean():.1e}"
                          for k, o in outs.items() if k != "reference")
        print(f"    predict vs reference: {d_txt}", flush=True)
        table.append((name, image_name, "predict", t_pred, d_txt))

        # hover: samlabel's GUI decode + exact mask at 1:1; the others predict + best mask
        session = DecoderSession(ours, op.embedding)
        rng = np.random.default_rng(3)
        pts = [np.array([[x_, y_]]) for x_, y_ in zip(rng.uniform(0, W, 64), rng.uniform(0, H, 64))]
        state = {"i": 0}

        def point():
            return pts[state["i"] % len(pts)]

        region, out_size = (0, 0, W, H), (H, W)

        def ours_hover():
            pred = session.decode(Prompt(points=point(), labels=[1]), image_only=True)
            return pred.mask(pred.best_index(), region=region, out_size=out_size)

        def ref_hover():
            m, s, _ = rp.predict(point(), lb, multimask_output=True)
            return m[int(np.argmax(s))]

        hov_fns = {"samlabel": ours_hover, "reference": ref_hover}
        for k, peer in peers.items():
            if peer.decoder is not None:
                hov_fns[k] = (lambda p=peer: p.hover(point()))

        # each round uses a new point for all runtimes
        names = list(hov_fns)
        with torch.inference_mode():
            for _ in range(args.warmup + 1):
                for n in names:
                    hov_fns[n]()
            times = {n: [] for n in names}
            ious = {n: [] for n in names if n != "reference"}
            for r in range(args.hover_reps):
                state["i"] = r
                order = names[r % len(names):] + names[:r % len(names)]
                res = {}
                for n in (order if r % 2 == 0 else order[::-1]):
                    t = time.perf_counter()
                    res[n] = hov_fns[n]()
                    times[n].append(time.perf_counter() - t)
                for n in ious:
                    a, b = res[n], res["reference"]
                    u = np.logical_or(a, b).sum()
                    ious[n].append(1.0 if u == 0 else float(np.logical_and(a, b).sum() / u))
        t_hov = {n: statistics.median(ts) for n, ts in times.items()}
        i_txt = ", ".join(f"{k} min IoU {min(v):.4f}" for k, v in ious.items())
        print(f"    hover vs reference best mask: {i_txt}", flush=True)
        table.append((name, image_name, "hover", t_hov, i_txt))


def markdown(table: list) -> str:
    head = ("model", "image", "operation", *(f"{r} ms" for r in RUNTIMES),
            "samlabel vs best(ORT, OV f32)", "samlabel_ov vs best(ORT, OV f32)", "samlabel vs ORT",
            "samlabel vs reference")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, image, op, t, _ in table:
        ours = t.get("samlabel")
        peers = [t[k] for k in ("ort", "ov_f32") if k in t]
        best = min(peers) if peers else None
        cells = [name, image, op, *(fmt_ms(t.get(r)) for r in RUNTIMES),
                 ratio(ours, best), ratio(t.get("samlabel_ov"), best), ratio(ours, t.get("ort")),
                 ratio(ours, t.get("reference"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="test_tiny only, 1 repeat (< 2 min)")
    ap.add_argument("--models", default=None, help="comma list (default vit_t,vit_b; add sam2.1_hiera_tiny for SAM 2.1 encoder rows)")
    ap.add_argument("--enc-reps", type=int, default=None, help="set_image rounds (default 3; vit_t 5)")
    ap.add_argument("--reps", type=int, default=None, help="predict rounds (default 15)")
    ap.add_argument("--hover-reps", type=int, default=None, help="hover rounds (default 30)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--no-ort", dest="ort", action="store_false")
    ap.add_argument("--no-openvino", dest="openvino", action="store_false")
    ap.add_argument("--no-samlabel-openvino", dest="samlabel_openvino", action="store_false",
                    help="leave out the samlabel_ov rows (samlabel's encoder on its OpenVINO engine, f32)")
    ap.add_argument("--malloc-tuning", action="store_true",
                    help="samlabel's glibc allocator thresholds for the whole process (default: glibc's)")
    ap.add_argument("--markdown", default=None, help="also write the table to this file")
    ap.add_argument("--keep-onnx", default=None, help="export into this folder and keep the files")
    args = ap.parse_args(argv)
    models = args.models.split(",") if args.models else (["test_tiny"] if args.quick else
                                                         ["vit_t", "vit_b"])
    enc_reps_given = args.enc_reps
    if args.reps is None:
        args.reps = 1 if args.quick else 15
    if args.hover_reps is None:
        args.hover_reps = 2 if args.quick else 30

    from samlabel.sam.runtime.cpu import configure_allocator, configure_threads

    configure_threads(THREADS)  # torch: 2 intra-op threads, 1 inter-op thread
    if args.malloc_tuning:
        configure_allocator()
    torch.set_grad_enabled(False)
    header = [cpu_line(), versions() + f"; {torch.get_num_threads()} torch threads, ORT/OpenVINO {THREADS} threads",
              "start: " + load_average()]
    print("\n".join(header), flush=True)
    for mod, label in (("onnxruntime", "ort"), ("openvino", "ov_f32/ov_default")):
        if not have(mod):
            print(f"note: {mod} is not installed: the {label} rows are skipped", flush=True)

    table: list = []
    notes: list = []
    ctx = tempfile.TemporaryDirectory(prefix="bench_peers_")
    tmp = Path(args.keep_onnx) if args.keep_onnx else Path(ctx.name)
    tmp.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        for name in models:
            args.enc_reps = enc_reps_given or (1 if args.quick else (5 if name in ("vit_t", "sam2.1_hiera_tiny") else 3))
            bench_model(name, args, tmp, table, notes)
    finally:
        ctx.cleanup()
    md = markdown(table)
    footer = [f"end: {load_average()}; total {time.perf_counter() - t0:.0f} s", *notes]
    print("\n" + "\n".join(header[:2]) + "\n\n" + md + "\n")
    print("correctness:")
    for name, image, op, _, delta in table:
        print(f"  {name} {image} {op}: {delta}")
    print("\n".join(footer))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(header) + "\n\n" + md + "\n\n" + "\n".join(footer) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
