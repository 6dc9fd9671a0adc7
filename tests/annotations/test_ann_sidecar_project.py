"""Sidecar JSON (labelme compatible), the project folder store, atomic save and bad input."""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations import (
    AnnotationError,
    AnnotationFileError,
    AnnotationWarning,
    Document,
    ImageAnnotation,
    Project,
    SaveError,
    Shape,
    PolygonWithHoles,
    read_sidecar,
    write_sidecar,
)
from samlabel.annotations import atomic

H, W = 60, 80


def make_image(path, h=H, w=W, exif_orientation=None):
    img = Image.fromarray(np.full((h, w, 3), 128, np.uint8))
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        img.save(path, exif=exif)
    else:
        img.save(path)
    return path


def png_b64(arr):
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def labelme_file(**overrides):
    """What labelme 5.x writes, with a circle and keys samlabel does not know."""
    crop = np.zeros((4, 6), np.uint8)
    crop[1:3, 1:5] = 1
    data = {
        "version": "5.4.1",
        "flags": {"good": True},
        "shapes": [
            {"label": "car", "points": [[10, 10], [30, 10], [30, 30], [10, 30]], "group_id": 2, "description": "red",
             "shape_type": "polygon", "flags": {"occluded": False}, "mask": None, "score": 0.9},
            {"label": "sun", "points": [[50, 20], [55, 20]], "group_id": None, "shape_type": "circle", "flags": {}},
            {"label": "bus", "points": [[1, 2], [20, 25]], "group_id": None, "shape_type": "rectangle", "flags": {}},
            {"label": "cat", "points": [[5, 6]], "group_id": None, "shape_type": "point", "flags": {}},
            {"label": "dog", "points": [[40, 40], [45, 43]], "group_id": None, "shape_type": "mask", "flags": {},
             "mask": png_b64(crop)},
        ],
        "imagePath": "img.png",
        "imageData": None,
        "imageHeight": H,
        "imageWidth": W,
        "otherData": {"annotator": "me"},
    }
    data.update(overrides)
    return data


def test_real_labelme_file_opens_and_round_trips(tmp_path):
    make_image(tmp_path / "img.png")
    (tmp_path / "img.json").write_text(json.dumps(labelme_file()))
    project = Project(tmp_path)
    with pytest.warns(AnnotationWarning, match="circle"):
        ann = project.load(tmp_path / "img.png")
    assert [s.kind for s in ann.shapes] == ["polygon", "rectangle", "point", "mask"]
    car = ann.shapes[0]
    assert (car.label, car.group_id, car.description, car.flags, car.extra) == ("car", 2, "red", {"occluded": False}, {"score": 0.9})
    dog = ann.shapes[3]
    expected = np.zeros((H, W), bool)
    expected[41:43, 41:45] = True
    assert np.array_equal(dog.to_mask(H, W), expected)
    assert ann.flags == {"good": True} and ann.extra["otherData"] == {"annotator": "me"} and ann.version == "5.4.1"

    project.save(ann)
    saved = json.loads((tmp_path / "img.json").read_text())
    assert saved["otherData"] == {"annotator": "me"} and saved["version"] == "5.4.1" and saved["imageData"] is None
    assert [s["shape_type"] for s in saved["shapes"]] == ["polygon", "circle", "rectangle", "point", "mask"]
    assert saved["shapes"][1] == labelme_file()["shapes"][1]  # the circle is kept untouched
    assert saved["shapes"][0]["score"] == 0.9
    for key in ("label", "points", "group_id", "description", "shape_type", "flags", "mask"):
        assert all(key in s for s in saved["shapes"] if s["shape_type"] != "circle")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnnotationWarning)
        again = project.load(tmp_path / "img.png")
    assert all(a.same_content(b) for a, b in zip(ann.shapes, again.shapes))


