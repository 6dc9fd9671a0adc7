"""Label files: bad encodings and nesting name the file, a BOM is ignored, loading is linear."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from samlabel.annotations import AnnotationFileError, Label, LabelSet
from samlabel.annotations import labels as labels_module


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("labels.txt", b"car\ncaf\xe9\n", r"labels\.txt: the label file is not UTF-8 text \(byte 0xe9 at offset 7\)"),
        ("labels.json", b'["caf\xe9"]', r"labels\.json: the label file is not UTF-8 text \(byte 0xe9"),
        ("labels.json", b"[" * 100000 + b"]" * 100000, r"labels\.json: the JSON is nested too deeply"),
        ("labels.txt", b"[" * 100000, r"labels\.txt: the JSON is nested too deeply"),  # starts like JSON
        ("labels.json", b'["car", " "]', r"labels\.json: label #1 has an empty name"),
        ("labels.json", b'[{"name": ""}]', r"labels\.json: label #0 has an empty name"),
    ],
)
def test_bad_label_file_raises_naming_the_file(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(AnnotationFileError, match=message) as info:
        LabelSet.load(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize("name, text", [("labels.txt", "car\nperson\n"), ("labels.json", '["car", {"name": "person"}]')])
def test_byte_order_mark_is_ignored(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert LabelSet.load(path).names == ["car", "person"]


@pytest.mark.parametrize("where", ["--labels", "project"])
def test_export_with_a_bad_label_file_names_it_without_a_traceback(tmp_path, capsys, where):
    import numpy as np
    from PIL import Image

    from samlabel.cli import main

    project = tmp_path / "p"
    project.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(project / "a.png")
    labels = tmp_path / "mine.txt" if where == "--labels" else project / "labels.txt"
    labels.write_bytes(b"caf\xe9\n")
    argv = ["export", "--format", "coco", str(project), str(tmp_path / "out")]
    code = main(argv + (["--labels", str(labels)] if where == "--labels" else []))
    err = capsys.readouterr().err
    assert code == 1
    assert f"{labels}: the label file is not UTF-8 text" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


class _CountingName(str):
    """A name that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other):
        type(self).comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


@dataclass(frozen=True)
class _CountingLabel(Label):
    """A Label whose name counts its comparisons."""

    def __post_init__(self):
        object.__setattr__(self, "name", _CountingName(self.name))


def test_building_a_label_set_compares_each_name_a_constant_number_of_times(monkeypatch):
    """A name lookup per label that scans the list costs n**2 / 2 comparisons; a dict costs
    at most one per lookup that finds its name."""
    n = 2000
    _CountingName.comparisons = 0
    labels = LabelSet(Label(_CountingName(f"l{i}")) for i in range(n))
    for i in range(n):
        labels.add(Label(_CountingName(f"l{i}")))  # duplicates: found, not added
        assert f"l{i}" in labels and labels.index(f"l{i}") == i
    assert len(labels) == n
    assert _CountingName.comparisons <= 3 * n


def test_loading_a_label_file_is_linear_in_its_lines(tmp_path, monkeypatch):
    n = 2000
    path = tmp_path / "labels.txt"
    path.write_text("".join(f"l{i}\n" for i in range(n)) * 2)  # every name twice
    monkeypatch.setattr(labels_module, "Label", _CountingLabel)
    _CountingName.comparisons = 0
    loaded = LabelSet.load(path)
    assert loaded.names == [f"l{i}" for i in range(n)] and isinstance(loaded[0].name, _CountingName)
    assert _CountingName.comparisons <= 3 * n  # was about 2 * n**2 (a list scan per line)


@pytest.mark.parametrize("suffix", [".txt", ".json"])
def test_a_hundred_thousand_labels_load_in_order_without_duplicates(tmp_path, suffix):
    n = 100_000
    names = [f"class {i}" for i in range(n)]
    path = tmp_path / f"labels{suffix}"
    if suffix == ".txt":
        path.write_text("# many\n" + "".join(f"{name}\n" for name in names) + "class 5\nclass 0  # again\n")
    else:
        path.write_text(json.dumps(names + [{"name": "class 7", "color": [1, 2, 3]}]))
    labels = LabelSet.load(path)
    assert labels.names == names
    assert labels.index("class 99999") == n - 1 and labels["class 7"].color != (1, 2, 3)  # first one kept
    copy = labels.copy()
    copy.rename("class 3", "three")
    copy.remove("class 1")
    copy.move("class 0", n - 2)
    assert copy.index("three") == 1 and copy.index("class 0") == n - 2 and copy.index("class 2") == 0
    assert "class 1" not in copy and "class 3" not in copy and labels.index("class 1") == 1


@pytest.mark.parametrize("content, where", [(b"car\x00\nperson\n", "line 1"), (b"car\nper\x1bson\n", "line 2"),
                                            (b'["car", "a\\u0000b"]', "label #1")])
def test_a_control_character_in_a_label_names_the_file_and_line(tmp_path, content, where):
    from samlabel.annotations import AnnotationFileError, LabelSet

    path = tmp_path / ("labels.json" if content.startswith(b"[") else "labels.txt")
    path.write_bytes(content)
    with pytest.raises(AnnotationFileError, match=rf"{path.name}: {where}: the label .* control character 0x"):
        LabelSet.load(path)
