"""Meta's own EdgeTAM checkpoint layout (``edgetam.pt``: ``{"model": state_dict}`` in Meta's names).

Meta publishes no small EdgeTAM and its EdgeTAM package is not installable here, so a
Meta-format file is built without our key map (``samlabel.sam.modeling.edgetam.meta_mapping``):

- *the names* are those of Meta's modules: Meta's ``sam2`` package (``SAM2Base`` with its image
  encoder / FPN neck, memory attention, memory encoder and SAM heads, built directly with
  ``edgetam.yaml``'s settings: no ``obj_ptr_tpos_proj``, no ``no_obj_embed_spatial``), timm's
  ``repvit_m1`` features-only model as ``image_encoder.trunk.body`` (as Meta's
  ``TimmBackbone``), and a parameter-only skeleton of Meta's ``sam2/modeling/perceiver.py``
  (its attributes: ``latents``, ``latents_2d``, ``layers.N.attn.{norm_x,norm_latents,to_q,to_kv,to_out}``,
  ``ff`` as a Sequential, ``self_attn.{norm,to_q,to_kv,to_out}``, ``self_ff``, ``norm``); that
  skeleton is the one part re-typed from Meta's source;
- *the tensors* come from a seeded, perturbed Hugging Face ``EdgeTamVideoModel`` (small config,
  the released model's flags: ``enable_temporal_pos_encoding_for_object_pointers=False``,
  ``enable_occlusion_spatial_embedding=False``, as transformers' ``convert_edgetam_video_to_hf.py``
  builds it), each Meta name looked up under the Hugging Face name that the published
  conversion rules give it (re-expressed below as ``meta_to_hf_key``), ``to_kv`` being the
  concatenation of ``k_proj`` and ``v_proj`` and ``point_embeddings.i`` the rows of
  ``point_embed``. Every Hugging Face tensor must be used exactly once, and every name must
  be one of Meta's modules', so a wrong rule fails here rather than in our map.

Then: the file loads through ``build_edgetam_video_predictor`` (layout and released config
detected) to a model whose every tensor, image features and tracked masks are *exactly*
those of loading the Hugging Face file; a clip tracked with it matches the Hugging Face
reference with the released flags (within the tolerances of ``test_edgetam_video.py``); a
truncated file, an unknown key, a missing key and a bad ``to_kv`` are refused with
``CheckpointError`` naming the file and the key in Meta's names.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from samlabel.sam.errors import CheckpointError

pytestmark = pytest.mark.reference

if importlib.util.find_spec("transformers.models.edgetam_video") is None or importlib.util.find_spec("timm") is None:
    pytest.skip("transformers with models.edgetam_video (and timm) is needed", allow_module_level=True)
try:
    import sam2.modeling.sam2_base  # noqa: F401  (Meta's sam2 package: the names of the shared modules)
except Exception as exc:  # ImportError, or hydra failing to initialise
    pytest.skip(f"Meta's sam2 package is not importable ({type(exc).__name__}: {exc})", allow_module_level=True)


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(f"_edgetam_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


video = _sibling("test_edgetam_video")  # its small configs, perturbation, clip and reference runs
NUM_FRAMES = video.NUM_FRAMES
OBJ_SCORE_SHIFT = -0.6  # for these weights (seed 1): both objects found on every frame, scores 0.07 - 0.6


def our_config():
    from samlabel.sam.modeling.edgetam.meta_mapping import released_config

    return released_config(video.small_config())


# --- Meta's module names ------------------------------------------------------------------------------


class _MetaPerceiverAttention(nn.Module):
    """Parameters of Meta's ``PerceiverAttention`` (cross-attention; ``norm_x`` / ``norm_latents``)."""

    def __init__(self, dim: int, dim_head: int, heads: int) -> None:
        super().__init__()
        inner = dim_head * heads
        self.norm_x = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)


class _MetaSelfAttention(nn.Module):
    """Parameters of Meta's perceiver ``Attention`` (self-attention; one ``norm``)."""

    def __init__(self, dim: int, dim_head: int, heads: int) -> None:
        super().__init__()
        inner = dim_head * heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)


