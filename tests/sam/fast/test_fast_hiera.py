"""The fast SAM 2 image encoder (``samlabel.sam.fast.hiera_encoder``) equals the plain model.

Compared: the image embedding and the two high-resolution maps of ``SAM2Image.image_features``
(or, at input sizes other than 1024, ``forward_image``), within 1e-4, for
* the small test config (width 16, stages (1, 2, 3, 1), the windows of 14 and 7 padded);
* the real ``sam2.1_hiera_tiny`` / ``small`` trunk structures (q-pooling in windows that do
  not divide the grid, global blocks, odd stage grids) at reduced width or input size;
* Meta's reference ``SAM2ImagePredictor`` (skipped only when ``sam2`` is not importable).
Weights are random and perturbed so that no parameter keeps an init constant.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from samlabel.sam.errors import Cancelled
from samlabel.sam.fast import hiera_encoder as fast
from samlabel.sam.fast import linear as fast_linear
from samlabel.sam.modeling.sam2.build import build_sam2_model
from samlabel.sam.modeling.sam2.config import FpnConfig, HieraConfig, Sam2Config, get_sam2_config

ATOL = 1e-4


def _perturb_(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            noise = torch.randn(p.shape, generator=g)
            p.add_(noise * (0.1 if p.dim() == 1 and bool((p == 1).all()) else 0.02))
    return model


def _small_config() -> Sam2Config:
    # = tests/sam/modeling/sam2/conftest.py small_config (the reference tiny YAML, shrunk)
    trunk = HieraConfig(embed_dim=16, num_heads=2, stages=(1, 2, 3, 1), global_att_blocks=(4,),
                        window_pos_embed_bkg_spatial_size=(7, 7))
    return Sam2Config(name="test_small", trunk=trunk, neck=FpnConfig(d_model=32))


def _model(config: Sam2Config, seed: int = 0):
    torch.manual_seed(seed)
    model = _perturb_(build_sam2_model(config), seed + 1).eval()
    model.model_id = f"{config.name}:test"
    return model


@pytest.fixture(scope="module")
def small_model():
    return _model(_small_config())


def _plain_features(model, x):
    """``image_features`` for any input size (``forward_image`` + what ``image_features`` adds)."""
    with torch.no_grad():
        out = model.forward_image(x)
        fpn = out["backbone_fpn"][-model.num_feature_levels:]
        return {"image_embed": fpn[-1] + model.no_mem_embed.view(1, -1, 1, 1), "high_res_feats": list(fpn[:-1])}


def _assert_features_close(got, expected, atol=ATOL):
    assert got["image_embed"].shape == expected["image_embed"].shape
    torch.testing.assert_close(got["image_embed"], expected["image_embed"], atol=atol, rtol=0)
    assert len(got["high_res_feats"]) == len(expected["high_res_feats"])
    for g, e in zip(got["high_res_feats"], expected["high_res_feats"]):
        assert g.shape == e.shape
        torch.testing.assert_close(g, e, atol=atol, rtol=0)


def test_small_config_1024_equals_image_features(small_model):
    x = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = small_model.image_features(x)
    got = fast.image_features(small_model, x)
    _assert_features_close(got, expected)
    assert got["image_embed"].shape == (1, 32, 64, 64)
    assert [tuple(t.shape) for t in got["high_res_feats"]] == [(1, 4, 256, 256), (1, 8, 128, 128)]
    assert all(t.is_contiguous() for t in [got["image_embed"], *got["high_res_feats"]])


@pytest.mark.parametrize("hw,batch", [((512, 512), 1), ((384, 640), 2), ((544, 288), 1)])
def test_small_config_other_input_sizes(small_model, hw, batch):
    x = torch.randn(batch, 3, *hw, generator=torch.Generator().manual_seed(hw[0]))
    _assert_features_close(fast.image_features(small_model, x), _plain_features(small_model, x))


@pytest.mark.parametrize("name,width,hw", [
    ("sam2.1_hiera_tiny", 16, (544, 544)),   # stage grids 136, 68, 34, 17: windows 14 and 7 padded, q-pool in padded windows
    ("sam2.1_hiera_small", 16, (384, 256)),  # 96x64 ... 12x8
    ("sam2.1_hiera_tiny", 96, (128, 192)),   # the real widths and heads (32x48 ... 4x6 grids)
])
def test_real_trunk_structures(name, width, hw):
    cfg = get_sam2_config(name)
    cfg = dataclasses.replace(cfg, trunk=dataclasses.replace(cfg.trunk, embed_dim=width),
                              neck=dataclasses.replace(cfg.neck, d_model=32))
    model = _model(cfg, seed=5)
    x = torch.randn(1, 3, *hw, generator=torch.Generator().manual_seed(7))
    trunk = model.image_encoder.trunk
    with torch.no_grad():
        plain_stages = trunk(x)
    fast_stages = fast.trunk_forward(trunk, x)
    assert len(fast_stages) == len(plain_stages) == 4
    for f, p in zip(fast_stages, plain_stages):
        torch.testing.assert_close(f.permute(0, 3, 1, 2), p, atol=ATOL, rtol=0)
    _assert_features_close(fast.image_features(model, x), _plain_features(model, x))


def test_position_embedding_is_cached_and_follows_the_weights(small_model):
    trunk = small_model.image_encoder.trunk
    fast.clear_caches()
    a = fast.position_embedding(trunk, (256, 256))
    assert fast.position_embedding(trunk, (256, 256)) is a
    torch.testing.assert_close(a, trunk._get_pos_embed((256, 256)).contiguous(), atol=0, rtol=0)
    saved = trunk.pos_embed.detach().clone()
    try:
        with torch.no_grad():
            trunk.pos_embed.add_(1.0)  # an in-place load bumps the version: recomputed
        b = fast.position_embedding(trunk, (256, 256))
        assert b is not a
        torch.testing.assert_close(b, trunk._get_pos_embed((256, 256)).contiguous(), atol=0, rtol=0)
    finally:
        with torch.no_grad():
            trunk.pos_embed.copy_(saved)


def test_cancel_raises_between_blocks(small_model):
    x = torch.randn(1, 3, 512, 512)
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) >= 3

    with pytest.raises(Cancelled):
        fast.image_features(small_model, x, cancel=cancel)
    assert len(calls) == 3


def test_compute_embedding_paths_agree(small_model, monkeypatch):
    from samlabel.sam.embedding import compute_embedding

    monkeypatch.delenv("SAMLABEL_COMPUTE_PATH", raising=False)
    used = []
    real = fast.image_features
    monkeypatch.setattr(fast, "image_features", lambda *a, **k: used.append(1) or real(*a, **k))
    rng = np.random.default_rng(0)
    for h, w in ((300, 500),):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        got = compute_embedding(small_model, image)  # default path: fast
        expected = compute_embedding(small_model, image, path="plain")
        assert got.original_size == expected.original_size == (h, w)
        torch.testing.assert_close(got.features, expected.features, atol=ATOL, rtol=0)
        for g, e in zip(got.high_res_features, expected.high_res_features, strict=True):
            torch.testing.assert_close(g, e, atol=ATOL, rtol=0)
    assert len(used) == 1
    with pytest.raises(Cancelled):
        compute_embedding(small_model, image, cancel=lambda: True)


@pytest.mark.reference
def test_fast_equals_meta_reference(tmp_path):
    try:
        import sam2.build_sam  # noqa: F401
        from sam2.sam2_image_predictor import SAM2ImagePredictor as RefPredictor
    except Exception as exc:
        pytest.skip(f"Meta's sam2 reference is not importable ({type(exc).__name__}: {exc})")
    from sam2.build_sam import build_sam2 as ref_build_sam2

    from samlabel.sam.modeling.sam2 import build_sam2

    overrides = [  # = tests/sam/modeling/sam2/conftest.py SMALL_OVERRIDES
        "++model.image_encoder.trunk.embed_dim=16",
        "++model.image_encoder.trunk.num_heads=2",
        "++model.image_encoder.trunk.stages=[1,2,3,1]",
        "++model.image_encoder.trunk.global_att_blocks=[4]",
        "++model.image_encoder.neck.backbone_channel_list=[128,64,32,16]",
        "++model.image_encoder.neck.d_model=32",
        "++model.image_encoder.neck.position_encoding.num_pos_feats=32",
    ]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ref_build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", ckpt_path=None, device="cpu",
                             hydra_overrides_extra=overrides)
        ref = _perturb_(ref, 1).eval()
        path = tmp_path / "small.pt"
        torch.save({"model": ref.state_dict()}, path)
        ours = build_sam2(_small_config(), checkpoint=path)
        predictor = RefPredictor(ref)
    image = np.random.default_rng(1).integers(0, 256, (300, 420, 3), dtype=np.uint8)
    with torch.no_grad():
        predictor.set_image(image)
    x = predictor._transforms(image)[None]
    got = fast.image_features(ours, x)
    _assert_features_close(got, {"image_embed": predictor._features["image_embed"],
                                 "high_res_feats": predictor._features["high_res_feats"]})


def test_another_trunk_runs_its_own_image_features(small_model, monkeypatch):
    """An encoder that is not SAM 2's own Hiera ImageEncoder (EdgeTAM's RepViT, a wrapper) is
    never cut into Hiera blocks: image_features calls the model's own (SAM2ImagePredictor and
    SamPredictor go through it)."""
    import copy

    from samlabel.sam import SAM2ImagePredictor

    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.trunk = inner.trunk  # looks like one, is not one

        def forward(self, x, *a, **k):
            return self.inner(x, *a, **k)

    model = copy.deepcopy(small_model)
    model.image_encoder = Wrapped(model.image_encoder)
    blocks = []
    monkeypatch.setattr(fast, "trunk_forward", lambda *a, **k: blocks.append(1))
    x = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = fast.image_features(model, x)
        want = small_model.image_features(x)
    assert blocks == []
    torch.testing.assert_close(got["image_embed"], want["image_embed"], atol=0, rtol=0)
    predictor = SAM2ImagePredictor(model)
    predictor.set_image(np.zeros((64, 80, 3), np.uint8))
    assert blocks == [] and predictor.path == "fast" and predictor._features["image_embed"].shape[0] == 1


def _bf16_trunk(seed: int):
    """(the small model's trunk in bf16, a 256 px input, the float32 trunk's stage outputs)."""
    model = _model(_small_config(), seed=seed)
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(seed + 3))
    with torch.no_grad():
        want32 = fast.trunk_forward(model.image_encoder.trunk, x)
    return model.image_encoder.trunk.to(torch.bfloat16), x, want32


@pytest.mark.skipif(not fast_linear.onednn_bf16(), reason="oneDNN has no bf16 kernels on this CPU")
def test_a_bf16_trunk_fuses_its_linears_in_onednn(monkeypatch, onednn_linear_calls):
    """A bf16 trunk (``fast/precision.py``) runs its linears as fused oneDNN calls (GELU and the
    residual add inside the product) and stays as close to float32 as the unfused ops; where
    oneDNN has no bf16 kernels they are not called."""
    trunk, x, want32 = _bf16_trunk(seed=4)
    calls = onednn_linear_calls
    assert calls and {dtype for _, dtype, _ in calls} == {torch.float32}  # the float32 trunk fuses too
    calls.clear()
    with torch.no_grad():
        fused = fast.trunk_forward(trunk, x)
    assert calls and all(dtype == torch.bfloat16 for _, dtype, _ in calls)
    assert ("pointwise", torch.bfloat16, "gelu") in calls and ("binary", torch.bfloat16, "add") in calls
    n = len(calls)
    monkeypatch.setattr(fast_linear, "onednn_bf16", lambda: False)
    with torch.no_grad():
        unfused = fast.trunk_forward(trunk, x)
    assert len(calls) == n  # no oneDNN call without its bf16 kernels

    def rel(a, b):
        return float((a.float() - b.float()).norm() / b.float().norm())

    for f, u, w in zip(fused, unfused, want32):
        assert f.dtype == u.dtype == torch.float32 and f.shape == w.shape
        assert 0 < rel(f, w) < 3e-2 and rel(f, w) <= 1.5 * rel(u, w) + 1e-3


@pytest.mark.parametrize("shape,stride", [((3, 8, 8, 12), (2, 2)), ((1, 9, 7, 5), (2, 2)), ((2, 6, 9, 4), (1, 3))])
def test_q_pooling_equals_max_pool_on_strided_views(shape, stride):
    """The q-pool as maxima of strided slices: max_pool2d's values (floor mode, NaN kept) from a
    strided view of ``qkv``, contiguous, under autograd too."""
    g = torch.Generator().manual_seed(3)
    qkv = torch.randn(*shape[:3], 3, shape[3], generator=g)
    qkv[0, 0, 0, 0, 0] = float("nan")
    q = qkv[..., 0, :]  # a strided view, as the blocks pass it
    want = torch.nn.functional.max_pool2d(q.permute(0, 3, 1, 2), stride, stride).permute(0, 2, 3, 1)
    got = fast._pool(q, stride)
    assert got.is_contiguous() and got.shape == want.shape
    assert torch.equal(torch.nan_to_num(got, 99.0), torch.nan_to_num(want, 99.0)) and got.isnan().sum() == 1
    leaf = q.clone().requires_grad_(True)
    with torch.enable_grad():
        pooled = fast._pool(leaf, stride)
        pooled.nan_to_num(0.0).sum().backward()
    assert torch.equal(torch.nan_to_num(pooled.detach(), 99.0), torch.nan_to_num(want, 99.0))
    assert leaf.grad is not None and leaf.grad.sum() > 0


@pytest.mark.parametrize("shape,rows", [((1, 4, 1100, 24), 256), ((2, 2, 300, 16), 64)])
def test_bf16_banded_attention_equals_attention(shape, rows):
    """Bands of query rows (the last one short), bf16 products, float32 softmax: softmax
    attention as SDPA computes it in float32, within bf16 rounding, laid out (B, N, heads, c)."""
    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(shape, generator=g) for _ in range(3))
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2)
    got = fast._bf16_banded_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), rows=rows)
    assert got.dtype == torch.bfloat16 and got.shape == want.shape and got.is_contiguous()
    sdpa_b = torch.nn.functional.scaled_dot_product_attention(q.bfloat16(), k.bfloat16(), v.bfloat16())
    err = (got.float() - want).abs().max().item()
    assert 0 < err < 2e-2 and err <= 4 * (sdpa_b.transpose(1, 2).float() - want).abs().max().item()
    k2 = k.clone()
    k2[:, :, -1] += 3.0  # a changed key changes the output: nothing is skipped
    assert not torch.equal(fast._bf16_banded_attention(q.bfloat16(), k2.bfloat16(), v.bfloat16(), rows=rows), got)


def test_a_bf16_trunk_takes_the_banded_attention_in_global_and_windowed_blocks(monkeypatch):
    # the routing, on any CPU: where oneDNN lacks bf16 kernels (AVX2 alone) the bf16 trunk takes
    # PyTorch's fused attention, and the banded products run emulated here
    monkeypatch.setattr(fast, "onednn_bf16", lambda: True)
    trunk, x, want32 = _bf16_trunk(seed=6)
    seen = []
    inner = fast._bf16_banded_attention
    monkeypatch.setattr(fast, "_bf16_banded_attention", lambda q, k, v: seen.append(tuple(q.shape)) or inner(q, k, v))
    with torch.no_grad():
        fast.trunk_forward(trunk, x)
        windows = list(seen)  # every windowed block: many windows, one band each
        assert len(windows) == 6 and all(shape[0] > 1 for shape in windows)
        assert (1, 8, 256, 8) not in windows  # 256 tokens: fewer than BF16_BANDED_MIN_KEYS, SDPA
        monkeypatch.setattr(fast, "BF16_BANDED_MIN_KEYS", 16)
        seen.clear()
        got = fast.trunk_forward(trunk, x)
    # now the one global block too (stage 3: 8 heads of 8 channels, 16x16 tokens), in its place
    assert seen == windows[:4] + [(1, 8, 256, 8)] + windows[4:]
    # without oneDNN's bf16 kernels (or under autocast) PyTorch's attention runs instead
    seen.clear()
    monkeypatch.setattr(fast, "onednn_bf16", lambda: False)
    with torch.no_grad():
        fast.trunk_forward(trunk, x)
    monkeypatch.undo()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast.trunk_forward(trunk, x)
    assert seen == []
    for g_, w in zip(got, want32):
        assert float((g_.float() - w).norm() / w.norm()) < 3e-2
