"""MOTS PNG export (samlabel.formats.mots): the encoding, the layout, track ids, overlaps,
errors and atomicity, and the export read back by Datumaro's own ``mots`` importer.

The 3-frame sequence below is drawn with rectangles whose corners are on whole pixels and
with hand-made mask shapes, so each object's expected pixels are plain numpy slices (a
pixel is inside when its centre is), never samlabel's rasteriser.
"""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from samlabel.annotations import ImageAnnotation, LabelSet, Project, Shape
from samlabel.cli import main as cli_main
from samlabel.formats import FORMAT_NAMES, mots
from samlabel.formats.batch import BatchError, export_project, import_dataset
from samlabel.formats.common import FormatError

from .datumaro_env import run_side

H, W = 32, 48
LABELS = ["car", "road sign"]  # class ids 1 and 2
FRAMES = ["frame_000000.jpg", "frame_000001.jpg", "frame_000002.jpg"]
STEMS = [Path(f).stem for f in FRAMES]


def rect(x0, y0, x1, y1) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def poly(label, x0, y0, x1, y1, **kw) -> Shape:
    return Shape.polygon(label, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], **kw)


RING = rect(26, 14, 40, 28) & ~rect(30, 18, 36, 24)  # a mask shape with a hole

# Expected: {frame stem: {(label, track id): mask}}. Track ids by the module's rule: group
# ids 3 and 7 are kept; the ungrouped car (frame 1) takes the highest free id, 999; the
# road sign with group id 3 (frame 2) is another object than car #3, so it takes 998.
EXPECTED = {
    STEMS[0]: {("car", 3): rect(4, 4, 14, 12), ("road sign", 7): rect(30, 4, 40, 10)},
    STEMS[1]: {
        ("car", 3): rect(8, 6, 18, 14) & ~rect(14, 10, 24, 20),  # the later, ungrouped car covers it
        ("road sign", 7): rect(30, 6, 36, 10) | rect(38, 6, 44, 10),  # two shapes, one object
        ("car", 999): rect(14, 10, 24, 20),
    },
    STEMS[2]: {("road sign", 7): RING, ("car", 3): rect(12, 8, 22, 16), ("road sign", 998): rect(2, 20, 10, 28)},
}
TRACKS = {3: ("car", STEMS), 7: ("road sign", STEMS), 999: ("car", [STEMS[1]]), 998: ("road sign", [STEMS[2]])}


def make_sequence(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "labels.txt").write_text("".join(n + "\n" for n in LABELS), encoding="utf-8")
    shapes = [
        [poly("car", 4, 4, 14, 12, group_id=3), Shape.rectangle("road sign", (30, 4), (40, 10), group_id=7),
         Shape.point("car", (1, 1))],
        [poly("car", 8, 6, 18, 14, group_id=3), poly("road sign", 30, 6, 36, 10, group_id=7),
         poly("road sign", 38, 6, 44, 10, group_id=7), poly("car", 14, 10, 24, 20)],
        [Shape.from_mask("road sign", RING, group_id=7), poly("car", 12, 8, 22, 16, group_id=3),
         poly("road sign", 2, 20, 10, 28, group_id=3)],
    ]
    rng = np.random.default_rng(1)
    project = Project(root)
    for name, frame_shapes in zip(FRAMES, shapes):
        Image.fromarray((rng.random((H, W, 3)) * 255).astype(np.uint8)).save(root / name)
        project.save(ImageAnnotation(name, H, W, tuple(frame_shapes)))
    return root


def expected_png(stem: str) -> np.ndarray:
    out = np.zeros((H, W), np.uint16)
    for (label, track), mask in EXPECTED[stem].items():
        out[mask] = (LABELS.index(label) + 1) * 1000 + track
    return out


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img).astype(np.int64)


@pytest.fixture
def sequence(tmp_path) -> Path:
    return make_sequence(tmp_path / "seq")


# --- encoding ----------------------------------------------------------------------
def test_encode_and_decode():
    assert mots.encode(1, 3) == 1003 and mots.encode(2, 999) == 2999 and mots.encode(64, 999) == 64999
    assert mots.decode(2998) == (2, 998) and mots.decode(0) == (0, 0)
    for bad in ((0, 1), (1, 0), (1, 1000), (65, 1)):
        with pytest.raises(ValueError):
            mots.encode(*bad)


