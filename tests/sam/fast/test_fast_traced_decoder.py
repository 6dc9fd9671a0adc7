"""The recorded decoder (sam/fast/traced_decoder.py) gives the eager decoder's outputs bit for bit,
serves every image of one size with one recording, and falls back to the eager path when a
recording cannot be made or does not match."""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
import warnings
import weakref

import numpy as np
import pytest
import torch
from torch import nn

from samlabel.sam.fast import traced_decoder as td
from samlabel.sam.build import build_sam
from samlabel.sam.embedding import ImageEmbedding, model_id_of
from samlabel.sam.interactive import DecoderSession, Prompt
from samlabel.sam.fast.decoder import DecoderContext
from samlabel.sam.fast.decoder import FastDecoder


def _model(name="test_tiny", seed=0):
    model = build_sam(name)
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model


def _features(model, seed):
    torch.manual_seed(seed)
    return torch.randn(1, model.prompt_encoder.embed_dim, 64, 64)


def _eager(model, ctx, *args):
    return FastDecoder(model).decode(ctx, *args)


def _run(recorder, model, ctx, coords, labels, boxes=None, mask=None, multimask=True, valid=None):
    args = (coords, labels, boxes, mask, multimask, valid)
    return recorder(ctx, *args, lambda: _eager(model, ctx, *args))


