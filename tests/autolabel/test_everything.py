"""Everything mode: the generator's masks stored as proposals (not shapes), once."""

from __future__ import annotations

import numpy as np

from autolabel_testing import make_project, read_json

PARAMS = dict(points_per_side=6, pred_iou_thresh=0.0, stability_score_thresh=0.0)  # random weights score low


def _spec(root, model_spec, **kw):
    from samlabel.autolabel.spec import AutolabelSpec, EverythingParams

    return AutolabelSpec(root, mode="everything", model=model_spec, everything=EverythingParams(**PARAMS), **kw)


def test_proposals_are_stored_not_shapes_and_match_the_generator(tmp_path, model_spec, runner):
    from samlabel.annotations import Project
    from samlabel.autolabel.job import run_local
    from samlabel.autolabel.provenance import PROPOSALS_KEY, stored_proposal_records
    from samlabel.autolabel.work import load_rgb
    from samlabel.sam.automatic_mask_generator import SamAutomaticMaskGenerator

    root = make_project(tmp_path / "p", n_images=2, boxes_per_image=2)
    shapes_before = {p.name: read_json(p)["shapes"] for p in root.glob("*.json")}
    report = run_local(_spec(root, model_spec), runner=runner)
    assert report.written == 2 and report.made == 0 and report.proposals >= 2 and report.problems == []
    for sidecar in root.glob("*.json"):
        data = read_json(sidecar)
        assert data["shapes"] == shapes_before[sidecar.name]  # shapes untouched
        stored = data[PROPOSALS_KEY]
        assert stored["model"] == model_spec.factory and stored["params"]["points_per_side"] == 6
    image = root / "img0.png"
    expected = SamAutomaticMaskGenerator(runner.sam, output_mode="coco_rle", **PARAMS).generate(load_rgb(image))
    records = stored_proposal_records(Project(root).load(image))
    assert len(records) == len(expected) > 0
    for ours, ref in zip(records, expected):
        assert ours["segmentation"]["counts"] == ref["segmentation"]["counts"]
        assert ours["area"] == ref["area"] and np.allclose(ours["bbox"], ref["bbox"])


def test_rerun_stores_nothing_twice(tmp_path, model_spec, runner):
    from samlabel.autolabel.job import run_local

    root = make_project(tmp_path / "p", n_images=2, boxes_per_image=1)
    run_local(_spec(root, model_spec), runner=runner)
    snapshot = {p.name: p.read_bytes() for p in root.glob("*.json")}
    again = run_local(_spec(root, model_spec), runner=runner)
    assert again.written == 0 and again.unchanged == 2
    assert {p.name: p.read_bytes() for p in root.glob("*.json")} == snapshot
    assert run_local(_spec(root, model_spec, dry_run=True)).plan == []


def test_stored_proposals_feed_the_proposals_dock(tmp_path, model_spec, runner):
    """What the app's dock takes: ProposalSet.from_records on the stored records."""
    from samlabel.annotations import Project
    from samlabel.autolabel.job import run_local
    from samlabel.autolabel.provenance import stored_proposal_records
    from samlabel.gui.proposals import ProposalSet, shapes_from_proposals

    root = make_project(tmp_path / "p", n_images=1, boxes_per_image=1)
    run_local(_spec(root, model_spec), runner=runner)
    annotation = Project(root).load(root / "img0.png")
    proposals = ProposalSet.from_records(stored_proposal_records(annotation), image_key=str(root / "img0.png"))
    assert len(proposals) > 0
    mask = proposals.all()[0].mask()
    assert mask.shape == (annotation.image_height, annotation.image_width) and mask.any()
    accepted = proposals.accept([proposals.ids()[0]])
    assert len(shapes_from_proposals(accepted, "thing", tolerance=0.0, min_area=0)) == 1