def _assign(ids: mots.TrackIds, label, group_id, where=Path("f.jpg")) -> tuple[int, mots.TrackIds]:
    return ids.track_id(label, group_id, where)


def test_track_ids_keep_group_ids_and_count_down_for_the_rest():
    ids = mots.TrackIds()
    got = []
    for label, group_id in [("car", 3), ("car", None), ("car", 3), ("car", None), ("dog", 3), ("dog", 0), ("dog", 1000), ("dog", 996)]:
        track, ids = _assign(ids, label, group_id)
        got.append(track)
    # car #3 keeps 3 on every frame; each ungrouped shape is a new track from 999 down; dog #3
    # is another object (3 is car #3's); 0 and 1000 are out of 1..999; 996 is taken by then
    assert got == [3, 999, 3, 998, 997, 996, 995, 994]
    before = ids
    _, after = _assign(ids, "cat", 5)
    assert ("cat", 5) not in before.by_key and 5 not in before.taken and after.by_key[("cat", 5)] == 5


def test_more_than_999_tracks_is_an_error_naming_the_frame(tmp_path):
    ids, got = mots.TrackIds(), []
    for _ in range(999):
        track, ids = _assign(ids, "car", None)
        got.append(track)
    assert sorted(got) == list(range(1, 1000))
    with pytest.raises(FormatError, match=r"frame_9\.jpg.*999"):
        _assign(ids, "car", None, tmp_path / "frame_9.jpg")


# --- the export --------------------------------------------------------------------
def test_layout_and_pixel_values(sequence, tmp_path):
    out = tmp_path / "out"
    report = export_project("mots", sequence, out)
    assert report.problems == [] and report.exported == 3
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        [f"default/images/{f}" for f in FRAMES] + [f"default/instances/{s}.png" for s in STEMS] + ["default/instances/labels.txt"]
    )
    assert (out / "default/instances/labels.txt").read_text(encoding="utf-8") == "car\nroad sign\n"
    for name, stem in zip(FRAMES, STEMS):
        assert (out / "default/images" / name).read_bytes() == (sequence / name).read_bytes()
        with Image.open(out / "default/instances" / f"{stem}.png") as img:
            assert img.mode in ("I;16", "I") and img.format == "PNG"
        png = read_png(out / "default/instances" / f"{stem}.png")
        assert np.array_equal(png, expected_png(stem)), stem
    assert any("overlap" in n and FRAMES[1] in n for n in report.notes)
    assert any("points left out" in n and FRAMES[0] in n for n in report.notes)


def test_frame_without_objects_gets_an_all_zero_png(sequence, tmp_path):
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(sequence / "frame_000003.jpg")  # no sidecar
    out = tmp_path / "out"
    assert export_project("mots", sequence, out).exported == 4
    png = read_png(out / "default/instances/frame_000003.png")
    assert png.shape == (H, W) and not png.any()


def test_subsets_each_get_their_folder_and_labels(sequence, tmp_path):
    split = tmp_path / "split.txt"
    split.write_text(f"val {FRAMES[2]}\n", encoding="utf-8")
    out = tmp_path / "out"
    export_project("mots", sequence, out, subset="train", split_file=split)
    assert sorted(p.name for p in (out / "train/instances").iterdir()) == [f"{STEMS[0]}.png", f"{STEMS[1]}.png", "labels.txt"]
    assert sorted(p.name for p in (out / "val/instances").iterdir()) == [f"{STEMS[2]}.png", "labels.txt"]
    assert np.array_equal(read_png(out / "val/instances" / f"{STEMS[2]}.png"), expected_png(STEMS[2]))  # ids span subsets


def test_unknown_label_is_a_problem_naming_the_frame(sequence, tmp_path):
    project = Project(sequence)
    first = project.load(sequence / FRAMES[0])
    project.save(first.replace(shapes=(*first.shapes, poly("bus", 0, 0, 2, 2))))
    out = tmp_path / "out"
    report = export_project("mots", sequence, out)
    assert report.exported == 2 and len(report.problems) == 1
    assert FRAMES[0] in report.problems[0] and "'bus'" in report.problems[0]
    assert not (out / "default/instances" / f"{STEMS[0]}.png").exists()
    assert not (out / "default/images" / FRAMES[0]).exists()
    # car #3 and road sign #7 first appear on frame 1 now; the ids are the same
    assert np.array_equal(read_png(out / "default/instances" / f"{STEMS[1]}.png"), expected_png(STEMS[1]))


