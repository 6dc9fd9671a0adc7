"""Model logic on small configs, compared with Meta's reference built with the same weights."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from samlabel.sam import Cancelled, build_sam, sam_model_registry
from samlabel.sam.build import build_modules, default_model_name
from samlabel.sam.files.checkpoint import state_dict_problems
from samlabel.sam.config import SamConfig, TinyViTEncoderConfig, config_names, get_config
from samlabel.sam.compute_path import decoder_for, encode_image
from samlabel.sam.fast.decoder import FastDecoder
from samlabel.sam.fast.vit_encoder import rel_pos_attention

pytestmark = pytest.mark.reference


def _load_same(cfg: SamConfig, ref) -> torch.nn.Module:
    ours = build_modules(cfg)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours


def _image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, h, w, generator=g) * 255


# ---------------------------------------------------------------- registry and configs
def test_registry_names_and_default():
    assert {"vit_b", "vit_l", "vit_h", "vit_t", "default", "test_tiny"} <= set(config_names())
    assert get_config("default") is get_config("vit_h")
    assert {"default", "vit_b", "vit_l", "vit_h", "vit_t"} <= set(sam_model_registry)
    assert isinstance(get_config("vit_t").encoder, TinyViTEncoderConfig)
    t = get_config("vit_t").encoder
    assert (t.embed_dims, t.depths, t.num_heads, t.window_sizes) == ((64, 128, 160, 320), (2, 2, 6, 2), (2, 4, 5, 10), (7, 7, 14, 7))
    assert get_config("vit_t").checkpoint_filename == "mobile_sam.pt"


def test_unknown_config_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown SAM model 'vit_x'.*vit_b"):
        get_config("vit_x")


def test_default_model_name_depends_on_device():
    assert default_model_name("cpu") == "vit_t"
    assert default_model_name("cuda") == "vit_b"
    assert default_model_name() == ("vit_b" if torch.cuda.is_available() else "vit_t")


def test_official_hashes_match_file_names():
    for name in ("vit_b", "vit_l", "vit_h"):
        cfg = get_config(name)
        assert cfg.checkpoint_filename.endswith(f"_{cfg.checkpoint_md5[:6]}.pth")
        assert cfg.checkpoint_url.endswith(cfg.checkpoint_filename)


@pytest.mark.parametrize("name", ["vit_b", "vit_l", "vit_h"])
def test_official_architectures_have_the_reference_state_dict(name):
    """Every key and shape of Meta's model for ``name`` (built on the meta device) matches ours."""
    from segment_anything import sam_model_registry as reference_registry

    with torch.device("meta"):
        ref = reference_registry[name]()
        ours = build_modules(get_config(name))
    expected = ours.state_dict()
    assert len(expected) > 100
    assert state_dict_problems(expected, ref.state_dict()) == ([], [], [])
    assert ours.grid_size() == (64, 64) and ours.mask_size() == (256, 256)


def test_config_rejects_inconsistent_values():
    cfg = get_config("test_tiny")
    with pytest.raises(ValueError, match="out_chans"):
        dataclasses.replace(cfg, embed_dim=64)
    with pytest.raises(ValueError, match="fixed_input_size"):
        dataclasses.replace(cfg, input_size=512)
    with pytest.raises(ValueError, match="global_attn_indexes"):
        dataclasses.replace(cfg.encoder, global_attn_indexes=(5,))


# ---------------------------------------------------------------- equivalence on small models
def test_tiny_model_matches_reference_end_to_end(reference_factory, cached_encoder_factory, compute_path):
    cfg = get_config("test_tiny")
    ref = reference_factory(cfg, seed=3)
    ours = _load_same(cfg, ref)
    image = _image(700, 1024)  # not square: exercises the padding
    with torch.no_grad():
        x = ref.preprocess(image)[None]
        assert torch.equal(x, ours.preprocess(image)[None]) and x.shape == (1, 3, 1024, 1024)
        ref_emb = ref.image_encoder(x)
        our_emb = encode_image(ours, x, path=compute_path)
    assert (ref_emb - our_emb).abs().max() <= 1e-4
    # encoders compared: the end-to-end calls below reuse their outputs
    ref.image_encoder = cached_encoder_factory(ref.image_encoder, x, ref_emb)
    ours.image_encoder = cached_encoder_factory(ours.image_encoder, x, our_emb)
    record = {
        "image": image,
        "original_size": (350, 512),
        "point_coords": torch.tensor([[[100.0, 80.0], [500.0, 600.0]], [[3.0, 4.0], [900.0, 10.0]]]),
        "point_labels": torch.tensor([[1, 0], [1, 1]]),
        "boxes": torch.tensor([[10.0, 20.0, 600.0, 650.0], [0.0, 0.0, 1000.0, 690.0]]),
    }
    for multimask in (True, False):
        (r,) = ref([record], multimask)
        (o,) = ours([record], multimask)
        assert (r["low_res_logits"] - o["low_res_logits"]).abs().max() <= 1e-3
        assert (r["iou_predictions"] - o["iou_predictions"]).abs().max() <= 1e-4
        assert o["masks"].shape == (2, 3 if multimask else 1, 350, 512)
        decoder = decoder_for(ours, compute_path)
        logits, iou = decoder.decode(
            decoder.prepare(our_emb), record["point_coords"], record["point_labels"], record["boxes"], multimask_output=multimask
        )
        assert (logits - r["low_res_logits"]).abs().max() <= 1e-3
        assert (iou - r["iou_predictions"]).abs().max() <= 1e-4


