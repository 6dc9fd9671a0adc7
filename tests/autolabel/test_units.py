"""Small pieces: the command's options, the result's JSON form (what Ray ships), keys."""

from __future__ import annotations

import argparse

import pytest

from autolabel_testing import make_project


def test_command_options_make_the_spec():
    from samlabel.autolabel.command import add_arguments, ray_options_from_args, spec_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["proj", "--from", "everything", "--points-per-side", "8", "--pred-iou-thresh", "0.5",
                              "--images", "unlabelled", "--glob", "a*.jpg", "--threads", "3", "--model", "vit_b",
                              "--num-actors", "4", "--gpus-per-actor", "0.5", "--write", "workers", "--dry-run"])
    spec = spec_from_args(args)
    assert (spec.mode, spec.select, spec.glob, spec.dry_run) == ("everything", "unlabelled", "a*.jpg", True)
    assert (spec.everything.points_per_side, spec.everything.pred_iou_thresh) == (8, 0.5)
    assert (spec.model.name, spec.model.threads) == ("vit_b", 3)
    options = ray_options_from_args(args)
    assert (options.num_actors, options.gpus_per_actor, options.write) == (4, 0.5, "workers")
    with pytest.raises(SystemExit):
        parser.parse_args(["proj"])  # --from is required


def test_bad_parameters_are_refused_by_name():
    from samlabel.autolabel.errors import AutolabelError
    from samlabel.autolabel.spec import AutolabelSpec, EverythingParams

    with pytest.raises(AutolabelError, match="pred_iou_thresh"):
        AutolabelSpec("p", everything=EverythingParams(pred_iou_thresh=1.5))
    with pytest.raises(AutolabelError, match="tolerance"):
        AutolabelSpec("p", tolerance=-1)
    with pytest.raises(AutolabelError, match="selection"):
        AutolabelSpec("p", select="some")


def test_result_json_round_trip_merges_identically(tmp_path, runner):
    from samlabel.annotations import Project
    from samlabel.annotations.sidecar import annotation_to_dict
    from samlabel.autolabel.spec import AutolabelSpec
    from samlabel.autolabel.work import ImageResult, apply_result, compute_image

    root = make_project(tmp_path / "p", n_images=1, boxes_per_image=3)
    spec = AutolabelSpec(root)
    annotation = Project(root).load(root / "img0.png")
    result = compute_image(runner, root / "img0.png", annotation, spec)
    shipped = ImageResult.from_json(result.to_json())
    assert shipped == result
    a, counts_a = apply_result(annotation, result, spec)
    b, counts_b = apply_result(annotation, shipped, spec)
    assert annotation_to_dict(a) == annotation_to_dict(b) and counts_a == counts_b and counts_a.made == 3
    merged_again, counts = apply_result(a, result, spec)  # already merged: nothing to do
    assert not counts.changed and merged_again is a


def test_box_keys_are_stable_and_rank_duplicates():
    from samlabel.annotations import Shape
    from samlabel.autolabel.provenance import box_keys

    a = Shape.rectangle("x", (1, 2), (30, 40))
    b = a.with_new_uid()
    c = Shape.rectangle("y", (1, 2), (30, 40))
    keys = box_keys([a, b, c])
    assert keys[a.uid].endswith("-0") and keys[b.uid].endswith("-1") and keys[a.uid][:-2] == keys[b.uid][:-2]
    assert keys[c.uid][:-2] != keys[a.uid][:-2]
    assert list(box_keys([a]).values()) == [keys[a.uid]]  # the same rectangle later: the same key
