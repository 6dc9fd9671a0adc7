"""Propagation on a small random SAM 2.1 video model and 5 tiny frames (samlabel.video)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from samlabel.annotations.project import Project
from samlabel.annotations.shapes import Shape
from samlabel.video.errors import VideoError
from samlabel.video.objects import FRAME_KEY, frame_objects, mark, person_owned
from samlabel.video.propagate import REPORT_NAME, propagate

from video_testing import NUM_FRAMES, make_sequence

LABEL = "sam2.1_hiera_tiny"  # the model label of the runs (the CLI's default model)


def sidecars(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json")) if not p.name.startswith(".")}


def check_frame(project: Project, image: Path, run: str) -> None:
    """Every object of the source frame has its shape on the frame, or is recorded lost."""
    annotation = project.load(image)
    record = annotation.extra[FRAME_KEY]
    assert record["run"] == run
    assert sorted(record["objects"] + record["lost"]) == ["ball@0", "car#1"]
    by_key = {mark(s)["object"]: s for s in annotation.shapes}
    assert sorted(by_key) == sorted(record["objects"])
    for key, shape in by_key.items():
        assert shape.kind == "polygon"
        assert (shape.label, shape.group_id) == (("car", 1) if key == "car#1" else ("ball", None))
    assert person_owned(annotation) is None


def test_objects_grouped_by_label_and_group_id(sequence):
    objects = frame_objects(Project(sequence).load(sequence / "frame_000000.jpg"))
    assert [(o.key, o.label, o.group_id) for o in objects] == [("car#1", "car", 1), ("ball@0", "ball", None)]
    assert objects[0].mask.sum() == 20 * 20  # the two halves, joined


def test_propagation_writes_every_frame(sequence, small_predictor):
    source = (sequence / "frame_000000.json").read_bytes()
    calls = []
    report = propagate(sequence, 0, predictor=small_predictor, model_label=LABEL,
                       progress=lambda d, t, m="": calls.append((d, t)))
    project = Project(sequence)
    assert report.frames == report.written == NUM_FRAMES - 1 and not report.cancelled
    assert not report.lost  # the small model keeps both objects: every frame has both shapes
    for image in project.images[1:]:
        check_frame(project, image, report.run)
    assert (sequence / "frame_000000.json").read_bytes() == source  # the source frame is input only
    assert calls[0] == (0, NUM_FRAMES - 1) and calls[-1] == (NUM_FRAMES - 1, NUM_FRAMES - 1)
    saved = json.loads((sequence / REPORT_NAME).read_text())
    assert sorted(saved["frames"]) == [p.name for p in project.images[1:]]
    assert saved["runs"][report.run]["source"] == "frame_000000.jpg"
    # Done: a rerun changes nothing and needs no model.
    before = sidecars(sequence)
    again = propagate(sequence, 0, predictor=None, model_label=LABEL)
    assert again.written == 0 and again.already == NUM_FRAMES - 1
    assert sidecars(sequence) == before


def test_a_held_frame_is_left_as_it_is_and_a_rerun_fills_it(sequence, small_predictor):
    asked = []

    def hold(name):
        asked.append(name)
        return name == "frame_000002.jpg"

    report = propagate(sequence, 0, predictor=small_predictor, model_label=LABEL, hold=hold)
    # asked for each frame in turn: before tracing it and again just before writing it
    frames = [f"frame_{i:06d}.jpg" for i in range(1, NUM_FRAMES)]
    assert list(dict.fromkeys(asked)) == frames
    assert asked.count("frame_000002.jpg") == 1 and all(asked.count(f) == 2 for f in frames if f != "frame_000002.jpg")
    assert report.held == ["frame_000002.jpg"] and report.written == NUM_FRAMES - 2
    assert "1 held while being edited (frame_000002.jpg)" in report.summary()
    assert not (sequence / "frame_000002.json").exists()  # not written
    project = Project(sequence)
    for image in project.images[1:]:
        if image.name != "frame_000002.jpg":
            check_frame(project, image, report.run)
    # the frame was left free (nothing saved there): the same job run again fills only it
    again = propagate(sequence, 0, predictor=small_predictor, model_label=LABEL)
    assert again.written == 1 and again.already == NUM_FRAMES - 2 and not again.held
    check_frame(project, project.images[2], report.run)


def test_an_edit_begun_while_a_frame_is_traced_holds_it(sequence, small_predictor):
    """The hold is asked again just before the write: a frame whose edit began after its turn
    came (while its masks were traced) is left as it is too."""
    seen = {}

    def hold(name):
        seen[name] = seen.get(name, 0) + 1
        return name == "frame_000003.jpg" and seen[name] == 2  # free when its turn comes, held at the write

    report = propagate(sequence, 0, predictor=small_predictor, model_label=LABEL, hold=hold)
    assert report.held == ["frame_000003.jpg"] and report.written == NUM_FRAMES - 2
    assert not (sequence / "frame_000003.json").exists()


def test_person_edits_are_kept(sequence, small_predictor):
    first = propagate(sequence, 0, predictor=small_predictor, model_label=LABEL)
    assert first.written == NUM_FRAMES - 1
    project = Project(sequence)
    images = project.images
    # frame 1: a person adds a shape; frame 2: moves a propagated shape; frame 3: marked reviewed;
    # frame 4: a propagated shape deleted.
    a1 = project.load(images[1])
    project.save(a1.with_shapes(a1.shapes + (Shape.point("dog", (5, 5)),)), images[1])
    a2 = project.load(images[2])
    assert len(a2.shapes) == 2  # the small model keeps both objects
    project.save(a2.with_shapes((a2.shapes[0].translated(1, 0),) + a2.shapes[1:]), images[2])
    a3 = project.load(images[3])
    project.save(a3.replace(flags={"reviewed": True}), images[3])
    a4 = project.load(images[4])
    project.save(a4.with_shapes(a4.shapes[1:]), images[4])
    owned = {images[1].name: "edited", images[2].name: "edited", images[3].name: "reviewed", images[4].name: "edited"}
    assert {im.name: person_owned(project.load(im)) for im in images[1:] if person_owned(project.load(im))} == owned
    before = sidecars(sequence)
    again = propagate(sequence, 0, predictor=small_predictor, model_label=LABEL, restart=True)
    assert again.kept == owned
    assert again.written == NUM_FRAMES - 1 - len(owned)
    after = sidecars(sequence)
    for name in owned:
        assert after[name.replace(".jpg", ".json")] == before[name.replace(".jpg", ".json")]
    # --overwrite replaces the tracked objects' shapes; the person's other shapes and flags stay.
    forced = propagate(sequence, 0, predictor=small_predictor, model_label=LABEL, restart=True, overwrite=True)
    assert forced.written == NUM_FRAMES - 1 and not forced.kept
    a1 = project.load(images[1])
    assert any(s.label == "dog" for s in a1.shapes)
    assert project.load(images[3]).flags == {"reviewed": True}
    check_frame(project, images[2], forced.run)


def test_kill_then_rerun_writes_each_frame_once(tmp_path, small_predictor, monkeypatch):
    whole = make_sequence(tmp_path / "whole")
    propagate(whole, 0, predictor=small_predictor, model_label=LABEL)
    expected = sidecars(whole)
    expected_report = json.loads((whole / REPORT_NAME).read_text())

    killed = make_sequence(tmp_path / "killed")
    saves: list[str] = []
    original = Project.save

    def counting_save(self, annotation, image=None, guard=None):
        saves.append(Path(image).name)
        return original(self, annotation, image, guard)

    monkeypatch.setattr(Project, "save", counting_save)
    polls = []
    first = propagate(killed, 0, predictor=small_predictor, model_label=LABEL,
                      cancel=lambda: polls.append(1) or len(polls) > 2)
    assert first.cancelled and first.written == 2 and len(saves) == 2
    (killed / REPORT_NAME).unlink()  # killed before the report was written: rebuilt from the sidecars
    second = propagate(killed, 0, predictor=small_predictor, model_label=LABEL)
    assert not second.cancelled and second.already == 2 and second.written == NUM_FRAMES - 3
    assert sorted(saves) == sorted(p.name for p in Project(killed).images[1:])  # each frame once
    assert sidecars(killed) == expected
    assert json.loads((killed / REPORT_NAME).read_text()) == expected_report


def test_reverse_and_ranges(tmp_path, small_predictor):
    seq = make_sequence(tmp_path / "rev", labelled=NUM_FRAMES - 1, suffix="png")
    report = propagate(seq, NUM_FRAMES - 1, reverse=True, predictor=small_predictor, model_label=LABEL,
                       to_frame=1)
    names = sorted(p.name for p in seq.glob("*.json") if not p.name.startswith("."))
    assert names == [f"frame_{i:06d}.json" for i in range(1, NUM_FRAMES)]
    assert report.written == NUM_FRAMES - 2
    record = Project(seq).load(seq / "frame_000001.png").extra[FRAME_KEY]
    assert record["source"] == f"frame_{NUM_FRAMES - 1:06d}.png"
    report = propagate(seq, "frame_000004.png", reverse=True, max_frames=1, predictor=small_predictor,
                       model_label=LABEL, restart=True)
    assert report.frames == 1 and report.written == 1
    with pytest.raises(VideoError, match="reverse"):
        propagate(seq, 1, to_frame=3, reverse=True, predictor=small_predictor)
    with pytest.raises(VideoError, match="no frame 9"):
        propagate(seq, 9, predictor=small_predictor)


class LosingPredictor:
    """A stand-in predictor: object 1 follows its prompt; object 2 is gone on frame 2."""

    device = torch.device("cpu")
    image_size = 32

    def __init__(self):
        self.masks = {}

    def add_new_mask(self, state, frame_idx, obj_id, mask):
        self.masks[obj_id] = np.asarray(mask, bool)

    def propagate_in_video(self, state, start_frame_idx=None, max_frame_num_to_track=None, reverse=False):
        ids = sorted(self.masks)
        for t in range(start_frame_idx, start_frame_idx + max_frame_num_to_track + 1):
            logits = np.stack([np.where(self.masks[i], 10.0, -10.0) for i in ids])[:, None]
            if t == 2:
                logits[1] = -1024.0
            yield t, ids, torch.from_numpy(logits)


def test_lost_objects_are_reported(sequence):
    report = propagate(sequence, 0, predictor=LosingPredictor(), model_label="stub")
    assert report.lost == {"ball@0": ["frame_000002.jpg"]}
    annotation = Project(sequence).load(sequence / "frame_000002.jpg")
    assert [mark(s)["object"] for s in annotation.shapes] == ["car#1"]
    assert annotation.extra[FRAME_KEY]["lost"] == ["ball@0"]
    saved = json.loads((sequence / REPORT_NAME).read_text())
    assert saved["lost"] == {"ball@0": ["frame_000002.jpg"]}
    # Frame 3 got the same car as frame 0 (the stub carries the prompt unchanged).
    car = next(s for s in Project(sequence).load(sequence / "frame_000003.jpg").shapes if s.label == "car")
    assert car.group_id == 1 and car.area() == 400
