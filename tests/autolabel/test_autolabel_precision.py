"""``samlabel autolabel --precision / --encoder-engine``: batch work runs the encoder as the app's
``--precision`` / ``--engine`` do, and each shape made names the precision that made it."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from autolabel_testing import FACTORY, make_project


def _parse(*extra):
    from samlabel.autolabel.command import add_arguments, spec_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return spec_from_args(parser.parse_args(["proj", "--from", "boxes", *extra]))


def test_the_options_reach_the_model_spec():
    spec = _parse()
    assert (spec.model.precision, spec.model.encoder_engine) == ("fp32", "auto")
    spec = _parse("--precision", "int8", "--encoder-engine", "torch")
    assert (spec.model.precision, spec.model.encoder_engine) == ("int8", "torch")
    with pytest.raises(SystemExit):
        _parse("--precision", "fp8")


def test_an_int8_run_names_its_precision_in_each_shape(tmp_path, model_spec):
    from samlabel.autolabel.job import run_local
    from samlabel.autolabel.model import Runner
    from samlabel.autolabel.provenance import PROVENANCE_KEY
    from samlabel.autolabel.spec import AutolabelSpec
    from samlabel.annotations import Project
    from samlabel.sam.fast.openvino_engine import engine_of
    from samlabel.sam.fast.precision import encoder_precision

    root = make_project(tmp_path / "p", n_images=1, boxes_per_image=3)
    spec = AutolabelSpec(root,
                         model=dataclasses.replace(model_spec, precision="int8", encoder_engine="torch"))
    runner = Runner.for_spec(spec)
    assert encoder_precision(runner.sam) == "int8" and engine_of(runner.sam) is None  # PyTorch's dynamic int8
    report = run_local(spec, runner=runner)
    assert report.made == 3 and not report.problems
    made = [s for s in Project(root).load(root / "img0.png").shapes if PROVENANCE_KEY in s.extra]
    assert [s.extra[PROVENANCE_KEY]["model"] for s in made] == [FACTORY + "+int8"] * 3


def test_a_reduced_precision_on_a_gpu_is_refused_before_loading(model_spec):
    from samlabel.autolabel.errors import ModelUnavailableError
    from samlabel.autolabel.model import build_model

    with pytest.raises(ModelUnavailableError, match="CPU only"):
        build_model(dataclasses.replace(model_spec, device="cuda", precision="int8"))


def test_int8_runs_on_openvino_where_it_is_installed_and_the_cpu_has_int8_products(model_spec, monkeypatch):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    import samlabel.sam.fast.precision as precision_mod
    from samlabel.autolabel.model import build_model, running_label
    from samlabel.sam.fast.openvino_engine import engine_of
    from samlabel.sam.fast.precision import encoder_precision

    monkeypatch.setattr(precision_mod, "int8_dot_products", lambda: (True, "CPU flags avx512_vnni"))
    sam = build_model(dataclasses.replace(model_spec, precision="int8"))  # encoder engine "auto"
    assert engine_of(sam) is not None and engine_of(sam).info.precision == "int8"
    assert encoder_precision(sam) == "int8" and "+ov-int8." in sam.model_id
    assert running_label(model_spec, sam) == FACTORY + "+ov-int8"  # what ran, not what was asked
    # AVX2 alone (no VNNI): PyTorch's dynamic int8, and the label says so
    monkeypatch.setattr(precision_mod, "int8_dot_products", lambda: (False, "no VNNI"))
    sam = build_model(dataclasses.replace(model_spec, precision="int8"))
    assert engine_of(sam) is None and encoder_precision(sam) == "int8" and sam.model_id.endswith("+int8")
    assert running_label(model_spec, sam) == FACTORY + "+int8"