def _assert_equal(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        assert torch.equal(a, b), f"max |diff| {(a - b).abs().max().item()}"


# ------------------------------------------------------------------ flattening
def test_flatten_round_trips_the_decoder_context():
    model = _model()
    ctx = FastDecoder(model).prepare(_features(model, 1))
    leaves, spec = td.flatten(ctx)
    assert len(leaves) > 20 and all(isinstance(t, torch.Tensor) for t in leaves)
    rebuilt = td.unflatten(spec, leaves)
    assert isinstance(rebuilt, DecoderContext)
    again, spec2 = td.flatten(rebuilt)
    assert spec2 == spec
    assert all(a is b for a, b in zip(again, leaves))  # the same tensors, in the same order
    assert rebuilt.image_side.stats.eps0 == ctx.image_side.stats.eps0  # plain numbers kept


def test_contexts_of_one_size_share_a_spec_and_other_sizes_do_not():
    model = _model()
    _, a = td.flatten(FastDecoder(model).prepare(_features(model, 1)))
    _, b = td.flatten(FastDecoder(model).prepare(_features(model, 2)))
    assert a == b and hash(a) == hash(b)
    ctx = FastDecoder(model).prepare(_features(model, 3))
    _, c = td.flatten(dataclasses.replace(ctx, keys_no_mask=ctx.keys_no_mask[:, :-1]))  # one shape differs
    assert c != a
    _, d = td.flatten(dataclasses.replace(ctx, keys_no_mask=ctx.keys_no_mask.double()))  # one dtype differs
    assert d != a


def test_flatten_refuses_values_it_cannot_record():
    @dataclasses.dataclass
    class Holder:
        x: object

    with pytest.raises(td.UnsupportedContext, match="Holder"):  # a dataclass pytree does not know
        td.flatten(Holder({"a": torch.zeros(1)}))
    with pytest.raises(td.UnsupportedContext, match="object"):
        td.flatten((torch.zeros(1), object()))
    assert td.flatten((None, 1, 2.5, "s", [torch.zeros(2)]))[1] == td.flatten((None, 1, 2.5, "s", [torch.ones(2)]))[1]


# ------------------------------------------------------------------ equivalence
PROMPTS = {
    "hover": dict(coords=[[[300.0, 200.0]]], labels=[[1]], valid=(145, 256)),
    "two points": dict(coords=[[[300.0, 200.0], [640.0, 90.0]]], labels=[[1, 0]]),
    "box": dict(boxes=[[100.0, 120.0, 700.0, 500.0]]),
    "box and point": dict(coords=[[[400.0, 300.0]]], labels=[[0]], boxes=[[100.0, 120.0, 700.0, 500.0]]),
    "single mask": dict(coords=[[[300.0, 200.0]]], labels=[[1]], multimask=False),
    "mask input": dict(coords=[[[300.0, 200.0]]], labels=[[1]], mask=True),
    "batch of 3": dict(coords=[[[300.0, 200.0]], [[10.0, 900.0]], [[1000.0, 5.0]]], labels=[[1], [1], [0]]),
}


def _tensors(spec, shift=0.0, flip=False):
    coords = None if "coords" not in spec else torch.tensor(spec["coords"]) + shift
    labels = None if "labels" not in spec else torch.tensor(spec["labels"], dtype=torch.int)
    if labels is not None and flip:
        labels = 1 - labels  # other label values, same shapes
    boxes = None if "boxes" not in spec else torch.tensor(spec["boxes"]) + shift
    mask = None
    if spec.get("mask"):
        torch.manual_seed(int(shift) + 5)
        mask = torch.randn(coords.shape[0], 1, 256, 256)
    return coords, labels, boxes, mask


@pytest.mark.parametrize("name", list(PROMPTS))
def test_replays_equal_the_eager_decoder_bit_for_bit(name):
    spec = PROMPTS[name]
    model = _model()
    ctx = FastDecoder(model).prepare(_features(model, 1))
    recorder = td.TracedDecoder(model)
    multimask, valid = spec.get("multimask", True), spec.get("valid")
    for step in range(4):  # the first call records; the others replay, each prompt different
        coords, labels, boxes, mask = _tensors(spec, shift=37.0 * step, flip=step % 2 == 1)
        got = _run(recorder, model, ctx, coords, labels, boxes, mask, multimask, valid)
        _assert_equal(got, _eager(model, ctx, coords, labels, boxes, mask, multimask, valid))
    assert recorder.recorded == 1 and recorder.replayed == 3 and len(recorder) == 1


def test_one_recording_serves_every_image_of_that_size():
    model = _model()
    recorder = td.TracedDecoder(model)
    coords, labels, *_ = _tensors(PROMPTS["hover"])
    outs = []
    for seed in (1, 2, 3):
        ctx = FastDecoder(model).prepare(_features(model, seed))
        got = _run(recorder, model, ctx, coords, labels, valid=(145, 256))
        _assert_equal(got, _eager(model, ctx, coords, labels, None, None, True, (145, 256)))
        outs.append(got[0])
    assert recorder.recorded == 1 and recorder.replayed == 2
    assert not torch.equal(outs[1], outs[2])  # the images' contexts were inputs, not frozen


def test_each_prompt_shape_gets_its_own_recording_and_old_ones_are_evicted(monkeypatch):
    monkeypatch.setattr(td, "MAX_RECORDINGS", 2)
    model = _model()
    ctx = FastDecoder(model).prepare(_features(model, 1))
    recorder = td.TracedDecoder(model)
    for n in (1, 2, 3):
        coords = torch.arange(2.0 * n).reshape(1, n, 2) * 50
        labels = torch.ones(1, n, dtype=torch.int)
        _run(recorder, model, ctx, coords, labels)
    assert recorder.recorded == 3 and len(recorder) == 2
    _run(recorder, model, ctx, torch.zeros(1, 1, 2), torch.ones(1, 1, dtype=torch.int))
    assert recorder.recorded == 4  # the 1-point recording was the oldest: evicted, made again


@pytest.mark.slow
def test_vit_b_hover_replay_equals_the_eager_decoder():
    model = build_sam("vit_b")
    recorder = td.TracedDecoder(model)
    ctx = FastDecoder(model).prepare(_features(model, 3))
    for step in range(3):
        coords = torch.tensor([[[300.0 + 91 * step, 200.0 + 13 * step]]])
        labels = torch.ones(1, 1, dtype=torch.int)
        got = _run(recorder, model, ctx, coords, labels, valid=(145, 256))
        _assert_equal(got, _eager(model, ctx, coords, labels, None, None, True, (145, 256)))
    assert recorder.replayed == 2


# ------------------------------------------------------------------ shape folding
def _shape_reads(graph) -> int:
    return sum(1 for n in graph.nodes() if n.kind() in ("aten::size", "prim::NumToTensor", "aten::Int"))


def test_fold_shapes_replaces_shape_reads_by_the_recorded_numbers():
    def f(x):
        return x.reshape(x.shape[0] // 2, x.shape[1] * 2) * x.shape[-1]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.jit.trace(f, (torch.randn(4, 6),))
    assert _shape_reads(program.graph) >= 6
    assert td.fold_shapes(program.graph) == 3
    assert _shape_reads(program.graph) == 0
    y = torch.randn(4, 6)  # other values, the recorded shape
    assert torch.equal(program(y), f(y))


def test_recordings_replay_without_reading_shapes():
    model = _model()
    ctx = FastDecoder(model).prepare(_features(model, 1))
    recorder = td.TracedDecoder(model)
    coords, labels, *_ = _tensors(PROMPTS["two points"])
    for step in range(2):
        got = _run(recorder, model, ctx, coords + step, labels, valid=(145, 256))
        _assert_equal(got, _eager(model, ctx, coords + step, labels, None, None, True, (145, 256)))
        if step == 1:
            executed = torch.jit.last_executed_optimized_graph()  # this thread's last replay
    assert recorder.replayed == 1
    assert _shape_reads(executed) <= 10  # unfolded: several hundred


def test_a_failed_shape_fold_keeps_the_unfolded_recording(monkeypatch):
    def broken(graph):
        torch._C._jit_pass_inline(graph)  # changes the graph, then fails
        raise RuntimeError("no such pass in this torch")

    monkeypatch.setattr(td, "fold_shapes", broken)
    model = _model()
    ctx = FastDecoder(model).prepare(_features(model, 1))
    recorder = td.TracedDecoder(model)
    coords, labels, *_ = _tensors(PROMPTS["hover"])
    for step in range(3):
        got = _run(recorder, model, ctx, coords + step, labels)
        _assert_equal(got, _eager(model, ctx, coords + step, labels, None, None, True, None))
    executed = torch.jit.last_executed_optimized_graph()
    assert recorder.recorded == 1 and recorder.replayed == 2
    assert _shape_reads(executed) > 50  # the recording made again, unfolded


# ------------------------------------------------------------------ weights
def test_in_place_weight_loads_are_seen_without_a_new_recording():
    model = _model()
    ctx = FastDecoder(model).prepare(_features(model, 1))
    recorder = td.TracedDecoder(model)
    coords, labels, *_ = _tensors(PROMPTS["two points"])
    other = _model(seed=9)  # built first: building registers parameters, which starts new recordings
    before = _run(recorder, model, ctx, coords, labels)
    model.mask_decoder.load_state_dict(other.mask_decoder.state_dict())  # copies into the same tensors
    got = _run(recorder, model, ctx, coords, labels)
    assert recorder.recorded == 1 and recorder.replayed == 1
    _assert_equal(got, _eager(model, ctx, coords, labels, None, None, True, None))
    assert not torch.equal(got[0], before[0])


def test_a_replaced_parameter_makes_a_new_recording():
    model = _model()
    ctx = FastDecoder(model).prepare(_features(model, 1))
    recorder = td.TracedDecoder(model)
    coords, labels, *_ = _tensors(PROMPTS["two points"])
    _run(recorder, model, ctx, coords, labels)
    head = model.mask_decoder.iou_prediction_head.layers[-1]
    head.weight = nn.Parameter(torch.randn_like(head.weight))  # a new object, not an in-place load
    got = _run(recorder, model, ctx, coords, labels)
    assert recorder.recorded == 2
    _assert_equal(got, _eager(model, ctx, coords, labels, None, None, True, None))


# ------------------------------------------------------------------ fallbacks
def test_a_failed_recording_falls_back_to_the_eager_path_once_and_for_all(monkeypatch, caplog):
    model = _model()
    ctx = FastDecoder(model).prepare(_features(model, 1))
    recorder = td.TracedDecoder(model)
    tries = []

    def broken(*a, **k):
        tries.append(1)
        raise RuntimeError("no tracer here")

    monkeypatch.setattr(torch.jit, "trace", broken)
    coords, labels, *_ = _tensors(PROMPTS["hover"])
    with caplog.at_level(logging.WARNING, logger=td.__name__):
        for step in range(3):
            got = _run(recorder, model, ctx, coords + step, labels)
            _assert_equal(got, _eager(model, ctx, coords + step, labels, None, None, True, None))
    assert tries == [1] and recorder.recorded == 0 and recorder.replayed == 0 and len(recorder) == 0
    assert "failed" in caplog.text


def test_a_recording_that_froze_a_value_is_not_used(monkeypatch, caplog):
    """A recording that ignores its prompt (as one would that froze the example's values)
    is caught by the first-use check, which runs it on another prompt than it was made with."""
    model = _model()
    ctx = FastDecoder(model).prepare(_features(model, 1))
    recorder = td.TracedDecoder(model)
    real_trace = torch.jit.trace

    def frozen(module, example, **kwargs):
        program = real_trace(module, example, **kwargs)
        fixed = program(*example)
        return lambda *inputs: fixed

    monkeypatch.setattr(torch.jit, "trace", frozen)
    coords, labels, *_ = _tensors(PROMPTS["hover"])
    with caplog.at_level(logging.WARNING, logger=td.__name__):
        first = _run(recorder, model, ctx, coords, labels)
        second = _run(recorder, model, ctx, coords + 50, labels)
    _assert_equal(first, _eager(model, ctx, coords, labels, None, None, True, None))
    _assert_equal(second, _eager(model, ctx, coords + 50, labels, None, None, True, None))
    assert recorder.replayed == 0 and len(recorder) == 0
    assert "differs" in caplog.text


def test_the_environment_switch_turns_recording_off(monkeypatch):
    monkeypatch.setenv(td.ENV_SWITCH, "0")
    assert not td.tracing_enabled()
    model = _model()
    ctx = FastDecoder(model).prepare(_features(model, 1))
    recorder = td.TracedDecoder(model)
    coords, labels, *_ = _tensors(PROMPTS["hover"])
    for _ in range(2):
        _run(recorder, model, ctx, coords, labels)
    assert recorder.recorded == 0 and recorder.replayed == 0
    monkeypatch.setenv(td.ENV_SWITCH, "1")
    assert td.tracing_enabled()


def test_models_without_the_fast_path_have_no_recorder_and_the_registry_does_not_keep_models():
    assert td.traced_decoder_for(nn.Linear(2, 2)) is None
    model = _model()
    recorder = td.traced_decoder_for(model)
    assert recorder is td.traced_decoder_for(model)
    ctx = FastDecoder(model).prepare(_features(model, 1))
    coords, labels, *_ = _tensors(PROMPTS["hover"])
    _run(recorder, model, ctx, coords, labels)
    _run(recorder, model, ctx, coords, labels)
    assert recorder.replayed == 1
    ref = weakref.ref(model)
    del model, ctx, recorder
    gc.collect()
    assert ref() is None  # a recording must not keep a (possibly 2.5 GB) model alive


# ------------------------------------------------------------------ the session
def test_hover_decodes_run_through_the_recording_and_match_the_eager_session(monkeypatch):
    model = _model()
    emb = ImageEmbedding(_features(model, 4), (1080, 1920), (576, 1024), model_id_of(model))
    session = DecoderSession(model, emb)
    session.warm_hover()
    recorder = td.traced_decoder_for(model)
    assert recorder.recorded == 1 and len(recorder) == 1
    prompt = Prompt(points=[[777.0, 333.0]], labels=[1])
    traced = session.decode(prompt, image_only=True)
    assert recorder.replayed == 1
    session.decode(prompt)  # not a hover: the eager path, no new recording
    assert recorder.recorded == 1 and recorder.replayed == 1
    monkeypatch.setenv(td.ENV_SWITCH, "0")
    eager = session.decode(prompt, image_only=True)
    assert np.array_equal(traced.logits, eager.logits) and np.array_equal(traced.scores, eager.scores)


def test_the_recorder_does_not_keep_an_old_images_context_alive():
    model = _model()
    recorder = td.TracedDecoder(model)
    coords, labels, *_ = _tensors(PROMPTS["hover"])
    ctx = FastDecoder(model).prepare(_features(model, 1))
    for _ in range(2):
        _run(recorder, model, ctx, coords, labels)
    tensor_ref = weakref.ref(ctx.keys_no_mask)
    del ctx
    gc.collect()
    assert tensor_ref() is None  # the per-image tensors went with their context
    ctx = FastDecoder(model).prepare(_features(model, 2))
    _run(recorder, model, ctx, coords, labels)
    assert recorder.recorded == 1 and recorder.replayed == 2


def test_replays_from_two_threads_at_once_give_each_its_own_result():
    model = _model()
    ctx = FastDecoder(model).prepare(_features(model, 1))
    recorder = td.TracedDecoder(model)
    _, labels, *_ = _tensors(PROMPTS["hover"])
    _run(recorder, model, ctx, torch.zeros(1, 1, 2), labels)  # records
    results, errors = {}, []
    start = threading.Barrier(2)

    def work(k):
        try:
            start.wait()
            for i in range(6):
                coords = torch.tensor([[[100.0 + 97 * k + 11 * i, 50.0 + 7 * i]]])
                results[(k, i)] = (coords, _run(recorder, model, ctx, coords, labels))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 12
    assert recorder.recorded == 1 and recorder.replayed == 12
    for coords, got in results.values():
        _assert_equal(got, _eager(model, ctx, coords, labels, None, None, True, None))


def test_the_parameter_hook_is_installed_on_first_use_not_on_import():
    """Importing the module changes nothing process-wide; the first ``traced_decoder_for`` does."""
    import subprocess
    import sys

    code = (
        "import torch.nn as nn\n"
        "import samlabel.sam.fast.traced_decoder as td\n"
        "from samlabel.sam import build_sam\n"
        "assert not td._hook_installed\n"
        "before = td._param_generation\n"
        "nn.Linear(2, 2)\n"
        "assert td._param_generation == before, 'a hook ran before first use'\n"
        "assert td.traced_decoder_for(build_sam('test_tiny')) is not None\n"
        "assert td._hook_installed\n"
        "nn.Linear(2, 2)\n"
        "assert td._param_generation > before\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
