"""Boxes mode: what it writes, what it keeps, reruns, bad inputs, the dry run, the command."""

from __future__ import annotations

import pytest

from autolabel_testing import FACTORY, make_project, read_json


def _spec(root, model_spec, **kw):
    from samlabel.autolabel.spec import AutolabelSpec

    return AutolabelSpec(root, model=model_spec, **kw)


def _shapes(root, name="img0.png"):
    from samlabel.annotations import Project

    return Project(root).load(root / name).shapes


def test_rectangles_become_polygons_with_their_attributes(tmp_path, model_spec, runner):
    from samlabel.autolabel.job import run_local
    from samlabel.autolabel.provenance import PROVENANCE_KEY

    root = make_project(tmp_path / "p", n_images=1, boxes_per_image=4)
    before = _shapes(root)
    report = run_local(_spec(root, model_spec), runner=runner)
    assert (report.written, report.made, report.removed, report.problems) == (1, 4, 4, [])
    after = _shapes(root)
    assert [s.kind for s in after] == ["polygon"] * 5  # 4 masks + the person's polygon
    rects = [s for s in before if s.kind == "rectangle"]
    made = [s for s in after if PROVENANCE_KEY in s.extra]
    for rect, shape in zip(rects, made):
        assert (shape.label, shape.group_id, dict(shape.flags), shape.description) == (
            rect.label, rect.group_id, dict(rect.flags), rect.description)
        mark = shape.extra[PROVENANCE_KEY]
        assert mark["prompt"] == "box" and mark["model"] == FACTORY and isinstance(mark["score"], float)
    person = [s for s in after if s.label == "person"]
    assert len(person) == 1 and person[0].same_content([s for s in before if s.label == "person"][0])
    assert after[1].label == "person"  # masks take their rectangles' places; the rest keeps its order


def test_keep_boxes_and_rerun_adds_nothing(tmp_path, model_spec, runner):
    from samlabel.autolabel.job import run_local

    root = make_project(tmp_path / "p", n_images=2, boxes_per_image=3)
    first = run_local(_spec(root, model_spec, keep_boxes=True), runner=runner)
    assert (first.written, first.made, first.kept, first.removed) == (2, 6, 6, 0)
    kinds = [s.kind for s in _shapes(root)]
    assert kinds.count("rectangle") == 3 and kinds.count("polygon") == 4
    snapshot = {p.name: p.read_bytes() for p in root.glob("*.json")}
    again = run_local(_spec(root, model_spec, keep_boxes=True), runner=runner)
    assert (again.written, again.made, again.unchanged) == (0, 0, 2)
    assert {p.name: p.read_bytes() for p in root.glob("*.json")} == snapshot  # not even rewritten
    replace = run_local(_spec(root, model_spec), runner=runner)  # kept boxes are done: not converted again
    assert replace.made == 0


def test_new_box_after_a_run_is_the_only_one_converted(tmp_path, model_spec, runner):
    from samlabel.annotations import Project, Shape
    from samlabel.autolabel.job import run_local

    root = make_project(tmp_path / "p", n_images=1, boxes_per_image=3)
    run_local(_spec(root, model_spec), runner=runner)
    project = Project(root)
    annotation = project.load(root / "img0.png")
    count = len(annotation.shapes)
    project.save(annotation.with_shapes([*annotation.shapes, Shape.rectangle("c", (10, 10), (60, 50))]), root / "img0.png")
    report = run_local(_spec(root, model_spec), runner=runner)
    assert report.made == 1
    shapes = _shapes(root)
    assert len(shapes) == count + 1 and shapes[-1].label == "c" and shapes[-1].kind == "polygon"


def test_identical_rectangles_each_get_a_mask(tmp_path, model_spec, runner):
    from samlabel.annotations import Project, Shape
    from samlabel.autolabel.job import run_local

    root = make_project(tmp_path / "p", n_images=1, boxes_per_image=0, human=False)
    project = Project(root)
    a = project.load(root / "img0.png")
    box = Shape.rectangle("x", (5, 5), (60, 40))
    project.save(a.with_shapes([box, box.with_new_uid()]), root / "img0.png")
    assert run_local(_spec(root, model_spec, keep_boxes=True), runner=runner).made == 2
    assert run_local(_spec(root, model_spec, keep_boxes=True), runner=runner).made == 0
    assert [s.kind for s in _shapes(root)] == ["rectangle", "polygon", "rectangle", "polygon"]