def _meta_feed_forward(dim: int, inner: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, inner, bias=False), nn.GELU(), nn.Linear(inner, dim, bias=False))


class _MetaPerceiverLayer(nn.Module):
    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.attn = _MetaPerceiverAttention(dim, dim, 1)
        self.ff = _meta_feed_forward(dim, inner)
        self.self_attn = _MetaSelfAttention(dim, dim, 1)
        self.self_ff = _meta_feed_forward(dim, inner)


class _MetaPerceiver(nn.Module):
    """Parameters of Meta's ``PerceiverResampler`` (``use_self_attn=True``)."""

    def __init__(self, dim: int, depth: int, num_latents: int, num_latents_2d: int, inner: int) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim))
        self.latents_2d = nn.Parameter(torch.randn(num_latents_2d, dim))
        self.layers = nn.ModuleList(_MetaPerceiverLayer(dim, inner) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)


class _MetaTimmTrunk(nn.Module):
    """Meta's ``TimmBackbone``: the timm features-only model as ``body``."""

    def __init__(self) -> None:
        super().__init__()
        import timm

        self.body = timm.create_model("repvit_m1", pretrained=False, in_chans=3, features_only=True,
                                      out_indices=(0, 1, 2, 3), embed_dim=video.EMBED_DIM, depth=video.DEPTH)
        self.channel_list = self.body.feature_info.channels()[::-1]


def meta_module_state_dict() -> dict[str, torch.Tensor]:
    """The state dict of Meta's modules for the small config (random values: names and shapes)."""
    from sam2.modeling.backbones.image_encoder import FpnNeck, ImageEncoder
    from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer
    from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
    from sam2.modeling.position_encoding import PositionEmbeddingSine
    from sam2.modeling.sam2_base import SAM2Base
    from sam2.modeling.sam.transformer import RoPEAttention

    d, mem = video.D_MODEL, 64
    trunk = _MetaTimmTrunk()
    neck = FpnNeck(PositionEmbeddingSine(d), d, trunk.channel_list, fpn_top_down_levels=[2, 3], fpn_interp_model="nearest")

    def attention(**kw):
        return RoPEAttention(embedding_dim=d, num_heads=1, downsample_rate=1, dropout=0.1, rope_theta=10000.0, **kw)

    layer = MemoryAttentionLayer("relu", attention(kv_in_dim=mem, rope_k_repeat=True), d, 64, 0.1, False, True, False,
                                 attention())
    encoder = MemoryEncoder(mem, MaskDownSampler(embed_dim=d, kernel_size=3, stride=2, padding=1),
                            Fuser(CXBlock(d, kernel_size=7, padding=3, layer_scale_init_value=1e-6, use_dwconv=True), 2),
                            PositionEmbeddingSine(mem), in_dim=d)
    # edgetam.yaml's settings (the SAM heads' widths are SAM2Base's fixed ones: names only below)
    model = SAM2Base(ImageEncoder(trunk, neck, scalp=1), MemoryAttention(d, True, layer, 2), encoder,
                     image_size=video.IMAGE_SIZE, use_high_res_features_in_sam=True, directly_add_no_mem_embed=True,
                     multimask_output_in_sam=True, iou_prediction_use_sigmoid=True, use_obj_ptrs_in_encoder=True,
                     add_tpos_enc_to_obj_ptrs=False, only_obj_ptrs_in_the_past_for_eval=True, pred_obj_scores=True,
                     pred_obj_scores_mlp=True, fixed_no_obj_ptr=True, multimask_output_for_tracking=True,
                     use_multimask_token_for_obj_ptr=True, use_mlp_for_obj_ptr_proj=True,
                     use_mask_input_as_output_without_sam=True)
    model.spatial_perceiver = _MetaPerceiver(mem, 2, 8, 16, 32)
    return model.state_dict()


# --- the published conversion rules (convert_edgetam_video_to_hf.py), Meta -> Hugging Face names ----------