@pytest.mark.parametrize("name,width", [("vit_l", 1024), ("vit_h", 1280)])
def test_depth_reduced_large_models_match_reference(reference_factory, name, width, compute_path):
    """Same widths/heads as the official vit_l/vit_h, 2 blocks, 256-pixel input (16x16 grid)."""
    full = get_config(name)
    cfg = dataclasses.replace(
        full,
        input_size=256,
        encoder=dataclasses.replace(full.encoder, depth=2, global_attn_indexes=(1,), pretrain_img_size=256),
    )
    assert cfg.encoder.embed_dim == width
    ref = reference_factory(cfg, seed=4)
    ours = _load_same(cfg, ref)
    image = _image(256, 200, seed=5)
    with torch.no_grad():
        ref_emb = ref.image_encoder(ref.preprocess(image)[None])
        our_emb = encode_image(ours, ours.preprocess(image)[None], path=compute_path)
        assert (ref_emb - our_emb).abs().max() <= 1e-4
        coords, labels = torch.tensor([[[30.0, 40.0], [150.0, 100.0]]]), torch.tensor([[1, 0]])
        sparse, dense = ref.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        r_logits, r_iou = ref.mask_decoder(ref_emb, ref.prompt_encoder.get_dense_pe(), sparse, dense, True)
    decoder = decoder_for(ours, compute_path)
    logits, iou = decoder.decode(decoder.prepare(our_emb), coords, labels)
    assert logits.shape == (1, 3, 64, 64)
    assert (logits - r_logits).abs().max() <= 1e-3 and (iou - r_iou).abs().max() <= 1e-4


def test_chunked_rel_pos_attention_matches_reference_formula():
    """The banded bias gives the same result as the reference's full-matrix attention."""
    from segment_anything.modeling.image_encoder import add_decomposed_rel_pos

    g = torch.Generator().manual_seed(0)
    B, nH, H, W, hd = 2, 3, 10, 7, 8
    q, k, v = (torch.randn(B, nH, H * W, hd, generator=g) for _ in range(3))
    rel_h, rel_w = torch.randn(2 * H - 1, hd, generator=g), torch.randn(2 * W - 1, hd, generator=g)
    qf, kf, vf = (t.reshape(B * nH, H * W, hd) for t in (q, k, v))
    attn = (qf * hd**-0.5) @ kf.transpose(-2, -1)
    attn = add_decomposed_rel_pos(attn, qf, rel_h, rel_w, (H, W), (H, W)).softmax(-1)
    expected = (attn @ vf).reshape(B, nH, H * W, hd)
    for budget in (1, B * nH * W * H * W * 3, 1 << 30):  # 1 row / 3 rows per band / a single band
        out = rel_pos_attention(q, k, v, rel_h, rel_w, (H, W), max_bias_elements=budget)
        assert (out - expected).abs().max() <= 1e-5


def test_other_input_size_interpolates_position_tables(reference_factory, compute_path):
    """fixed_input_size=False: a 512 input with 1024-pretrained tables equals a reference 512 model
    given the bicubically resized absolute and linearly resized relative tables."""
    tiny = get_config("test_tiny")
    cfg512 = dataclasses.replace(tiny, input_size=512, fixed_input_size=False)
    ours = build_modules(cfg512)
    ref = reference_factory(dataclasses.replace(tiny, input_size=512, encoder=dataclasses.replace(tiny.encoder, pretrain_img_size=512)), seed=6)
    src = reference_factory(tiny, seed=7)  # 1024-pretrained weights
    ours.load_state_dict(src.state_dict(), strict=True)
    sd = {k: v for k, v in src.state_dict().items()}
    sd["image_encoder.pos_embed"] = torch.nn.functional.interpolate(
        sd["image_encoder.pos_embed"].permute(0, 3, 1, 2), size=(32, 32), mode="bicubic", align_corners=False
    ).permute(0, 2, 3, 1)
    for i in tiny.encoder.global_attn_indexes:
        for axis in ("h", "w"):
            key = f"image_encoder.blocks.{i}.attn.rel_pos_{axis}"
            sd[key] = torch.nn.functional.interpolate(sd[key].T[None], size=63, mode="linear")[0].T
    sd["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"] = src.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix
    ref.load_state_dict(sd, strict=True)
    image = _image(512, 400, seed=8)
    with torch.no_grad():
        ref_emb = ref.image_encoder(ref.preprocess(image)[None])
        our_emb = encode_image(ours, ours.preprocess(image)[None], path=compute_path)
    assert our_emb.shape == (1, 32, 32, 32) and ours.grid_size() == (32, 32) and ours.mask_size() == (128, 128)
    assert (ref_emb - our_emb).abs().max() <= 1e-4