def test_a_frame_left_out_takes_no_track_id(sequence, tmp_path, monkeypatch):
    real = mots.export_image

    def refuse_frame_1(src, dst, *args, **kwargs):
        if src.name == FRAMES[1]:
            raise FormatError(src, "cannot read the image")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(mots, "export_image", refuse_frame_1)
    out = tmp_path / "out"
    report = export_project("mots", sequence, out)
    assert report.exported == 2 and len(report.problems) == 1 and FRAMES[1] in report.problems[0]
    assert not (out / "default/instances" / f"{STEMS[1]}.png").exists()
    # frame 1's ungrouped car took 999 while the frame was tried; kept, road sign #3 would get 998
    want = expected_png(STEMS[2])
    want[rect(2, 20, 10, 28)] = 2999
    assert np.array_equal(read_png(out / "default/instances" / f"{STEMS[2]}.png"), want)


def test_label_labels_txt_cannot_hold_is_refused(tmp_path):
    with pytest.raises(FormatError, match="line break"):
        mots.write_labels(tmp_path / "labels.txt", LabelSet(["car", "road\nsign"]))
    assert not (tmp_path / "labels.txt").exists()


def test_too_many_labels_is_refused(sequence, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"c{i}\n" for i in range(65)), encoding="utf-8")
    with pytest.raises(BatchError, match="at most 64 classes"):
        export_project("mots", sequence, tmp_path / "out", labels_file=labels)
    assert not (tmp_path / "out").exists()


def test_a_failure_mid_way_leaves_nothing(sequence, tmp_path, monkeypatch):
    calls = []
    real = mots.export_image

    def failing(src, dst, *args, **kwargs):
        calls.append(src)
        if len(calls) == 2:  # the first frame is written by now
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(mots, "export_image", failing)
    out = tmp_path / "exports" / "out"
    out.parent.mkdir()
    with pytest.raises(BatchError, match="nothing was written"):
        export_project("mots", sequence, out)
    assert len(calls) == 2
    assert not out.exists() and list(out.parent.iterdir()) == []  # no partial folder either


def test_cli_exports_mots_and_import_refuses_it(sequence, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli_main(["export", "--format", "mots", str(sequence), str(out)]) == 0
    assert np.array_equal(read_png(out / "default/instances" / f"{STEMS[2]}.png"), expected_png(STEMS[2]))
    assert "mots" in FORMAT_NAMES
    with pytest.raises(SystemExit):
        cli_main(["import", "--format", "mots", str(out), str(tmp_path / "back")])
    with pytest.raises(BatchError, match="does not import"):
        import_dataset("mots", out, tmp_path / "back")


# --- read back by Datumaro ----------------------------------------------------------
@pytest.mark.slow
def test_datumaro_mots_importer_reads_the_tracks(sequence, tmp_path):
    out = tmp_path / "out"
    export_project("mots", sequence, out)
    answer = run_side({"op": "import", "path": str(out), "format": "mots"})
    assert answer["errors"] == []
    assert answer["labels"] == LABELS
    assert sorted(item["id"] for item in answer["items"]) == STEMS
    tracks: dict[int, tuple[str, list[str]]] = {}
    for item in sorted(answer["items"], key=lambda i: i["id"]):
        assert item["subset"] == "default" and item["size"] == [H, W]
        found = {}
        for ann in item["annotations"]:
            assert ann["type"] == "mask"
            track = ann["attributes"]["track_id"]
            rle = {"size": ann["rle"]["size"], "counts": ann["rle"]["counts"].encode("ascii")}
            found[(ann["label"], track)] = mask_utils.decode(rle).astype(bool)
            label, frames = tracks.setdefault(track, (ann["label"], []))
            assert label == ann["label"], f"track {track} changes label"
            frames.append(item["id"])
        expected = EXPECTED[item["id"]]
        assert sorted(found) == sorted(expected), item["id"]
        for key, mask in expected.items():
            assert np.array_equal(found[key], mask), (item["id"], key)
    assert tracks == TRACKS
