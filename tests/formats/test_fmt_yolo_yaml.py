"""Ultralytics-style segment joining and data.yaml read and written with PyYAML."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samlabel.formats.common import FormatError
from samlabel.formats.data_yaml import dump_data_yaml, read_names
from samlabel.formats.yolo import merge_multi_segment


def square(x, y, s):
    return np.array([[x, y], [x + s, y], [x + s, y + s], [x, y + s]], dtype=float)


def raster(ring, h=60, w=80):
    return mask_utils.decode(mask_utils.frPyObjects([ring.ravel().tolist()], h, w))[:, :, 0].astype(bool)


def test_joined_polygon_covers_the_union_with_zero_width_bridges():
    parts = [square(2, 2, 10), square(30, 5, 8), square(55, 30, 12)]
    joined = merge_multi_segment(parts)
    # every original vertex is on the joined ring
    for p in parts:
        for v in p:
            assert (np.abs(joined - v).sum(axis=1) < 1e-9).any()
    union = raster(parts[0]) | raster(parts[1]) | raster(parts[2])
    got = raster(joined)
    assert (got & ~union).sum() <= 40  # only the one-pixel-wide bridge lines may be drawn
    assert (union & ~got).sum() == 0


def test_hole_oriented_against_the_exterior_stays_a_hole():
    outer = square(10, 10, 40)
    hole = square(20, 20, 20)[::-1]  # opposite orientation
    joined = merge_multi_segment([outer, hole])
    got = raster(joined)
    assert not got[30, 30] and got[15, 15]


def test_middle_segment_reversal_enters_at_the_closest_vertex():
    a, c = square(0, 0, 5), square(40, 0, 5)
    # entry (closest to a) is index 4, exit (closest to c) index 2: the ring is walked
    # backwards, which Ultralytics' own version enters at the wrong vertex
    b = np.array([(20, 5), (22, 8), (25, 5), (25, 0), (20, 0)], dtype=float)
    joined = merge_multi_segment([a, b, c])
    closed = np.vstack([joined, joined[:1]])
    steps = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    # with correct entry points the only long steps are the 4 bridge traversals (15 each)
    assert np.sort(steps)[-4:] == pytest.approx([15, 15, 15, 15])
    assert np.sort(steps)[-5] <= 5 + 1e-9


def test_single_segment_is_unchanged():
    s = square(1, 1, 3)
    assert np.array_equal(merge_multi_segment([s]), s)


def test_data_yaml_round_trip_with_awkward_names(tmp_path):
    names = ["car", "traffic light", 'say "hi"', "a: b", "#tag", "ünïcode", "yes", "null", "1.5", "[x]", "it's"]
    path = tmp_path / "data.yaml"
    path.write_text(dump_data_yaml(names, {"path": ".", "train": "images"}), encoding="utf-8")
    assert read_names(path) == names


@pytest.mark.parametrize(
    "text, expected",
    [
        ("names: ['a', 'b c', \"d\"]\n", ["a", "b c", "d"]),
        ("nc: 2\nnames:\n  - person\n  - 'it''s'\n", ["person", "it's"]),
        ("names:\n  0: person  # comment\n  1: car\ntrain: x\n", ["person", "car"]),
        ("names: {0: a, 1: b}\n", ["a", "b"]),
        # valid Ultralytics files the old hand-written reader refused or misread
        ("names: ['a', 'b']  # two classes\n", ["a", "b"]),
        ("names: [\n  person,\n  car,\n]\n", ["person", "car"]),
        ("'names':\n  0: a\n  1: b\n", ["a", "b"]),
        ('"names": [x, "y z"]\n', ["x", "y z"]),
        ("nc: 2\nnames: {1: b, 0: a}  # unordered\n", ["a", "b"]),
        ("names:\n  '0': a\n  '1': b\n", ["a", "b"]),
        ("names:\n- a\n- b\n", ["a", "b"]),
        ("\ufeffnames: [a]\n", ["a"]),
        ("names: [0, 1.5]\n", ["0", "1.5"]),  # Ultralytics' str() of each name
    ],
)
def test_reads_common_ultralytics_yaml_styles(tmp_path, text, expected):
    path = tmp_path / "data.yaml"
    path.write_text(text)
    assert read_names(path) == expected


def test_yaml_without_names_is_an_error(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_text("train: images\n")
    with pytest.raises(FormatError, match=r"data\.yaml: no 'names'"):
        read_names(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("names: {a: cat}\n", r"names key 'a' is not a class index"),
        ("names: [a, b\n", r"malformed YAML at line \d+, column \d+"),
        ("names:\n  0: a\n 1: b\n", r"malformed YAML"),
        ("names: {0: a, 2: b}\n", r"names indices must be 0\.\.1"),
        ("nc: 3\nnames: [a, b]\n", r"nc is 3 but there are 2 names"),
        ("names: [a, a]\n", r"'a' appear more than once"),
        ("names: [a, '']\n", r"names\[1\] is empty"),
        ("names: [a, [b]]\n", r"names\[1\] must be a name"),
        ("names: cat\n", r"'names' must be a list"),
        ("- names\n", r"expected a YAML mapping"),
        ("names: [" + "1" * 5000 + "]\n", r"malformed YAML"),
        ("names: " + "[" * 100000 + "\n", r"nested too deeply"),
        ("names: !!python/object:os.system x\n", r"malformed YAML"),
    ],
)
def test_malformed_data_yaml_names_the_file(tmp_path, text, message):
    path = tmp_path / "data.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError, match=rf"data\.yaml: .*{message}"):
        read_names(path)


def test_data_yaml_that_is_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_bytes(b"names: [caf\xe9]\n")
    with pytest.raises(FormatError, match=r"data\.yaml: cannot read the file \(not UTF-8"):
        read_names(path)


def test_bad_data_yaml_is_reported_by_the_import_command(tmp_path, capsys):
    from samlabel.cli import main

    (tmp_path / "ds" / "images").mkdir(parents=True)
    (tmp_path / "ds" / "labels").mkdir()
    (tmp_path / "ds" / "data.yaml").write_text("names: {a: cat}\n")
    assert main(["import", "--format", "yolo", str(tmp_path / "ds"), str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert "data.yaml: names key 'a' is not a class index" in err and "Traceback" not in err