def test_holes_parts_and_rle_survive_in_added_keys(tmp_path):
    hole = [[15, 15], [25, 15], [25, 25], [15, 25]]
    poly = Shape.from_polygons(
        "car", [PolygonWithHoles([[10, 10], [30, 10], [30, 30], [10, 30]], (hole,)), PolygonWithHoles([[40, 40], [50, 40], [50, 50]])]
    )
    m = np.zeros((H, W), bool)
    m[5:20, 50:70] = True
    m[10:12, 55:60] = False
    mask = Shape.from_mask("dog", m, group_id=3)
    ann = ImageAnnotation("img.png", H, W, (poly, mask))
    path = tmp_path / "img.json"
    write_sidecar(path, ann)
    raw = json.loads(path.read_text())
    car = raw["shapes"][0]
    assert car["points"] == [[10.0, 10.0], [30.0, 10.0], [30.0, 30.0], [10.0, 30.0]]  # plain outline for labelme
    assert car["holes"] == [hole] and "parts" not in car
    part2 = raw["shapes"][1]  # the second part: a labelme shape of its own, same label and group id
    assert part2["points"] == [[40.0, 40.0], [50.0, 40.0], [50.0, 50.0]] and part2["label"] == "car"
    assert part2["group_id"] == car["group_id"] == 1 and part2["samlabel_part"]["index"] == 2
    assert raw["shapes"][2]["rle"]["size"] == [H, W] and raw["shapes"][2]["mask"]
    back = read_sidecar(path)
    assert back.shapes[0].same_content(poly) and back.shapes[1].same_content(mask)
    # labelme's own mask field alone (no rle) decodes to the same mask
    del raw["shapes"][2]["rle"]
    path.write_text(json.dumps(raw))
    assert np.array_equal(read_sidecar(path).shapes[1].to_mask(H, W), m)


def test_project_lists_images_naturally_and_reads_exif_size(tmp_path):
    for name in ("img10.png", "img2.png", "IMG1.jpg", "notes.txt"):
        if name.endswith("txt"):
            (tmp_path / name).write_text("x")
        else:
            make_image(tmp_path / name)
    make_image(tmp_path / "rot.jpg", h=30, w=50, exif_orientation=6)
    project = Project(tmp_path)
    assert [p.name for p in project.images] == ["IMG1.jpg", "img2.png", "img10.png", "rot.jpg"]
    assert project.load(tmp_path / "rot.jpg").size == (50, 30)
    assert not project.has_annotations(tmp_path / "img2.png")
    assert project.sidecar_path(tmp_path / "img2.png") == tmp_path / "img2.json"
    single = Project(tmp_path / "img2.png")
    assert single.images == [tmp_path / "img2.png"]
    single.save(single.load(tmp_path / "img2.png").with_shapes([Shape.point("cat", (1, 1))]))
    assert (tmp_path / "img2.json").is_file() and project.has_annotations(tmp_path / "img2.png")


def test_project_labels_file_and_default(tmp_path):
    assert Project(tmp_path).labels.names[0] == "person"  # bundled default
    (tmp_path / "labels.txt").write_text("cell\nnucleus\n")
    project = Project(tmp_path)
    assert project.labels.names == ["cell", "nucleus"]
    project.labels.add("debris")
    project.save_labels()
    assert (tmp_path / "labels.txt").read_text() == "cell\nnucleus\ndebris\n"


def test_autosave_writes_only_when_dirty(tmp_path):
    make_image(tmp_path / "a.png")
    project = Project(tmp_path)
    doc = project.open_document(tmp_path / "a.png")
    assert project.autosave(doc) is False and not (tmp_path / "a.json").exists()
    doc.add_shape(Shape.polygon("car", [[1, 1], [9, 1], [9, 9]]))
    assert project.autosave(doc) is True and not doc.is_dirty
    assert read_sidecar(tmp_path / "a.json").shapes[0].label == "car"


# --- atomic save ---------------------------------------------------------------------
def _saved_state(tmp_path):
    make_image(tmp_path / "a.png")
    project = Project(tmp_path)
    doc = project.open_document(tmp_path / "a.png")
    doc.add_shape(Shape.polygon("car", [[1, 1], [9, 1], [9, 9]]))
    project.autosave(doc)
    before = (tmp_path / "a.json").read_bytes()
    doc.add_shape(Shape.point("cat", (2, 2)))
    return project, doc, before


def _no_temp_files(folder):
    return not [p for p in os.listdir(folder) if p.endswith(".tmp")]


def test_failure_between_write_and_replace_keeps_previous_file(tmp_path, monkeypatch):
    project, doc, before = _saved_state(tmp_path)

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full_disk)
    with pytest.raises(SaveError, match=r"a\.json: could not save, the disk is full; the previous file is unchanged"):
        project.autosave(doc)
    assert (tmp_path / "a.json").read_bytes() == before
    assert doc.is_dirty  # the next autosave tries again
    assert _no_temp_files(tmp_path)
    monkeypatch.undo()
    assert project.autosave(doc) and len(read_sidecar(tmp_path / "a.json").shapes) == 2


