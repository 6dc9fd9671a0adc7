"""int8 on the OpenVINO engine: samlabel's exported encoder quantised by NNCF on calibration images.

Where the CPU has no native bf16 (AVX2 only, or AVX-512 without BF16 such as Intel's Ice Lake,
whose AVX512-VNNI multiplies int8), the reduced-precision encoder is int8. The float32 IR that
:mod:`samlabel.sam.fast.openvino_cache` exported is quantised with NNCF's post-training
quantisation (``nncf.quantize``, transformer preset: SmoothQuant, int8 weights and activations in
the products and convolutions, fast bias correction), calibrated on :func:`calibration_inputs`:
crops and flips of the bundled sample photo, or images the caller gives, preprocessed as
``set_image`` does. OpenVINO then runs the quantised operations in int8 and the rest in float32.

The quantised IR is a cache entry of its own, keyed (:func:`int8_key`) by the float32 entry's key,
the calibration inputs, NNCF's version and :data:`QUANT_VERSION`, and written with the same
guarantees as an export (:func:`samlabel.sam.fast.openvino_cache.prepare_entry`: a unique
temporary folder, fsync, manifest, rename; a failure remembered). Quantising takes passes of the
float32 encoder over the calibration images: 12-100 s on 2 cores for vit_t / SAM 2.1 tiny / small /
vit_b, once per weights. Neither OpenVINO nor NNCF sends usage telemetry meanwhile
(:func:`~samlabel.sam.fast.openvino_cache.quiet_telemetry`).

Agreement with fp32 and speed: ``benchmarks/bench_precision.py --precisions ov-int8`` and
docs/performance.md ("OpenVINO engine").
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from samlabel.sam.fast.openvino_cache import check_cancel, input_size, is_sam2, quiet_telemetry, save_ir

log = logging.getLogger(__name__)

QUANT_VERSION = 2  # bump when how the int8 IR is made changes: older int8 entries are then not used


def nncf_available() -> tuple[bool, str]:
    """``(available, reason)``: whether NNCF, which makes the int8 IR, imports here."""
    try:
        import nncf  # noqa: F401
    except ImportError as exc:
        return False, f"the nncf package is not installed ({exc}); pip install 'samlabel[openvino]'"
    return True, "nncf " + _nncf_version()


def _nncf_version() -> str:
    import nncf

    return str(getattr(nncf, "__version__", "unknown"))


def calibration_images() -> list[np.ndarray]:
    """The default calibration set: the six :func:`calibration_views` of the bundled sample photo."""
    import cv2

    from samlabel.paths import resource_path

    path = resource_path("sample", "coffee.jpg")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"{path}: the calibration photo is missing or unreadable")
    return calibration_views(np.ascontiguousarray(bgr[:, :, ::-1]))


def calibration_views(rgb: np.ndarray) -> list[np.ndarray]:
    """Six RGB uint8 views of one ``(H, W, 3)`` photo: the whole photo, a square, a 16:9 and a
    portrait crop, the photo mirrored, a zoomed-in corner; so the activation ranges come from a
    natural image at several shapes and scales."""
    import cv2

    h, w = rgb.shape[:2]
    side = min(h, w)
    wide_h = min(h, w * 9 // 16)
    tall_w = min(w, h * 3 // 4)
    views = [
        rgb,
        rgb[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side],
        rgb[(h - wide_h) // 2:(h - wide_h) // 2 + wide_h],
        rgb[:, (w - tall_w) // 2:(w - tall_w) // 2 + tall_w],
        rgb[:, ::-1],
        cv2.resize(rgb[: h * 2 // 3, : w * 2 // 3], (w, h), interpolation=cv2.INTER_LINEAR),
    ]
    return [np.ascontiguousarray(v) for v in views]


def calibration_inputs(model, images: Optional[Sequence[np.ndarray]] = None) -> list[np.ndarray]:
    """``images`` (RGB uint8 ``(H, W, 3)``; default :func:`calibration_images`) as the encoder
    receives them: ``(1, 3, S, S)`` float32, resized, normalised and padded (SAM 1) or stretched
    (SAM 2) as ``set_image`` does."""
    from samlabel.sam.image_input import to_rgb_uint8
    from samlabel.sam.sam1.resizer import ImageResizer

    images = calibration_images() if images is None else list(images)
    if not images:
        raise ValueError("int8 calibration needs at least one image")
    size = input_size(model)
    out = []
    with torch.no_grad():
        for image in images:
            rgb = to_rgb_uint8(image, "RGB", "RGB")
            if is_sam2(model):
                from samlabel.sam.embedding import _sam2_transforms

                x = _sam2_transforms(model)(rgb)[None]
            else:
                resized = ImageResizer(size).scale_image(rgb)
                x = model.preprocess(torch.as_tensor(resized).permute(2, 0, 1).contiguous()[None].to(model.device))
            out.append(np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy()))
    return out


def overflow_fix() -> str:
    """How many bits the int8 weights use (NNCF's ``OverflowFix``): ``"first_layer_only"`` (8 bits
    except the first product, NNCF's default) where the CPU has int8 dot products (VNNI, AMX);
    ``"enable"`` (7 bits everywhere) where it has not.

    Why: without VNNI, x86 multiplies the unsigned 8-bit activations by the signed 8-bit weights
    into 16-bit sums of pairs that saturate (``vpmaddubsw``: 2 x 255 x 127 > 32767). NNCF's default
    keeps only the first product safe; measured on an AVX2-only AMD EPYC, MobileSAM's embedding
    then moved by 21 % (relative L2; SAM 2.1 tiny 20 %, p5 mask IoU 0.83 and 0.92) against 4.5 %
    with 7-bit weights, which cannot saturate (2 x 255 x 64 < 32767)."""
    from samlabel.sam.fast.precision import int8_dot_products

    return "first_layer_only" if int8_dot_products()[0] else "enable"


def int8_key(f32_key: str, inputs: Sequence[np.ndarray], fix: Optional[str] = None) -> str:
    """The int8 entry's name: the float32 entry it is made from, the calibration inputs, NNCF and
    the weights' bits (:func:`overflow_fix`; the CPU's own unless ``fix`` is given)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"int8|q{QUANT_VERSION}|{f32_key}|{_nncf_version()}|{fix or overflow_fix()}|".encode())
    for x in inputs:
        h.update(f"{x.shape}|".encode())
        h.update(memoryview(np.ascontiguousarray(x, dtype=np.float32)).cast("B"))
    return h.hexdigest()