def test_empty_mask_keeps_the_rectangle_marked(tmp_path, model_spec, runner):
    """A mask that traces to nothing leaves its rectangle, marked done, and a rerun skips it."""
    from samlabel.autolabel.job import run_local
    from samlabel.autolabel.provenance import PROVENANCE_KEY

    root = make_project(tmp_path / "p", n_images=1, boxes_per_image=2, human=False)
    report = run_local(_spec(root, model_spec, min_area=10**9), runner=runner)  # every part too small
    assert (report.empty, report.made, report.written) == (2, 0, 1)
    shapes = _shapes(root)
    assert [s.kind for s in shapes] == ["rectangle", "rectangle"]
    assert all(s.extra[PROVENANCE_KEY]["empty"] is True for s in shapes)
    assert run_local(_spec(root, model_spec), runner=runner).made == 0


def test_dry_run_changes_nothing_and_says_what_would(tmp_path, model_spec):
    from samlabel.autolabel.job import run_local

    root = make_project(tmp_path / "p", n_images=2, boxes_per_image=3)
    snapshot = {p.name: p.read_bytes() for p in root.iterdir()}
    bad_model = model_spec.__class__(checkpoint=str(tmp_path / "missing.pth"), factory=FACTORY)
    report = run_local(_spec(root, bad_model, dry_run=True))  # no model is loaded
    assert report.plan == ["img0.png: 3 box(es) replaced by masks", "img1.png: 3 box(es) replaced by masks"]
    assert {p.name: p.read_bytes() for p in root.iterdir()} == snapshot


def test_selection_glob_and_unlabelled(tmp_path, model_spec, runner):
    from samlabel.autolabel.job import run_local

    root = make_project(tmp_path / "p", n_images=3, boxes_per_image=2, human=False)
    report = run_local(_spec(root, model_spec, glob="img[01].png"), runner=runner)
    assert report.images == 2 and report.written == 2
    assert [s.kind for s in _shapes(root, "img2.png")] == ["rectangle"] * 2
    unlabelled = run_local(_spec(root, model_spec, select="unlabelled", dry_run=True))
    assert unlabelled.images == 1 and unlabelled.plan == ["img2.png: 2 box(es) replaced by masks"]


def test_bad_image_and_bad_sidecar_are_named_and_skipped(tmp_path, model_spec, runner):
    from samlabel.autolabel.job import run_local

    root = make_project(tmp_path / "p", n_images=3, boxes_per_image=2)
    (root / "img1.png").write_bytes((root / "img1.png").read_bytes()[:200])  # truncated
    (root / "img2.json").write_text("{not json", encoding="utf-8")
    report = run_local(_spec(root, model_spec), runner=runner)
    assert report.written == 1 and len(report.problems) == 2
    assert any(str(root / "img1.png") in p for p in report.problems)
    assert any(str(root / "img2.json") in p for p in report.problems)
    assert (root / "img2.json").read_text(encoding="utf-8") == "{not json"


def test_no_such_project_and_no_model(tmp_path, model_spec):
    from samlabel.autolabel.errors import AutolabelError, ModelUnavailableError
    from samlabel.autolabel.job import run_local
    from samlabel.autolabel.spec import ModelSpec

    with pytest.raises(AutolabelError, match="not a project folder"):
        run_local(_spec(tmp_path / "nope", model_spec))
    root = make_project(tmp_path / "p", n_images=1, boxes_per_image=1)
    with pytest.raises(ModelUnavailableError, match="cannot import"):
        run_local(_spec(root, ModelSpec(factory="no_such_module_xyz:build")))
    with pytest.raises(AutolabelError, match="unknown mode"):
        _spec(root, model_spec, mode="circles")


def test_the_command_exit_codes_and_output(tmp_path, model_spec, capsys, monkeypatch):
    from samlabel.cli import main

    root = make_project(tmp_path / "p", n_images=2, boxes_per_image=2)
    args = ["autolabel", str(root), "--from", "boxes", "--model-factory", FACTORY, "--checkpoint", model_spec.checkpoint]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would change img0.png: 2 box(es) replaced by masks" in out and "dry run" in out
    (root / "img1.png").write_bytes(b"")
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "img1.png" in captured.err and "skipped" in captured.err and "autolabel boxes" in captured.err
    assert "2 mask(s) made" in captured.out
    assert main(["autolabel", str(tmp_path / "missing"), "--from", "boxes"]) == 1
    assert str(tmp_path / "missing") in capsys.readouterr().err
    assert sum(1 for s in read_json(root / "img0.json")["shapes"] if "samlabel_autolabel" in s) >= 2