_SUBSTRINGS = (  # applied in this order, each once, to every key
    ("iou_prediction_head.layers.0", "iou_prediction_head.proj_in"),
    ("iou_prediction_head.layers.1", "iou_prediction_head.layers.0"),
    ("iou_prediction_head.layers.2", "iou_prediction_head.proj_out"),
    ("mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1"),
    ("mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm"),
    ("mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2"),
    ("mask_downscaling.0", "mask_embed.conv1"), ("mask_downscaling.1", "mask_embed.layer_norm1"),
    ("mask_downscaling.3", "mask_embed.conv2"), ("mask_downscaling.4", "mask_embed.layer_norm2"),
    ("mask_downscaling.6", "mask_embed.conv3"),
    ("dwconv", "depthwise_conv"), ("pwconv", "pointwise_conv"), ("fuser", "memory_fuser"),
    ("point_embeddings", "point_embed"),
    ("pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"),
    ("obj_ptr_tpos_proj", "temporal_positional_encoding_projection_layer"),
    ("no_obj_embed_spatial", "occlusion_spatial_embedding_parameter"),
    ("sam_prompt_encoder", "prompt_encoder"), ("sam_mask_decoder", "mask_decoder"),
    ("maskmem_tpos_enc", "memory_temporal_positional_encoding"), ("gamma", "scale"),
    ("image_encoder.neck", "vision_encoder.neck"), ("image_encoder", "vision_encoder.backbone"),
    ("pix_feat_proj", "feature_projection"), ("no_mem_embed", "no_memory_embedding"),
    ("no_mem_pos_enc", "no_memory_positional_encoding"), ("obj_ptr", "object_pointer"), (".norm", ".layer_norm"),
    ("trunk.", ""), ("out_proj", "o_proj"), ("body.", "timm_model."),
    ("ff.0", "mlp.layer_norm"), ("ff.1", "mlp.up_proj"), ("ff.3", "mlp.down_proj"),
)
_PERCEIVER = (  # then, each tried once in order (re.match / re.sub)
    (r"spatial_perceiver.latents", "spatial_perceiver.latents_1d"),
    (r"spatial_perceiver.latents_1d_2d", "spatial_perceiver.latents_2d"),
    (r"spatial_perceiver.layers.(\d+).attn.layer_norm_x", r"spatial_perceiver.layers.\1.layer_norm_input"),
    (r"spatial_perceiver.layers.(\d+).attn.layer_norm_latents", r"spatial_perceiver.layers.\1.layer_norm_latents"),
    (r"spatial_perceiver.layers.(\d+).self_attn.layer_norm", r"spatial_perceiver.layers.\1.layer_norm_self"),
    (r"spatial_perceiver.layers.(\d+).attn.to_q", r"spatial_perceiver.layers.\1.cross_attention.q_proj"),
    (r"spatial_perceiver.layers.(\d+).attn.to_kv", r"spatial_perceiver.layers.\1.cross_attention.KV"),
    (r"spatial_perceiver.layers.(\d+).attn.to_out", r"spatial_perceiver.layers.\1.cross_attention.o_proj"),
    (r"spatial_perceiver.layers.(\d+).self_attn.to_q", r"spatial_perceiver.layers.\1.self_attention.q_proj"),
    (r"spatial_perceiver.layers.(\d+).self_attn.to_kv", r"spatial_perceiver.layers.\1.self_attention.KV"),
    (r"spatial_perceiver.layers.(\d+).self_attn.to_out", r"spatial_perceiver.layers.\1.self_attention.o_proj"),
)
_THREE_LAYER_MLP = {"0": "proj_in", "1": "layers.0", "2": "proj_out"}