def test_failing_write_keeps_previous_file(tmp_path, monkeypatch):
    project, doc, before = _saved_state(tmp_path)

    def fsync_fails(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", fsync_fails)
    with pytest.raises(SaveError, match="disk is full"):
        project.save(doc.annotation)
    assert (tmp_path / "a.json").read_bytes() == before and _no_temp_files(tmp_path)


def test_read_only_folder_gives_a_clear_error(tmp_path, monkeypatch):
    project, doc, before = _saved_state(tmp_path)

    def read_only(*args, **kwargs):  # what mkstemp raises in a read-only folder (tests run as root)
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    with pytest.raises(SaveError, match="read-only"):
        project.save(doc.annotation)
    assert (tmp_path / "a.json").read_bytes() == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_really_read_only_folder(tmp_path):  # pragma: no cover - CI runs as root
    project, doc, before = _saved_state(tmp_path)
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(SaveError, match="read-only"):
            project.save(doc.annotation)
    finally:
        os.chmod(tmp_path, 0o755)
    assert (tmp_path / "a.json").read_bytes() == before


def test_save_keeps_file_permissions(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{}")
    os.chmod(path, 0o640)
    atomic.atomic_write_text(path, "[]")
    assert path.read_text() == "[]" and (path.stat().st_mode & 0o777) == 0o640


# --- bad input: a clear error naming the file and the problem, nothing changed -----------
def _bad(tmp_path, data_or_text):
    make_image(tmp_path / "img.png")
    path = tmp_path / "img.json"
    path.write_text(data_or_text if isinstance(data_or_text, str) else json.dumps(data_or_text))
    return Project(tmp_path), path, path.read_bytes()


def test_malformed_json(tmp_path):
    project, path, before = _bad(tmp_path, '{"shapes": [ {"label": "car", }')
    with pytest.raises(AnnotationFileError, match=r"img\.json: malformed JSON at line 1"):
        project.load(tmp_path / "img.png")
    assert path.read_bytes() == before


def test_polygon_with_fewer_than_three_points(tmp_path):
    data = labelme_file()
    data["shapes"] = [{"label": "car", "points": [[1, 1], [5, 5]], "shape_type": "polygon"}]
    project, path, before = _bad(tmp_path, data)
    with pytest.raises(AnnotationFileError, match=r"img\.json: shape #1 \('car'\): a polygon needs at least 3 points, got 2"):
        project.load(tmp_path / "img.png")
    assert path.read_bytes() == before


def test_self_intersecting_polygon_is_repaired_with_a_warning(tmp_path):
    data = labelme_file()
    data["shapes"] = [{"label": "car", "points": [[0, 0], [20, 20], [20, 0], [0, 20]], "shape_type": "polygon"}]
    project, path, before = _bad(tmp_path, data)
    with pytest.warns(AnnotationWarning, match=r"img\.json: shape #1 \('car'\): the polygon intersects itself; it was repaired"):
        ann = project.load(tmp_path / "img.png")
    shape = ann.shapes[0]
    assert len(shape.polygons) == 2 and shape.area() == pytest.approx(200.0)
    assert path.read_bytes() == before  # repaired in memory only, until saved
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the notes come back as values, not warnings
        again, notes = project.load_with_notes(tmp_path / "img.png")
    assert len(notes) == 1 and "intersects itself" in notes[0] and again.shapes[0].same_content(shape)


def test_image_that_does_not_exist(tmp_path):
    project = Project(tmp_path)
    with pytest.raises(AnnotationFileError, match=r"gone\.png: the image does not exist"):
        project.load(tmp_path / "gone.png")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(AnnotationFileError, match="no such file or folder"):
        Project(tmp_path / "nowhere")


def test_mask_size_does_not_match_the_image(tmp_path):
    from samlabel.annotations import mask_to_rle

    data = labelme_file()
    data["shapes"] = [{"label": "dog", "points": [[0, 0], [1, 1]], "shape_type": "mask", "rle": mask_to_rle(np.ones((10, 10), bool))}]
    project, path, before = _bad(tmp_path, data)
    with pytest.raises(AnnotationFileError, match=r"img\.json: shape #1 \('dog'\): the mask is 10x10 but the image is 80x60"):
        project.load(tmp_path / "img.png")
    assert path.read_bytes() == before


def test_file_for_another_image_size(tmp_path):
    project, path, before = _bad(tmp_path, labelme_file(imageHeight=100))
    with pytest.raises(AnnotationFileError, match=r"img\.json: the file is for a 80x100 image but the image is 80x60"):
        project.load(tmp_path / "img.png")


@pytest.mark.parametrize(
    "shape, message",
    [
        ({"label": "", "points": [[0, 0], [1, 0], [1, 1]]}, "label must be a non-empty string"),
        ({"label": "car", "points": [[0, 0], [1, 0], [1, "x"]]}, "not a JSON number: .x."),
        ({"label": "car", "points": [[0, 0], [1, 0], [1, 1]], "group_id": "a"}, "group_id must be an integer"),
        ({"label": "bus", "points": [[0, 0]], "shape_type": "rectangle"}, "a rectangle needs 2 points"),
        ({"label": "dog", "points": [[0, 0], [1, 1]], "shape_type": "mask"}, "neither 'rle' nor 'mask'"),
    ],
)
def test_other_bad_shapes_name_file_and_shape(tmp_path, shape, message):
    project, path, before = _bad(tmp_path, labelme_file(shapes=[shape]))
    with pytest.raises(AnnotationFileError, match=rf"img\.json: shape #1.*({message})"):
        project.load(tmp_path / "img.png")
    assert path.read_bytes() == before


def test_document_is_independent_of_files(tmp_path):
    doc = Document(ImageAnnotation("x.png", 5, 5))
    doc.add_shape(Shape.point("cat", (1, 1)))
    assert doc.is_dirty and list(tmp_path.iterdir()) == []


def test_compact_points_leave_text_alone(tmp_path):
    """Points are written one per line, but text that looks like a point is not touched."""
    text = "[3,   4] and [5,\t6]"
    shape = Shape.polygon("car", [[0, 0], [10, 0], [10, 1e-5]], description=text)
    write_sidecar(tmp_path / "a.json", ImageAnnotation("a.png", H, W, (shape,), flags={"note": "[1,  2]"}))
    raw = (tmp_path / "a.json").read_text()
    assert "[10.0, 1e-05]" in raw
    data = json.loads(raw)
    assert data["shapes"][0]["description"] == text and data["flags"] == {"note": "[1,  2]"}


def test_saving_writes_the_image_name_as_image_path(tmp_path):
    """A sidecar beside its image names it plainly, so labelme finds the image."""
    make_image(tmp_path / "img.png")
    (tmp_path / "img.json").write_text(json.dumps(labelme_file(imagePath="..\\\\old\\\\img.png", shapes=[])))
    project = Project(tmp_path)
    annotation = project.load(tmp_path / "img.png")
    project.save(annotation, tmp_path / "img.png")
    assert json.loads((tmp_path / "img.json").read_text())["imagePath"] == "img.png"
    with pytest.raises(AnnotationError, match="without an image path"):
        project.save(ImageAnnotation("", H, W))


def test_images_sharing_a_stem_get_separate_sidecars(tmp_path):
    """a.png and a.jpg: a.json stays a.png's (its imagePath says so); a.jpg gets a.jpg.json."""
    make_image(tmp_path / "a.png")
    make_image(tmp_path / "a.jpg", h=30, w=40)
    (tmp_path / "a.json").write_text(json.dumps(labelme_file(imagePath="a.png", shapes=labelme_file()["shapes"][:1])))
    before = (tmp_path / "a.json").read_bytes()
    project = Project(tmp_path)
    assert project.has_annotations(tmp_path / "a.png") and not project.has_annotations(tmp_path / "a.jpg")
    jpg = project.load(tmp_path / "a.jpg")  # not a.png's shapes (nor a size error)
    assert jpg.shapes == () and jpg.size == (30, 40)
    project.save(jpg.with_shapes([Shape.point("cat", (1, 1))]), tmp_path / "a.jpg")
    assert (tmp_path / "a.json").read_bytes() == before
    assert [s.label for s in Project(tmp_path).load(tmp_path / "a.jpg").shapes] == ["cat"]
    assert [s.label for s in Project(tmp_path).load(tmp_path / "a.png").shapes] == ["car"]
    # a single image opened alone sees the same files
    assert Project(tmp_path / "a.jpg").sidecar_path(tmp_path / "a.jpg") == tmp_path / "a.jpg.json"
