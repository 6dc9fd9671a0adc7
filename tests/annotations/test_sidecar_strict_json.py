"""Sidecar JSON that would be read wrong is refused (issue 20: nothing lost, nothing garbled).

A key twice in one object (``json.loads`` keeps only the last, silently losing the first)
and coordinates that are not finite JSON numbers (``"12.5"``, ``true``, ``NaN``, an integer
beyond float range) give an :class:`AnnotationFileError` naming the file and the problem.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations import AnnotationFileError, Project, read_sidecar

H, W = 40, 50
SQUARE = "[[1, 1], [20, 1], [20, 20], [1, 20]]"


def _sidecar(tmp_path, shapes_json: str, extra: str = "") -> tuple:
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "img.png")
    path = tmp_path / "img.json"
    path.write_text(
        '{"version": "5.5.0", "flags": {}, "imagePath": "img.png", "imageData": null, '
        f'"imageHeight": {H}, "imageWidth": {W}, "shapes": {shapes_json}{extra}}}'
    )
    return path, path.read_bytes()


def _polygon(points: str = SQUARE, more: str = "") -> str:
    return f'{{"label": "car", "points": {points}, "shape_type": "polygon"{more}}}'


def test_a_second_shapes_list_is_refused_not_silently_dropped(tmp_path):
    path, before = _sidecar(tmp_path, f"[{_polygon()}]", extra=', "shapes": []')
    assert json.loads(path.read_text())["shapes"] == []  # what plain json would have read
    with pytest.raises(AnnotationFileError, match=r"img\.json: the key 'shapes' appears twice in one JSON object"):
        read_sidecar(path)
    with pytest.raises(AnnotationFileError, match="'shapes' appears twice"):
        Project(tmp_path).load(tmp_path / "img.png")
    assert path.read_bytes() == before


def test_a_key_twice_inside_a_shape_is_refused(tmp_path):
    shape = _polygon(more=', "label": "bus"')
    path, _ = _sidecar(tmp_path, f"[{shape}]")
    with pytest.raises(AnnotationFileError, match=r"img\.json: the key 'label' appears twice"):
        read_sidecar(path)


def test_renaming_a_label_leaves_a_file_with_a_key_twice_alone(tmp_path):
    path, before = _sidecar(tmp_path, f"[{_polygon()}]", extra=', "shapes": []')
    report = Project(tmp_path).rename_label("car", "auto", update_labels=False)
    assert report.files == [] and len(report.problems) == 1 and "'shapes' appears twice" in report.problems[0]
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "points, message",
    [
        ('[[1, 1], [20, 1], [20, "12.5"]]', r"points has a coordinate that is not a JSON number: '12\.5'"),
        ("[[1, 1], [20, 1], [20, true]]", "points has a coordinate that is not a JSON number: True"),
        ("[[1, 1], [20, 1], [20, null]]", "points has a coordinate that is not a JSON number: None"),
        ("[[1, 1], [20, 1], [20, NaN]]", "points has a non-finite coordinate"),
        ("[[1, 1], [20, 1], [20, 1e400]]", "points has a non-finite coordinate"),
        (f"[[1, 1], [20, 1], [20, {10**400}]]", "points has a coordinate too large for a floating-point number"),
    ],
)
def test_coordinates_must_be_finite_json_numbers(tmp_path, points, message):
    path, before = _sidecar(tmp_path, f"[{_polygon(points)}]")
    with pytest.raises(AnnotationFileError, match=rf"img\.json: shape #1 \('car'\): {message}"):
        Project(tmp_path).load(tmp_path / "img.png")
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "shape",
    [
        _polygon(more=', "holes": [[[5, 5], [9, 5], ["9", 9]]]'),
        '{"label": "bus", "points": [[1, 1], ["20", 20]], "shape_type": "rectangle"}',
        '{"label": "cat", "points": [["3", 4]], "shape_type": "point"}',
        _polygon(more=', "parts": [{"points": [[30, 30], [40, 30], [40, "35"]]}]'),
    ],
)
def test_numeric_strings_are_refused_in_every_coordinate(tmp_path, shape):
    path, _ = _sidecar(tmp_path, f"[{shape}]")
    with pytest.raises(AnnotationFileError, match=r"img\.json: shape #1 .*not a JSON number: '\d+'"):
        read_sidecar(path)


def test_integer_and_float_coordinates_still_read(tmp_path):
    path, _ = _sidecar(tmp_path, f"[{_polygon('[[1, 1.5], [20, 1], [20, 20.25], [1, 20]]')}]")
    exterior = read_sidecar(path).shapes[0].polygons[0].exterior
    assert exterior.tolist() == [[1.0, 1.5], [20.0, 1.0], [20.0, 20.25], [1.0, 20.0]]


def test_a_sidecar_nested_too_deeply_is_named_not_a_recursion_error(tmp_path):
    from samlabel.annotations import AnnotationFileError
    from samlabel.annotations.sidecar import read_sidecar

    path = tmp_path / "deep.json"
    path.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(AnnotationFileError, match=r"deep\.json: the file is nested too deeply"):
        read_sidecar(path)


def _pointwise(value):
    return np.array([[float(x), float(y)] for x, y in value], dtype=np.float64).reshape(-1, 2)


@pytest.mark.parametrize("value", [
    [[1, 2], [3.5, 4], [2**70, -7], [0, 0.25]],  # ints beyond int64 still read as floats
    [[1, 2], [3, 4], [5, 6], [1, 2]],  # closed ring: the repeated point dropped
    [(1.5, 2.5), [3, 4], (5, 6.75)],  # tuples (the API's own shapes) as well as lists
    [],
])
def test_rings_read_in_bulk_equal_the_point_by_point_reading(value):
    from samlabel.annotations.sidecar_json import ring

    expected = _pointwise(value)
    if len(expected) > 3 and np.array_equal(expected[0], expected[-1]):
        expected = expected[:-1]
    got = ring(value, "points")
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("bad, message", [
    ([[1, 2], [3, True], [4, 5]], "not a JSON number: True"),
    ([[1, 2], [3, "4"], [4, 5]], "not a JSON number: '4'"),
    ([[1, 2], [3, None], [4, 5]], "not a JSON number: None"),
    ([[1, 2], [3, 4, 5], [4, 5]], "must be a list of [x, y] points"),
    ([[1, 2], [3, 10**400], [4, 5]], "too large"),
    ([[1, 2], [3, float("inf")], [4, 5]], "non-finite"),
])
def test_one_bad_point_among_many_is_still_named(bad, message):
    from samlabel.annotations.errors import GeometryError
    from samlabel.annotations.sidecar_json import ring

    with pytest.raises(GeometryError) as err:
        ring([[float(i), float(i)] for i in range(500)] + bad, "points")
    assert message in str(err.value)
