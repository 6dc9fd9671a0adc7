"""``samlabel export`` / ``import`` with paths that are not plain files and folders (issue 20):
a symbolic link to a folder is followed; a link loop, a named pipe, a file where a folder
belongs are refused, naming the path and what it is, with exit status 1, no traceback and
nothing written. Nothing is opened first, so a named pipe cannot block the command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from samlabel.cli import main
from samlabel.formats.batch import BatchError, export_project

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")


def _make(path: Path, kind: str) -> Path:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "file":
        path.write_text("not a folder")
    return path


KINDS = [
    pytest.param("fifo", "a named pipe", marks=needs_fifo),
    ("file", "a file"),
]


def _fails(argv, capsys, *expected: str) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    for text in expected:
        assert text in err
    assert "Traceback" not in err
    return err


def _no_partials(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if ".partial-" in p.name] == []


# ------------------------------------------------------------------ export: OUT_DIR
def test_export_into_a_link_to_an_empty_folder_writes_into_that_folder(sample_project, tmp_path, capsys):
    target = tmp_path / "elsewhere" / "dataset"
    target.mkdir(parents=True)
    link = tmp_path / "out"
    link.symlink_to(target)
    assert main(["export", "--format", "coco", str(sample_project.root), str(link)]) == 0
    err = capsys.readouterr().err
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert (target / "annotations" / "instances_default.json").is_file()
    assert f"{link}: a symbolic link to {target.resolve()}; the dataset is written there" in err
    _no_partials(tmp_path)
    _no_partials(target.parent)


def test_export_into_a_link_to_a_missing_folder_creates_it_there(sample_project, tmp_path, capsys):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "made")
    assert main(["export", "--format", "yolo", str(sample_project.root), str(link)]) == 0
    assert link.is_symlink() and (tmp_path / "made" / "data.yaml").is_file()


def test_export_into_a_link_to_a_folder_with_files_is_refused(sample_project, tmp_path, capsys):
    target = tmp_path / "full"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    link = tmp_path / "out"
    link.symlink_to(target)
    _fails(["export", "--format", "coco", str(sample_project.root), str(link)], capsys,
           "already exists and is not an empty folder")
    assert [p.name for p in target.iterdir()] == ["mine.txt"]


def test_export_into_a_link_loop_is_named(sample_project, tmp_path, capsys):
    out = _make(tmp_path / "out", "loop")
    _fails(["export", "--format", "coco", str(sample_project.root), str(out)], capsys,
           f"samlabel export: {out}: a symbolic link loop")
    assert out.is_symlink()
    _no_partials(tmp_path)


@pytest.mark.parametrize("kind, words", KINDS)
def test_export_onto_something_that_is_not_a_folder_is_named(sample_project, tmp_path, capsys, kind, words):
    out = _make(tmp_path / "out", kind)
    _fails(["export", "--format", "coco", str(sample_project.root), str(out)], capsys,
           f"{out}: already exists and is not a folder ({words})")
    _no_partials(tmp_path)


def test_export_below_a_file_is_named(sample_project, tmp_path, capsys):
    _make(tmp_path / "plain", "file")
    out = tmp_path / "plain" / "out"
    _fails(["export", "--format", "coco", str(sample_project.root), str(out)], capsys,
           f"{out}: no such file or folder (part of the path is not a folder)")


def test_the_api_refuses_too(sample_project, tmp_path):
    out = _make(tmp_path / "out", "loop")
    with pytest.raises(BatchError, match="a symbolic link loop"):
        export_project("coco", sample_project.root, out)


# ------------------------------------------------------------------ export: PROJECT_DIR
@pytest.mark.parametrize("kind, words", KINDS)
def test_export_of_a_project_that_is_not_a_folder(tmp_path, capsys, kind, words):
    project = _make(tmp_path / "project", kind)
    _fails(["export", "--format", "coco", str(project), str(tmp_path / "out")], capsys,
           f"samlabel export: {project}: not a folder ({words})")
    assert not (tmp_path / "out").exists()


def test_export_of_a_project_that_is_a_link_loop(tmp_path, capsys):
    project = _make(tmp_path / "project", "loop")
    _fails(["export", "--format", "coco", str(project), str(tmp_path / "out")], capsys,
           f"{project}: a symbolic link loop")


@needs_fifo
def test_export_with_a_named_pipe_as_label_file(sample_project, tmp_path, capsys):
    labels = _make(tmp_path / "labels.txt", "fifo")
    _fails(["export", "--format", "coco", str(sample_project.root), str(tmp_path / "out"), "--labels", str(labels)],
           capsys, f"{labels}: not a file (a named pipe)")


# ------------------------------------------------------------------ import: SRC and PROJECT_DIR
@pytest.fixture
def dataset(sample_project, tmp_path):
    out = tmp_path / "dataset"
    assert main(["export", "--format", "coco", str(sample_project.root), str(out)]) == 0
    return out


@pytest.mark.parametrize("kind, problem", [
    pytest.param("fifo", "not a file or folder (a named pipe)", marks=needs_fifo),
    ("loop", "a symbolic link loop"),
])
def test_import_from_a_source_that_is_no_dataset(tmp_path, capsys, kind, problem):
    src = _make(tmp_path / "annotations.json", kind)
    _fails(["import", "--format", "coco", str(src), str(tmp_path / "into")], capsys,
           f"samlabel import: {src}: {problem}")
    assert not (tmp_path / "into").exists()


@pytest.mark.parametrize("kind, problem", [
    pytest.param("fifo", "not a folder (a named pipe)", marks=needs_fifo),
    ("file", "not a folder (a file)"),
    ("loop", "a symbolic link loop"),
])
def test_import_into_a_project_that_is_not_a_folder(dataset, tmp_path, capsys, kind, problem):
    project = _make(tmp_path / "into", kind)
    _fails(["import", "--format", "coco", str(dataset / "annotations" / "instances_default.json"), str(project)], capsys,
           f"samlabel import: {project}: {problem}")


def test_import_into_a_link_to_a_folder(dataset, tmp_path, capsys):
    target = tmp_path / "real_project"
    target.mkdir()
    link = tmp_path / "into"
    link.symlink_to(target)
    assert main(["import", "--format", "coco", str(dataset / "annotations" / "instances_default.json"), str(link)]) == 0
    assert link.is_symlink()
    assert sorted(p.name for p in target.iterdir()) == ["img0.json", "img0.png", "img1.jpg", "img1.json", "img2.json",
                                                        "img2.png", "labels.txt"]