def quantize_to(ir, folder: Path, inputs: Sequence[np.ndarray], progress: Callable[[str], None],
                cancel: Optional[Callable[[], bool]] = None, fix: Optional[str] = None) -> None:
    """Quantise the float32 OpenVINO model ``ir`` on ``inputs`` and save it in ``folder`` (with its
    manifest). ``progress(message)`` hears each calibration image; ``cancel()`` is asked before
    each (:class:`~samlabel.sam.errors.Cancelled` out of NNCF's passes). ``fix``: the weights'
    bits (:func:`overflow_fix`; the CPU's own by default)."""
    quiet_telemetry()  # before NNCF is imported
    import nncf

    n = len(inputs)
    progress(f"Quantising the image encoder to int8 on {n} calibration images (first use: about a minute)…")
    seen = [0]

    def feed(x: np.ndarray) -> np.ndarray:
        check_cancel(cancel)
        seen[0] += 1
        progress(f"Quantising the image encoder to int8: calibration pass, image {(seen[0] - 1) % n + 1} of {n}…")
        return x

    kept = attention_projections(ir)
    ignored = {"ignored_scope": nncf.IgnoredScope(names=kept, validate=False)} if kept else {}
    nncf_log = logging.getLogger("nncf")
    level = nncf_log.level
    nncf_log.setLevel(max(level, logging.WARNING))  # not a line per float32 projection
    try:
        advanced = nncf.AdvancedQuantizationParameters(overflow_fix=nncf.OverflowFix(fix or overflow_fix()))
        quantized = nncf.quantize(ir, nncf.Dataset(list(inputs), feed), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=n, fast_bias_correction=True, advanced_parameters=advanced, **ignored)
    finally:
        nncf_log.setLevel(level)
    check_cancel(cancel)
    save_ir(quantized, folder)


def attention_projections(ir) -> list[str]:
    """The output projections of every attention in ``ir`` (the product with constant weights
    that follows it), by name: they stay float32.

    Why: an attention's output is an average of values, so it varies little from token to token
    around a per-channel offset (most of all over SAM 2's and ViT's 4,096-key global attention).
    One int8 range per tensor, fitted to the calibration images, keeps the offsets and loses the
    variations, and an image whose offsets fall outside the fitted range is clipped. Measured on
    SAM 2.1 tiny, calibrated on other photos than the one measured: the embedding moved by 12 %
    (relative L2) with every projection in int8, 4 % with the three global blocks' in float32 and
    2.2 % with all twelve (as much as the high-resolution maps, which never went through a global
    block), for 5 % more encoder time. Found in the graph: from each ``ScaledDotProductAttention``
    or ``Softmax`` downstream, through the product with the values, reshapes and transposes, to the
    first product with constant weights.
    """
    names = []
    for op in ir.get_ops():
        if op.get_type_name() in ("ScaledDotProductAttention", "Softmax"):
            projection = _next_weighted_product(op)
            if projection is not None and projection.get_friendly_name() not in names:
                names.append(projection.get_friendly_name())
    return names


def _next_weighted_product(op, steps: int = 8):
    """The first ``MatMul`` with a constant right-hand side after ``op``, following its first consumer."""
    node = op
    for _ in range(steps):
        consumers = [t.get_node() for out in node.outputs() for t in out.get_target_inputs()]
        if not consumers:
            return None
        node = consumers[0]
        if node.get_type_name() == "MatMul" and node.input_value(1).get_node().get_type_name() == "Constant":
            return node
    return None
