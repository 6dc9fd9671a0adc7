"""ProposalSet: ordering, accept/reject state, listeners (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samlabel.gui.proposals import ProposalSet, ProposalState, describe, shapes_from_proposals


def _record(x, y, w, h, iou, size=(20, 30)):
    seg = np.zeros(size, dtype=bool)
    seg[y : y + h, x : x + w] = True
    return {
        "segmentation": seg,
        "area": int(seg.sum()),
        "bbox": [x, y, w, h],
        "predicted_iou": iou,
        "stability_score": 0.9,
        "point_coords": [[x + 0.5, y + 0.5]],
        "crop_box": [0, 0, size[1], size[0]],
    }


@pytest.fixture
def proposals():
    records = [_record(0, 0, 2, 2, 0.80), _record(5, 5, 4, 4, 0.95), _record(10, 2, 3, 1, 0.88)]
    return ProposalSet.from_records(records, image_key="img.png")


def test_sorted_best_first_with_stable_ids(proposals):
    assert [p.score for p in proposals] == [0.95, 0.88, 0.80]
    assert proposals.ids() == [0, 1, 2]
    first = proposals[0]
    assert first.area == 16 and first.bbox == (5.0, 5.0, 4.0, 4.0) and first.point == (5.5, 5.5)
    assert first.mask().shape == (20, 30) and first.mask().sum() == 16
    assert proposals.image_key == "img.png"
    assert all(p.state == ProposalState.PENDING for p in proposals)
    assert "IoU 0.95" in describe(first) and "16 px" in describe(first)


def test_min_area_filters(proposals):
    records = [_record(0, 0, 2, 2, 0.8), _record(5, 5, 4, 4, 0.9)]
    assert [p.area for p in ProposalSet.from_records(records, min_area=5)] == [16]


def test_accept_and_reject_return_only_changes(proposals):
    changed = proposals.accept([0, 0, 2])
    assert [p.id for p in changed] == [0, 2]
    assert proposals.accept([0]) == []
    assert [p.id for p in proposals.accepted()] == [0, 2]
    # rejecting an accepted proposal does nothing: it is a shape already
    assert proposals.reject([0, 1]) == [proposals[1]]
    assert proposals[0].state == ProposalState.ACCEPTED
    assert proposals[1].state == ProposalState.REJECTED
    assert proposals.is_resolved()
    counts = proposals.counts()
    assert counts[ProposalState.ACCEPTED] == 2 and counts[ProposalState.REJECTED] == 1
    assert counts[ProposalState.PENDING] == 0


def test_accept_all_and_reject_all_touch_only_pending(proposals):
    proposals.reject([1])
    accepted = proposals.accept_all()
    assert sorted(p.id for p in accepted) == [0, 2]
    assert proposals[1].state == ProposalState.REJECTED
    assert proposals.reject_all() == []
    proposals.reset([0])
    assert [p.id for p in proposals.reject_all()] == [0]


def test_a_rejected_proposal_can_still_be_accepted(proposals):
    proposals.reject([2])
    assert [p.id for p in proposals.accept([2])] == [2]


def test_unknown_id_raises(proposals):
    with pytest.raises(KeyError):
        proposals.accept([42])


def test_listeners_hear_changes_and_can_unsubscribe(proposals):
    heard = []
    unsubscribe = proposals.subscribe(lambda changed: heard.append(sorted(p.id for p in changed)))
    proposals.accept([1])
    proposals.accept([1])  # no change: no call
    proposals.reject_all()
    unsubscribe()
    proposals.reset([0])
    assert heard == [[1], [0, 2]]


def test_rle_segmentations_decode():
    seg = np.zeros((6, 7), dtype=bool)
    seg[1:3, 2:6] = True
    rle = mask_utils.encode(np.asfortranarray(seg.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    record = {"segmentation": rle, "area": 8, "bbox": [2, 1, 4, 2], "predicted_iou": 0.9, "stability_score": 0.95,
              "point_coords": np.array([[3.0, 2.0]])}
    (proposal,) = ProposalSet.from_records([record])
    np.testing.assert_array_equal(proposal.mask(), seg)
    assert proposal.point == (3.0, 2.0)
    # uncompressed RLE (counts as a list, column-major runs), as other tools write it
    runs = [13, 2, 4, 2, 4, 2, 4, 2, 9]  # 6x7 mask: columns 2..5, rows 1..2
    (plain,) = ProposalSet.from_records([{**record, "segmentation": {"size": [6, 7], "counts": runs}}])
    np.testing.assert_array_equal(plain.mask(), seg)


def test_accepted_proposals_become_polygon_shapes(proposals):
    accepted = proposals.accept([0, 1])
    shapes = shapes_from_proposals(accepted, "car", tolerance=0.0, min_area=4.0)
    # proposal 1 is a 3x1 strip (area 3 < min_area 4): left out
    assert len(shapes) == 1
    (shape,) = shapes
    assert shape.label == "car" and shape.kind == "polygon"
    assert shape.bbox() == (5.0, 5.0, 9.0, 9.0) and shape.area() == 16.0
