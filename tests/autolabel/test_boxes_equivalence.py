"""Boxes mode against Meta's reference ``SamPredictor`` on identical random weights.

Each rectangle's written shape (the traced polygons, rasterised) must cover the same
pixels as the reference's single mask for that box: IoU >= 0.99 per object, on a project
with many boxes per image whose masks have several parts and holes. Random weights make
salt-and-pepper masks (hundreds of specks per object), the worst case for tracing, so the
job runs with exact tracing (``tolerance=0``, ``min_area=1``); the decoder's own masks are
compared too (before tracing).
"""

from __future__ import annotations

import numpy as np
import pytest

from autolabel_testing import make_project

pytest.importorskip("segment_anything", reason="Meta's segment_anything is the reference")


def test_box_masks_match_the_reference_per_object(tmp_path, model_spec, reference_sam):
    from segment_anything import SamPredictor as MetaPredictor

    from samlabel.annotations import Project, polygons_to_mask
    from samlabel.autolabel.job import run_local
    from samlabel.autolabel.provenance import PROVENANCE_KEY
    from samlabel.autolabel.spec import AutolabelSpec
    from samlabel.autolabel.work import load_rgb

    root = make_project(tmp_path / "p", n_images=1, boxes_per_image=10, size=(192, 256), seed=7)
    before = {img.name: Project(root).load(img) for img in Project(root).images}
    report = run_local(AutolabelSpec(root, model=model_spec, box_batch=4, tolerance=0.0, min_area=1.0))  # 10 boxes: three decoder batches
    assert report.problems == [] and report.made == 10 and report.removed == 10

    project = Project(root)
    meta = MetaPredictor(reference_sam)
    ious, parts, holes = [], 0, 0
    for image in project.images:
        rgb = load_rgb(image)
        meta.set_image(rgb)
        h, w = rgb.shape[:2]
        after = project.load(image)
        made = [s for s in after.shapes if s.extra.get(PROVENANCE_KEY)]
        rects = [s for s in before[image.name].shapes if s.kind == "rectangle"]
        assert len(made) == len(rects) == 10
        for rect, shape in zip(rects, made):  # each mask takes its rectangle's place, in order
            assert shape.extra[PROVENANCE_KEY]["box"] == list(rect.bbox())
            ref, ref_score, _ = meta.predict(box=np.array(rect.bbox()), multimask_output=False)
            ours = polygons_to_mask(shape.polygons, h, w)
            ious.append((ref[0] & ours).sum() / max(1, (ref[0] | ours).sum()))
            assert shape.extra[PROVENANCE_KEY]["score"] == pytest.approx(float(ref_score[0]), abs=1e-4)
            parts = max(parts, len(shape.polygons))
            holes = max(holes, sum(len(p.holes) for p in shape.polygons))
    print(f"\nboxes vs reference: {len(ious)} objects, min IoU {min(ious):.4f}, mean {np.mean(ious):.4f}; "
          f"up to {parts} parts and {holes} holes per object")
    assert min(ious) >= 0.99
    assert parts > 1 and holes > 0  # the project really has multi-part objects with holes


def test_one_batch_equals_one_box_at_a_time(runner):
    """All boxes of an image through the decoder in one batch give the masks each box alone gives."""
    from autolabel_testing import random_boxes, structured_image
    from samlabel.autolabel.work import predict_box_masks

    image = structured_image(80, 100, seed=3)
    boxes = np.array(random_boxes(80, 100, 9, seed=3))
    runner.predictor.set_image(image)
    batched, scores = predict_box_masks(runner.predictor, boxes, batch=64)
    assert len(batched) == 9 and scores.shape == (9,)
    for box, mask, score in zip(boxes, batched, scores):
        alone, alone_scores = predict_box_masks(runner.predictor, box[None], batch=1)
        assert (alone[0] != mask).sum() <= 2  # float rounding at the threshold only
        assert alone_scores[0] == pytest.approx(score, abs=1e-5)
    runner.predictor.reset_image()