def test_fixed_input_size_rejects_other_sizes(compute_path):
    model = build_sam("test_tiny")
    with pytest.raises(ValueError, match="1024x1024"):
        encode_image(model, torch.zeros(1, 3, 512, 512), path=compute_path)


# ---------------------------------------------------------------- interface details
def test_model_attributes_and_ids():
    a, b = build_sam("test_tiny"), build_sam("test_tiny")
    assert a.model_id.startswith("test_tiny:random-") and a.model_id != b.model_id
    assert a.image_format == "RGB" and a.mask_threshold == 0.0 and a.device == torch.device("cpu")
    assert a.image_encoder.img_size == 1024 and a.grid_size() == (64, 64) and a.mask_size() == (256, 256)
    assert not a.training
    assert a.config is get_config("test_tiny")


def test_cancel_stops_the_encoder_between_blocks(compute_path):
    model = build_sam("test_tiny")
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) >= 2  # let the first block run, stop before the second

    with pytest.raises(Cancelled):
        encode_image(model, torch.zeros(1, 3, 1024, 1024), cancel, path=compute_path)
    assert len(calls) == 2
    out = encode_image(model, torch.zeros(1, 3, 1024, 1024), lambda: False, path=compute_path)
    assert out.shape == (1, 32, 64, 64)


def test_decoder_context_is_reused_and_batch_one_embedding_is_not_repeated():
    model = build_sam("test_tiny")
    emb = torch.randn(1, 32, 64, 64)
    decoder = FastDecoder(model)
    ctx = decoder.prepare(emb)
    assert ctx.keys_no_mask.shape == (1, 64 * 64, 32) and ctx.pe_tokens.shape == (1, 64 * 64, 32)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.image_embedding = emb  # type: ignore[misc]
    coords = torch.rand(5, 1, 2) * 1024
    labels = torch.ones(5, 1, dtype=torch.int64)
    batched, batched_iou = decoder.decode(ctx, coords, labels, multimask_output=False)
    assert batched.shape == (5, 1, 256, 256) and batched_iou.shape == (5, 1)
    assert ctx.image_side is not None  # the first decoder block's image projections, done once
    uncached, uncached_iou = decoder.decode(
        dataclasses.replace(ctx, image_side=None), coords, labels, multimask_output=False
    )
    assert (uncached - batched).abs().max() <= 1e-5 and (uncached_iou - batched_iou).abs().max() <= 1e-6
    for i in range(5):  # each prompt of the batch equals the same prompt decoded alone
        single, single_iou = decoder.decode(ctx, coords[i : i + 1], labels[i : i + 1], multimask_output=False)
        assert (single - batched[i : i + 1]).abs().max() <= 1e-4
        assert (single_iou - batched_iou[i : i + 1]).abs().max() <= 1e-5


# ---------------------------------------------------------------- prompt encoder
@pytest.mark.parametrize("pad", [True, False])
@pytest.mark.parametrize(
    "labels",
    [[[1, 0, -1, 1]], [[-1, -1]], [[1, 1, 0]] * 3, [[1.0, 0.0, 0.5, 2.0]]],  # the last: odd labels get the PE only
    ids=["mixed", "padding", "batch", "odd-float"],
)
def test_point_embeddings_equal_the_reference_bit_for_bit(labels, pad):
    """The plain module's point embedding, and the fast path's one label-row lookup instead of
    the reference's boolean-mask index ops: the same floats."""
    from samlabel.sam.fast.prompt_embed import embed_points
    from segment_anything.modeling import PromptEncoder as RefPromptEncoder

    from samlabel.sam.modeling.sam1.prompt_encoder import PromptEncoder

    torch.manual_seed(0)
    ref = RefPromptEncoder(embed_dim=32, image_embedding_size=(64, 64), input_image_size=(1024, 1024),
                           mask_in_chans=8)
    for p in ref.parameters():
        p.data.normal_()
    ours = PromptEncoder(32, (64, 64), (1024, 1024), 8)
    ours.load_state_dict(ref.state_dict())
    lab = torch.tensor(labels)
    pts = torch.rand(lab.shape[0], lab.shape[1], 2) * 1024
    expected = ref._embed_points(pts, lab, pad)
    for got in (ours._embed_points(pts, lab, pad), embed_points(ours, pts, lab, pad)):
        assert got.shape == expected.shape
        assert torch.equal(got, expected)
