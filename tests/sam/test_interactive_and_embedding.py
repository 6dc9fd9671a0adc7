"""The GUI fast path (Prompt / DecoderSession / Prediction), ImageEmbedding files, and bad inputs."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from samlabel.sam.embedding import ImageEmbedding, compute_embedding
from samlabel.sam.image_input import to_rgb_uint8
from samlabel.sam.errors import EmbeddingError
from samlabel.sam.interactive import DecoderSession, Prediction, Prompt, decode, prepare_context
from samlabel.sam.predictor import SamPredictor


@pytest.fixture(scope="module")
def tiny():
    from samlabel.sam import build_sam

    torch.manual_seed(0)
    return build_sam("test_tiny")


@pytest.fixture(scope="module")
def tiny_embedding(tiny, make_image):
    return compute_embedding(tiny, make_image(300, 500, seed=7))


def _prediction(seed=0, size=(300, 500), input_size=(614, 1024)):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((3, 256, 256)) * 4).astype(np.float32)
    return Prediction(logits, np.array([0.2, 0.9, 0.5], np.float32), size, input_size)


@pytest.mark.parametrize(
    "size,input_size", [((300, 500), (614, 1024)), ((1080, 1920), (576, 1024)), ((1000, 400), (1024, 410))]
)
def test_region_and_out_size_equal_the_full_size_path_cropped(size, input_size):
    pred = _prediction(1, size, input_size)
    H, W = size
    full = pred.masks(return_logits=True)  # (K, H, W): the reference upscaling of every candidate
    assert full.shape == (3, H, W)
    k = pred.best_index()
    assert k == 1
    np.testing.assert_array_equal(pred.logits_for(), full[k])
    x0, y0, x1, y1 = W // 5, H // 3, W // 5 + W // 3, H // 3 + H // 4
    region = pred.logits_for(k, region=(x0, y0, x1, y1))
    assert region.shape == (y1 - y0, x1 - x0)
    np.testing.assert_allclose(region, full[k, y0:y1, x0:x1], atol=1e-5, rtol=1e-6)
    m = pred.mask(region=(x0, y0, x1, y1))
    decided = np.abs(full[k, y0:y1, x0:x1]) > 1e-4
    np.testing.assert_array_equal(m[decided], (full[k, y0:y1, x0:x1] > 0)[decided])
    # out_size: nearest-neighbour sampling of the same full-size logits
    oh, ow = 37, 53
    small = pred.logits_for(0, region=(x0, y0, x1, y1), out_size=(oh, ow))
    rows = y0 + ((np.arange(oh) + 0.5) * (y1 - y0) / oh).astype(int)
    cols = x0 + ((np.arange(ow) + 0.5) * (x1 - x0) / ow).astype(int)
    np.testing.assert_allclose(small, full[0][np.ix_(rows, cols)], atol=1e-5, rtol=1e-6)
    whole_small = pred.mask(2, out_size=(H // 7, W // 7))
    assert whole_small.shape == (H // 7, W // 7)
    # regions are clipped to the image; empty ones refused
    clipped = pred.logits_for(k, region=(-10, -10, 20, 30))
    np.testing.assert_allclose(clipped, full[k, :30, :20], atol=1e-5, rtol=1e-6)
    with pytest.raises(ValueError, match="empty"):
        pred.mask(region=(W, 0, W + 5, 5))
    with pytest.raises(IndexError):
        pred.mask(5)


def test_session_decode_equals_predictor_and_one_shot_decode(tiny, tiny_embedding):
    session = DecoderSession(tiny, tiny_embedding)
    prompt = Prompt(points=[[120.0, 80.0], [300, 200]], labels=[1, 0], box=[50, 40, 400, 260])
    pred = session.decode(prompt)
    assert pred.logits.shape == (3, 256, 256) and pred.logits.dtype == np.float32 and pred.scores.shape == (3,)
    predictor = SamPredictor(tiny)
    predictor.set_embedding(tiny_embedding)
    masks, scores, logits = predictor.predict(prompt.points, prompt.labels, prompt.box)
    np.testing.assert_array_equal(logits, pred.logits)
    np.testing.assert_array_equal(scores, pred.scores)
    np.testing.assert_array_equal(masks, pred.masks())
    again = decode(tiny, tiny_embedding, prompt, context=prepare_context(tiny, tiny_embedding.features))
    np.testing.assert_array_equal(again.logits, pred.logits)
    refined = session.decode(Prompt(points=[[120.0, 80.0]], labels=[1], mask_input=pred.logits[1][None], multimask=False))
    assert refined.logits.shape == (1, 256, 256)
    assert np.abs(refined.logits - session.decode(Prompt(points=[[120.0, 80.0]], labels=[1], multimask=False)).logits).max() > 0


def test_sessions_in_threads_give_the_same_result(tiny, tiny_embedding):
    prompt = Prompt(points=[[200.0, 100.0]], labels=[1])
    expected = DecoderSession(tiny, tiny_embedding).decode(prompt).logits
    results = []

    def work():
        results.append(DecoderSession(tiny, tiny_embedding).decode(prompt).logits)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(np.array_equal(r, expected) for r in results)


def test_embedding_file_round_trip_predicts_identically(tiny, tiny_embedding, tmp_path):
    path = tmp_path / "emb.safetensors"
    tiny_embedding.save(path)
    loaded = ImageEmbedding.load(path, expected_model_id=tiny.model_id)
    assert loaded.original_size == (300, 500) and loaded.input_size == tiny_embedding.input_size
    assert loaded.model_id == tiny.model_id and torch.equal(loaded.features, tiny_embedding.features)
    a, b = SamPredictor(tiny), SamPredictor(tiny)
    a.set_embedding(tiny_embedding)
    b.set_embedding(loaded)
    kw = dict(point_coords=np.array([[100.0, 100.0]]), point_labels=np.array([1]))
    for x, y in zip(a.predict(**kw), b.predict(**kw)):
        np.testing.assert_array_equal(x, y)
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(dataclasses_frozen_error()):
        loaded.model_id = "x"


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_embedding_from_another_model_or_bad_file_is_refused(tiny, tiny_embedding, tmp_path):
    from samlabel.sam import build_sam

    other = build_sam("test_tiny")
    assert other.model_id != tiny.model_id
    path = tmp_path / "emb.safetensors"
    tiny_embedding.save(path)
    with pytest.raises(EmbeddingError, match="another|not by the current model") as err:
        ImageEmbedding.load(path, expected_model_id=other.model_id)
    assert str(path) in str(err.value)
    with pytest.raises(EmbeddingError, match="not by the current model"):
        SamPredictor(other).set_embedding(tiny_embedding)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(path.read_bytes()[:100])
    with pytest.raises(EmbeddingError, match="bad.safetensors"):
        ImageEmbedding.load(bad)
    with pytest.raises(EmbeddingError, match="cannot read"):
        ImageEmbedding.load(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file

    old = tmp_path / "old.safetensors"
    save_file({"features": tiny_embedding.features.contiguous()}, old, metadata={"format": "samlabel-embedding", "version": "0"})
    with pytest.raises(EmbeddingError, match="version"):
        ImageEmbedding.load(old)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"features": tiny_embedding.features.contiguous()}, foreign)
    with pytest.raises(EmbeddingError, match="not a samlabel embedding"):
        ImageEmbedding.load(foreign)


def test_image_conversions_and_refusals():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.testing.assert_array_equal(to_rgb_uint8(rgb), rgb)
    np.testing.assert_array_equal(to_rgb_uint8(rgb, "BGR"), rgb[..., ::-1])
    np.testing.assert_array_equal(to_rgb_uint8(np.dstack([rgb, np.full((2, 3), 7, np.uint8)])), rgb)
    gray = to_rgb_uint8(rgb[..., 0])
    assert gray.shape == (2, 3, 3) and (gray == rgb[..., :1]).all()
    assert to_rgb_uint8(rgb[..., :1]).shape == (2, 3, 3)
    sixteen = to_rgb_uint8(np.full((2, 2, 3), 65535, np.uint16))
    assert sixteen.dtype == np.uint8 and (sixteen == 255).all()
    assert (to_rgb_uint8(np.full((2, 2, 3), 257 * 100, np.uint16)) == 100).all()
    for bad, msg in [
        (np.zeros((4, 4, 2), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((4, 4, 3, 1), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((4, 4, 3), np.int32), "dtype"),
        (np.full((4, 4, 3), 2.0), r"\[0, 1\]"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        ([[1, 2]], "numpy array"),
    ]:
        with pytest.raises(ValueError, match=msg):
            to_rgb_uint8(bad)
    with pytest.raises(ValueError, match="image_format"):
        to_rgb_uint8(rgb, "HSV")


def test_predictor_bad_prompts_and_state(tiny, tiny_embedding):
    p = SamPredictor(tiny)
    assert not p.is_image_set and p.embedding is None
    with pytest.raises(RuntimeError, match="set_image"):
        p.predict(np.array([[1.0, 2.0]]), np.array([1]))
    with pytest.raises(RuntimeError, match="set_image"):
        p.get_image_embedding()
    p.set_embedding(tiny_embedding)
    assert p.is_image_set and p.embedding is tiny_embedding
    assert p.get_image_embedding() is tiny_embedding.features
    cases = [
        (dict(point_coords=np.zeros((2, 3)), point_labels=np.ones(2)), r"\(N, 2\)"),
        (dict(point_coords=np.zeros((2, 2)), point_labels=np.ones(3)), r"\(N,\)"),
        (dict(point_coords=np.zeros((2, 2))), "point_labels must be supplied"),
        (dict(box=np.zeros(5)), r"\(4,\)"),
        (dict(mask_input=np.zeros((1, 64, 64))), r"\(1, 256, 256\)"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            p.predict(**kw)
    with pytest.raises(ValueError, match=r"\(B, N, 2\)"):
        p.predict_torch(torch.zeros(2, 2), torch.ones(2))
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        p.predict_torch(None, None, boxes=torch.zeros(4))
    with pytest.raises(ValueError, match="batch sizes differ"):
        p.predict_torch(torch.zeros(2, 1, 2), torch.ones(2, 1), boxes=torch.zeros(3, 4))
    p.clear_image()
    assert not p.is_image_set and p.features is None


def test_preprocess_masks_inverts_the_upscaling(tiny, tiny_embedding):
    p = SamPredictor(tiny)
    p.set_embedding(tiny_embedding)
    h, w = 154, 256  # the 300x500 image's frame inside the 256x256 low-res mask
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32)
    smooth = (8 * np.sin(xx / 17) + 5 * np.cos(yy / 13)).astype(np.float32)[None]
    pred = Prediction(smooth, np.ones(1, np.float32), (300, 500), tiny_embedding.input_size)
    full = pred.masks(return_logits=True)  # (1, 300, 500)
    back = p.preprocess_masks(full[0])
    assert back.shape == (1, 256, 256) and back.dtype == torch.float32
    assert back[:, h:, :].abs().max() == 0
    err = (back[0, 2 : h - 2, 2 : w - 2] - torch.from_numpy(smooth[0, 2 : h - 2, 2 : w - 2])).abs().max()
    assert err < 0.2
    m, _, _ = p.predict(np.array([[250.0, 150.0]]), np.array([1]), mask_input=back.numpy(), multimask_output=False)
    assert m.shape == (1, 300, 500)
    assert p.preprocess_masks(np.ones((2, 300, 500), bool)).shape == (2, 256, 256)
    with pytest.raises(ValueError, match=r"\(\.\.\., 300, 500\)"):
        p.preprocess_masks(np.zeros((10, 10)))


@pytest.mark.parametrize("original_size", [(300, 500), (500, 300), (400, 400)])
def test_image_only_decode_computes_the_image_window_exactly(small_pair, original_size):
    """``decode(image_only=True)`` (the hover preview) upscales only the tokens under the image:
    same scores, same logits over the image window, same full-size masks; the padding repeats
    the window's edge."""
    from samlabel.sam.embedding import ImageEmbedding, model_id_of
    from samlabel.sam.interactive import DecoderSession, Prompt
    from samlabel.sam.sam1.resizer import longest_side_shape

    model = small_pair[1]
    torch.manual_seed(5)
    c = model.prompt_encoder.embed_dim
    h, w = model.grid_size()
    input_size = longest_side_shape(*original_size, model.image_encoder.img_size)
    emb = ImageEmbedding(torch.randn(1, c, h, w), original_size, input_size, model_id_of(model))
    session = DecoderSession(model, emb)
    rows, cols = session.image_window()
    side = model.mask_size()[0]
    assert (rows, cols) == (min(side, -(-input_size[0] // 4) + 1), min(side, -(-input_size[1] // 4) + 1))
    H, W = original_size
    for prompt in (Prompt(points=[[W * 0.3, H * 0.6]], labels=[1]),
                   Prompt(box=[W * 0.1, H * 0.2, W * 0.7, H * 0.9], multimask=False)):
        full = session.decode(prompt)
        part = session.decode(prompt, image_only=True)
        np.testing.assert_array_equal(part.scores, full.scores)
        np.testing.assert_allclose(part.logits[:, :rows, :cols], full.logits[:, :rows, :cols], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(part.masks(), full.masks())
        np.testing.assert_allclose(part.logits_for(0), full.logits_for(0), rtol=0, atol=1e-5)
        if rows < side:  # padding rows repeat the last computed one
            computed = -(-rows // 4) * 4
            np.testing.assert_array_equal(part.logits[:, computed:, :], np.repeat(part.logits[:, computed - 1 : computed, :],
                                                                                  side - computed, axis=1))
        if cols < side:
            computed = -(-cols // 4) * 4
            assert np.all(part.logits[:, :, computed:] == part.logits[:, :, computed - 1 : computed])


@pytest.mark.parametrize("path", ["fast", "plain"])
def test_a_prompt_is_validated_once(tiny, tiny_embedding, monkeypatch, path):
    """``Prompt`` validates what the user gave; the decoder then only moves the tensors. Raw
    tensors (``decode_torch``) are still checked by the decoder."""
    import torch

    from samlabel.sam.modeling import input_checks

    session = DecoderSession(tiny, tiny_embedding, path=path)
    calls = []
    real = input_checks.check_prompts
    monkeypatch.setattr(input_checks, "check_prompts", lambda *a, **k: calls.append(1) or real(*a, **k))
    session.decode(Prompt(points=[[50, 60]], labels=[1], box=[10, 10, 200, 150]))
    assert calls == []
    session.decode_torch(torch.tensor([[[50.0, 60.0]]]), torch.tensor([[1]]))
    assert calls == [1]
    with pytest.raises(ValueError, match="point_labels must have shape"):
        session.decode_torch(torch.tensor([[[50.0, 60.0]]]), torch.tensor([[1, 1]]))