def meta_to_hf_key(key: str) -> str:
    """The Hugging Face name of Meta's ``key`` under the published rules (``...KV.weight``: a
    ``to_kv``, whose halves are ``k_proj`` and ``v_proj``)."""
    for old, new in _SUBSTRINGS:
        key = key.replace(old, new)
    for pattern, repl in _PERCEIVER:
        if re.match(pattern, key):
            key = re.sub(pattern, repl, key)
    if key.startswith("memory_attention"):
        key = key.replace("linear1", "mlp.up_proj").replace("linear2", "mlp.down_proj")
    m = re.match(r"mask_decoder\.transformer\.layers\.\d+\.mlp\.layers\.(\d)", key)
    if m:
        key = key.replace(f"mlp.layers.{m[1]}", "mlp.proj_in" if m[1] == "0" else "mlp.proj_out")
    for pattern in (r"mask_decoder\.pred_obj_score_head\.layers\.(\d)", r".*output_hypernetworks_mlps\.\d+\.layers\.(\d)",
                    r"object_pointer_proj\.layers\.(\d)"):
        m = re.match(pattern, key)
        if m:
            key = key.replace(f"layers.{m[1]}", _THREE_LAYER_MLP[m[1]])
    if re.match(r"vision_encoder\.neck\.convs\.\d+\.conv", key):
        key = key.replace(".conv.", ".")
    if key.startswith("memory_encoder.o_proj"):
        key = key.replace(".o_proj.", ".projection.")
    m = re.match(r"memory_encoder\.mask_downsampler\.encoder\.(\d+)", key)
    if m:
        n = int(m[1])
        new = "final_conv" if n == 12 else f"layers.{n // 3}." + ("conv" if n % 3 == 0 else "layer_norm")
        key = key.replace(f"encoder.{n}", new)
    return key


def hf_to_meta_state_dict(hf: dict[str, torch.Tensor], meta_names) -> dict[str, torch.Tensor]:
    """Meta's state dict with the Hugging Face tensors (see the module docstring); every
    Hugging Face tensor used once (the Fourier matrix stored twice there: once)."""
    out, used = {}, set()
    for name in meta_names:
        hf_name = meta_to_hf_key(name)
        if hf_name.endswith(".KV.weight"):
            k, v = hf_name.replace(".KV.", ".k_proj."), hf_name.replace(".KV.", ".v_proj.")
            out[name] = torch.cat([hf[k], hf[v]], dim=0)
            used |= {k, v}
        elif (m := re.fullmatch(r"prompt_encoder\.point_embed\.(\d)\.weight", hf_name)):
            i = int(m[1])
            out[name] = hf["prompt_encoder.point_embed.weight"][i : i + 1].clone()
            used.add("prompt_encoder.point_embed.weight")
        else:
            assert hf_name in hf, f"Meta's {name} -> {hf_name}: not a Hugging Face EdgeTamVideoModel tensor"
            out[name] = hf[hf_name]
            used.add(hf_name)
    left = set(hf) - used - {"shared_image_embedding.positional_embedding"}
    assert not left, f"Hugging Face tensors with no Meta name: {sorted(left)}"
    return {k: v.clone().contiguous() for k, v in out.items()}


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """``(reference model, HF safetensors file, Meta .pt file, Meta state dict, Meta module state dict)``."""
    from safetensors.torch import save_file
    from transformers import EdgeTamVideoModel

    cfg = video.reference_config()
    cfg.enable_temporal_pos_encoding_for_object_pointers = False  # the released model (convert script's get_config)
    cfg.enable_occlusion_spatial_embedding = False
    torch.manual_seed(0)
    ref = video.perturb_(EdgeTamVideoModel(cfg), 1).eval()
    with torch.no_grad():
        ref.prompt_encoder.shared_embedding.positional_embedding.copy_(ref.shared_image_embedding.positional_embedding)
        # object scores of order 0.1: the objects are tracked (masks, not the no-object constant)
        ref.mask_decoder.pred_obj_score_head.proj_out.bias.sub_(OBJ_SCORE_SHIFT)
    hf = {k: v.contiguous() for k, v in ref.state_dict().items()}
    assert not any("temporal_positional_encoding_projection" in k or "occlusion_spatial" in k for k in hf)
    folder = tmp_path_factory.mktemp("edgetam_meta")
    save_file(hf, str(folder / "model.safetensors"))
    meta_modules = meta_module_state_dict()
    meta = hf_to_meta_state_dict(hf, list(meta_modules))
    torch.save({"model": meta}, folder / "edgetam.pt")
    return ref, folder / "model.safetensors", folder / "edgetam.pt", meta, meta_modules


