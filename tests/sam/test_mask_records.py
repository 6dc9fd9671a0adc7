"""MaskRecords is frozen and never modified: replace_mask returns a new record set."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from samlabel.sam.amg_utils import decode_coco_rle, encode_coco_rle
from samlabel.sam.automatic_mask_generator import MaskRecords


def _records(n: int) -> MaskRecords:
    masks = np.zeros((n, 4, 5), bool)
    for i in range(n):
        masks[i, i, i] = True
    return MaskRecords(encode_coco_rle(masks), np.arange(4 * n).reshape(n, 4), np.ones(n, np.float32),
                       np.ones(n, np.float32), np.zeros((n, 2)), np.zeros((n, 4), np.int64), np.ones(n, np.int64))


def test_replace_mask_returns_a_new_record_and_leaves_the_old_one_alone():
    data = _records(3)
    before = (list(data.rles), data.boxes.copy(), data.areas.copy())
    full = np.ones((1, 4, 5), bool)
    out = data.replace_mask(1, encode_coco_rle(full)[0], np.array([0, 0, 4, 3]), 20)
    assert out is not data and len(out) == 3
    assert decode_coco_rle(out.rles[1]).all() and out.boxes[1].tolist() == [0, 0, 4, 3] and out.areas[1] == 20
    assert out.rles[0] == data.rles[0] and out.boxes[2].tolist() == data.boxes[2].tolist()
    assert data.rles == before[0]
    np.testing.assert_array_equal(data.boxes, before[1])
    np.testing.assert_array_equal(data.areas, before[2])
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.rles = []  # type: ignore[misc]