@pytest.fixture(scope="module")
def both(files):
    """Our predictor loaded from the Meta file and from the Hugging Face file (layout detected)."""
    from samlabel.sam.video.edgetam_video_predictor import build_edgetam_video_predictor

    return (build_edgetam_video_predictor(files[2], config=our_config(), fill_hole_area=0),
            build_edgetam_video_predictor(files[1], config=our_config(), fill_hole_area=0))


# --- the key source ----------------------------------------------------------------------------------


def test_meta_names_are_metas_modules(files):
    """The built file has exactly the names of Meta's modules, with their shapes where the
    architecture is configured alike (the SAM heads of ``SAM2Base`` have fixed widths)."""
    _, _, _, meta, modules = files
    assert sorted(meta) == sorted(modules)
    assert any(k.startswith("image_encoder.trunk.body.stages_3.") for k in meta)
    assert "spatial_perceiver.layers.1.self_attn.to_kv.weight" in meta and "spatial_perceiver.latents" in meta
    assert "obj_ptr_tpos_proj.weight" not in meta and "no_obj_embed_spatial" not in meta
    for k, v in modules.items():
        if not k.startswith(("sam_mask_decoder.", "sam_prompt_encoder.")):
            assert tuple(meta[k].shape) == tuple(v.shape), k


def test_rule_errors_are_caught():
    """A wrong rule cannot slip through: an unknown Meta name is refused by the builder."""
    with pytest.raises(AssertionError, match="not a Hugging Face EdgeTamVideoModel tensor"):
        hf_to_meta_state_dict({"a.weight": torch.zeros(1)}, ["spatial_perceiver.layers.0.attn.norm_q.weight"])
    with pytest.raises(AssertionError, match="with no Meta name"):
        hf_to_meta_state_dict({"a.weight": torch.zeros(1), "b": torch.zeros(1)}, ["a.weight"])


# --- loading ---------------------------------------------------------------------------------------------


def test_meta_file_loads_exactly_as_the_hf_file(files, both):
    from samlabel.sam.modeling.edgetam.meta_mapping import is_meta_edgetam_state_dict

    assert is_meta_edgetam_state_dict(files[3])
    from_meta, from_hf = both
    assert from_meta.no_obj_embed_spatial is None and not from_meta.add_tpos_enc_to_obj_ptrs  # released config
    a, b = from_meta.state_dict(), from_hf.state_dict()
    assert sorted(a) == sorted(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert from_meta.model_id.startswith("edgetam_test_small:") and from_meta.model_id != from_hf.model_id


def test_meta_file_same_outputs(files, both, frames_dir):
    from_meta, from_hf = both
    x = torch.randn(1, 3, video.IMAGE_SIZE, video.IMAGE_SIZE, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        fa, fb = from_meta.image_encoder(x), from_hf.image_encoder(x)
    for a, b in zip(fa["backbone_fpn"], fb["backbone_fpn"]):
        assert torch.equal(a, b)
    _, va, la, sa, ra = video._run_ours(from_meta, frames_dir)
    _, vb, lb, sb, rb = video._run_ours(from_hf, frames_dir)
    for f in range(NUM_FRAMES):
        assert torch.equal(la[f], lb[f]) and torch.equal(va[f], vb[f]) and torch.equal(sa[f], sb[f]), f
        assert torch.equal(ra[f], rb[f]), f


def test_released_config_tracks_like_the_reference(files, both, frames_dir):
    """The released flags (no pointer temporal encoding, no occlusion embedding) track a clip
    as Hugging Face's model with them does; the same weights under the default flags do not."""
    ref = files[0]
    d, scores = video._clip_diffs(ref, both[0], frames_dir)
    assert max(d["low"]) < video.LOGIT_TOL and max(d["score"]) < video.SCORE_TOL, d
    assert max(d["reverse"]) < video.LOGIT_TOL, d
    assert all((s > 1e-2).all() for s in scores.values()), "the objects should be found on every frame"


def test_default_flags_would_differ(files, frames_dir):
    """The comparison above can fail: with SAM 2.1's pointer encoding switched on (a fresh
    projection), tracking differs from the reference with the released flags."""
    from samlabel.sam.video.edgetam_video_predictor import build_edgetam_video_predictor

    model = build_edgetam_video_predictor(config=video.small_config(), fill_hole_area=0)
    meta_loaded = build_edgetam_video_predictor(files[2], config=our_config(), fill_hole_area=0)
    sd = dict(meta_loaded.state_dict())
    for k, v in model.state_dict().items():
        sd.setdefault(k, torch.randn(v.shape, generator=torch.Generator().manual_seed(9)))
    model.load_state_dict(sd)
    d, _ = video._clip_diffs(files[0], model, frames_dir)
    assert d["low"][0] < video.LOGIT_TOL and max(d["low"][1:]) > 1e-2, d


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory):
    """The clip of ``test_edgetam_video.py``: a red bar moving right, a dark disc moving down."""
    from PIL import Image

    d = tmp_path_factory.mktemp("edgetam_meta_frames")
    h, w = video.FRAME_HW
    background = video.smooth_image(h, w, seed=5)
    yy, xx = np.mgrid[:h, :w]
    for i in range(NUM_FRAMES):
        img = background.copy()
        img[20:40, 8 + 5 * i : 34 + 5 * i] = (240, 30, 30)
        img[(yy - 20 - 4 * i) ** 2 + (xx - 70) ** 2 < 100] = (20, 20, 60)
        Image.fromarray(img).save(d / f"{i:05d}.jpg", quality=95)
    return d


# --- refusals ------------------------------------------------------------------------------------------


def _build(path):
    from samlabel.sam.video.edgetam_video_predictor import build_edgetam_video_predictor

    return build_edgetam_video_predictor(path, config=our_config())


def test_truncated_file_is_refused(files, tmp_path):
    data = files[2].read_bytes()
    bad = tmp_path / "edgetam_truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"edgetam_truncated\.pt is truncated, corrupt"):
        _build(bad)


def test_unknown_key_is_refused(files, tmp_path):
    sd = dict(files[3], **{"spatial_perceiver.layers.0.attn.to_k.weight": torch.zeros(64, 64)})
    torch.save({"model": sd}, tmp_path / "unknown.pt")
    with pytest.raises(CheckpointError, match=r"Meta EdgeTAM checkpoint .*unknown\.pt does not fit .*"
                                              r"unexpected keys: spatial_perceiver\.layers\.0\.attn\.to_k\.weight"):
        _build(tmp_path / "unknown.pt")


@pytest.mark.parametrize("key", ["spatial_perceiver.layers.1.self_attn.to_kv.weight", "spatial_perceiver.latents",
                                 "image_encoder.trunk.body.stages_2.blocks.0.token_mixer.conv.c.weight",
                                 "sam_mask_decoder.iou_token.weight"])
def test_missing_key_is_refused(files, tmp_path, key):
    sd = {k: v for k, v in files[3].items() if k != key}
    torch.save({"model": sd}, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=rf"missing\.pt does not fit .*missing keys: {re.escape(key)}"):
        _build(tmp_path / "missing.pt")
    # without a config: told Meta's layout and release (no pointer projection, no occlusion
    # embedding), so the full-size released config is tried, and the small file refused
    from samlabel.sam.video.edgetam_video_predictor import build_edgetam_video_predictor

    with pytest.raises(CheckpointError, match=r"Meta EdgeTAM checkpoint .*missing\.pt does not fit model 'edgetam' "
                                              r"\(config chosen: Meta's release"):
        build_edgetam_video_predictor(tmp_path / "missing.pt")


def test_bad_to_kv_is_refused(files, tmp_path):
    sd = dict(files[3])
    sd["spatial_perceiver.layers.0.attn.to_kv.weight"] = torch.zeros(127, 64)
    torch.save({"model": sd}, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match=r"odd\.pt: spatial_perceiver\.layers\.0\.attn\.to_kv\.weight has shape \(127, 64\)"):
        _build(tmp_path / "odd.pt")


def test_key_map_round_trips(files):
    """Meta name -> samlabel name(s) -> Meta name, for every key of the file."""
    from samlabel.sam.modeling.edgetam.meta_mapping import meta_key_to_samlabel, samlabel_key_to_meta

    for key in files[3]:
        assert {samlabel_key_to_meta(n) for n in meta_key_to_samlabel(key)} == {key}, key
