"""The timeline's marks without Qt (samlabel.gui.timeline_model): states, lost objects, what
is read again, the slot geometry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.project import Project
from samlabel.annotations.shapes import Shape
from samlabel.gui.timeline_model import FrameState, TimelineModel, frame_at, frame_x, frame_state, is_sequence
from samlabel.video.objects import FRAME_KEY, marked_shape

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))
from video_testing import FRAME_HW, make_sequence  # noqa: E402

REPORT = ".samlabel-propagation.json"


def _propagated(name: str, shapes_xy: dict, lost=()) -> ImageAnnotation:
    """A frame as propagation writes it: marked polygons and the frame record."""
    h, w = FRAME_HW
    shapes = []
    for key, (x, y) in shapes_xy.items():
        label, _, gid = key.partition("#")
        square = Shape.polygon(label, [[x, y], [x + 10, y], [x + 10, y + 10], [x, y + 10]],
                               group_id=int(gid) if gid else None)
        shapes.append(marked_shape(square, "run1", "frame_000000.jpg", key, "sam2.1_hiera_tiny"))
    record = {"run": "run1", "source": "frame_000000.jpg", "model": "sam2.1_hiera_tiny",
              "objects": sorted(shapes_xy), "lost": list(lost)}
    return ImageAnnotation(name, h, w, shapes=tuple(shapes), extra={FRAME_KEY: record})


@pytest.fixture
def labelled(tmp_path):
    """Frame 0 drawn by a person; 1 propagated; 2 propagated then reviewed; 3 propagated then
    a shape moved (edited), the ball lost there; 4 nothing."""
    folder = make_sequence(tmp_path / "seq")
    project = Project(folder)
    images = project.images
    project.save(_propagated(images[1].name, {"car#1": (10, 10), "ball@0": (60, 30)}), images[1])
    reviewed = _propagated(images[2].name, {"car#1": (12, 12)})
    project.save(reviewed.replace(flags={"reviewed": True}), images[2])
    moved = _propagated(images[3].name, {"car#1": (14, 14)}, lost=["ball@0"])
    project.save(moved.with_shapes((moved.shapes[0].translated(2, 0),)), images[3])
    report = {"version": 1, "runs": {}, "frames": {images[3].name: {"run": "run1", "lost": ["ball@0"]},
                                                  images[1].name: {"run": "run1", "lost": []}},
              "lost": {"ball@0": [images[3].name]}}
    (folder / REPORT).write_text(json.dumps(report))
    return folder


def test_states_and_lost_objects_of_each_frame(labelled):
    model = TimelineModel.of_project(Project(labelled))
    assert model.refresh() == [0, 1, 2, 3]  # frame 4 has no sidecar: still EMPTY, unchanged
    marks = model.marks()
    assert [m.state for m in marks] == [FrameState.EDITED, FrameState.PROPAGATED, FrameState.REVIEWED,
                                        FrameState.EDITED, FrameState.EMPTY]
    assert [m.lost for m in marks] == [(), (), (), ("ball@0",), ()]
    assert model.lost_frames() == [3]
    assert [m.person_owned for m in marks] == [True, False, True, True, False]
    assert model.summary() == "1 propagated, 2 edited, 1 reviewed, 1 with a lost object"
    assert marks[3].describe(5) == "Frame 4 / 5 (frame_000003.jpg): edited by a person; lost: ball@0"
    model.current = 2
    assert model.position_text() == "Frame 3 / 5 — frame_000002.jpg"
    assert model.index_of("frame_000004.jpg") == 4 and model.index_of(str(labelled / "frame_000001.jpg")) == 1
    assert model.index_of("other.jpg") == -1


def test_only_what_changed_on_disk_is_read_again(labelled):
    project = Project(labelled)
    loads = []

    def load(image):
        loads.append(Path(image).name)
        return project.load(image)

    model = TimelineModel(project.images, project.sidecar_path, load, labelled / REPORT)
    model.refresh()
    assert sorted(loads) == [f"frame_00000{i}.jpg" for i in range(4)]
    loads.clear()
    assert model.refresh() == [] and loads == []  # nothing changed: no sidecar parsed
    image = project.images[4]
    project.save(_propagated(image.name, {"car#1": (20, 20)}), image)
    assert model.refresh() == [4] and loads == ["frame_000004.jpg"]
    assert model.mark(4).state is FrameState.PROPAGATED
    loads.clear()
    assert model.refresh(["frame_000001.jpg", "nope.jpg"]) == [] and loads == []
    # the report says the ball is lost on frame 1 now, and no more on frame 3
    (labelled / REPORT).write_text(json.dumps({"frames": {"frame_000001.jpg": {"lost": ["ball@0", "car#1"]}}}))
    assert model.refresh([]) == [1, 3]
    assert model.mark(1).lost == ("ball@0", "car#1") and model.mark(3).lost == ()
    (labelled / REPORT).unlink()
    assert model.refresh([]) == [1] and model.lost_frames() == []


def test_an_unreadable_sidecar_is_a_mark_not_an_error(labelled):
    (labelled / "frame_000004.json").write_text("{ not json")
    model = TimelineModel.of_project(Project(labelled))
    model.refresh()
    mark = model.mark(4)
    assert mark.state is FrameState.UNREADABLE and mark.problem
    assert "annotations cannot be read" in mark.describe(5)
    assert model.summary().endswith("1 unreadable, 1 with a lost object")


def test_frame_state_rules():
    h, w = FRAME_HW
    empty = ImageAnnotation("f.jpg", h, w)
    assert frame_state(empty) is FrameState.EMPTY
    assert frame_state(empty.replace(extra={"samlabel_reviewed": True})) is FrameState.REVIEWED
    assert frame_state(empty.replace(flags={"reviewed": False})) is FrameState.EMPTY
    drawn = empty.with_shapes((Shape.polygon("car", [[1, 1], [9, 1], [9, 9]]),))
    assert frame_state(drawn) is FrameState.EDITED
    all_lost = _propagated("f.jpg", {}, lost=["car#1"])
    assert frame_state(all_lost) is FrameState.PROPAGATED  # written by propagation, every object lost
    deleted = _propagated("f.jpg", {"car#1": (1, 1), "ball@0": (30, 30)})
    assert frame_state(deleted.with_shapes(deleted.shapes[:1])) is FrameState.EDITED  # a person deleted one


def test_is_sequence(tmp_path):
    names = ["frame_000000.jpg", "frame_000001.jpg", "frame_000010.jpg"]
    assert is_sequence(tmp_path, names)
    assert is_sequence(tmp_path, ["img1.png", "img2.png"])
    assert not is_sequence(tmp_path, ["a.png", "b.png"])  # no numbers
    assert not is_sequence(tmp_path, ["frame_1.jpg", "shot_2.jpg"])  # two prefixes
    assert not is_sequence(tmp_path, ["frame_1.jpg", "frame_2.png"])  # two formats
    assert not is_sequence(tmp_path, ["frame_1.jpg"])  # one frame
    (tmp_path / REPORT).write_text("{}")
    assert is_sequence(tmp_path, ["a.png", "b.png"])  # propagation ran here


def test_slot_geometry():
    assert [frame_at(x, 100, 4) for x in (-5, 0, 24.9, 25, 74, 99.9, 150)] == [0, 0, 0, 1, 2, 3, 3]
    assert frame_x(1, 100, 4) == (25.0, 50.0)
    assert frame_at(10, 100, 0) == -1 and frame_at(10, 0, 3) == 0
    assert frame_x(0, 100, 0) == (0.0, 0.0)


def test_timeline_model_imports_no_qt():
    code = ("import sys, samlabel.gui.timeline_model\n"
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_lost_objects_are_named_as_the_user_reads_them():
    from samlabel.gui.timeline_model import object_name

    assert object_name("car#1") == "car #1"
    assert object_name("ball@0") == "ball"
    assert object_name("ball@1") == "ball (2nd without a group)"
    assert object_name("ball@2") == "ball (3rd without a group)"
    assert object_name("ball@10") == "ball (11th without a group)"
    assert object_name("odd name") == "odd name"


def _marks(states: str, sources: dict[int, int]):
    """Marks from a compact picture: one letter a frame (``p`` propagated, ``e`` edited,
    ``r`` reviewed, ``.`` empty) and ``{frame: the frame its propagation started from}``."""
    from samlabel.gui.timeline_model import FrameMark

    kinds = {"p": FrameState.PROPAGATED, "e": FrameState.EDITED, "r": FrameState.REVIEWED, ".": FrameState.EMPTY}
    return [FrameMark(i, f"f{i}.jpg", kinds[c], source=f"f{sources[i]}.jpg" if i in sources else "")
            for i, c in enumerate(states)]


def _plans(states, sources, index):
    from samlabel.gui.timeline_model import repropagations_for

    def index_of(name):
        return int(name[1:-4]) if name.startswith("f") else -1

    return [(p.source, p.reverse, p.frames) for p in repropagations_for(_marks(states, sources), index, index_of)]


def test_a_correction_is_carried_over_the_frames_propagated_past_it():
    forward = {i: 0 for i in range(1, 8)}
    # frame 0 the source, 1..7 propagated from it; frame 3 corrected: frames 4..7 again
    assert _plans("eppepppp", {**forward, 3: 0}, 3) == [(3, False, 4)]
    # up to the first frame a person owns (6 reviewed), not over it
    assert _plans("eppeppr.", {**forward, 3: 0}, 3) == [(3, False, 2)]
    # the source frame itself corrected: every frame it propagated to
    assert _plans("eppppppp", forward, 0) == [(0, False, 7)]
    # a backward run (from frame 7): a correction on 4 goes backward over 3..0
    backward = {i: 7 for i in range(7)}
    assert _plans("ppppeppe", {**backward, 4: 7}, 4) == [(4, True, 4)]
    # a reviewed frame whose shapes were changed is a person's correction too
    assert _plans("epprpp", {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}, 3) == [(3, False, 2)]


def test_a_source_propagated_both_ways_carries_a_correction_both_ways():
    # frame 3 labelled, propagated forward to 6 and backward to 0; frame 3 corrected
    both = {0: 3, 1: 3, 2: 3, 4: 3, 5: 3, 6: 3}
    assert _plans("pppeppp", both, 3) == [(3, False, 3), (3, True, 3)]


def test_an_undone_correction_is_carried_from_the_frame_it_came_from():
    # frame 2 was corrected and carried to 3..4; then undone: frame 2 is propagation's again
    # (from frame 0), and 3..4 are propagated again from frame 0, over 1..4
    assert _plans("epppp", {1: 0, 2: 0, 3: 2, 4: 2}, 2) == [(0, False, 4)]
    # backward: frame 5 corrected and carried to 4..3, then undone (frame 5 from frame 7)
    assert _plans(".ppppppe", {3: 5, 4: 5, 5: 7, 6: 7}, 5) == [(7, True, 4)]


def test_no_repropagation_when_nothing_was_carried_past_the_frame():
    forward = {i: 0 for i in range(1, 5)}
    assert _plans("epppe", forward, 4) == []  # the last frame: nothing after it
    assert _plans("epppp", forward, 2) == []  # frame 2 still as propagated, nothing derived from it
    assert _plans("eppre", {1: 0, 2: 0}, 3) == []  # reviewed, nothing propagated after it
    # frames after it came from a later source (a run started after it): not carried from it
    assert _plans("eeppp", {2: 1, 3: 1, 4: 1, 1: 0}, 0) == []
    assert _plans("e....", {}, 0) == []
    assert _plans("epp", {1: 0, 2: 0}, 7) == []  # no such frame


def test_shapes_digest_sees_shapes_not_flags():
    from samlabel.gui.timeline_model import shapes_digest

    a = ImageAnnotation("f.jpg", 10, 10, shapes=(Shape.polygon("car", [[1, 1], [5, 1], [5, 5]], group_id=1),))
    assert shapes_digest(a) == shapes_digest(a.replace(flags={"reviewed": True}))
    assert shapes_digest(a) != shapes_digest(a.with_shapes((a.shapes[0].translated(1, 0),)))
    assert shapes_digest(a) != shapes_digest(a.with_shapes((a.shapes[0].with_label("bus"),)))
    assert shapes_digest(a) == shapes_digest(a.with_shapes(a.shapes + (Shape.point("p", [3, 3]),)))


def test_marks_carry_their_source_frame(labelled):
    project = Project(labelled)
    model = TimelineModel.of_project(project)
    model.refresh()
    marks = model.marks()
    assert [m.source for m in marks] == ["", *[project.images[0].name] * 3, ""]
    # frame 3 (edited) came from frame 0; frame 4 (nothing) after it: nothing to carry on
    assert model.repropagations(3) == []
    assert marks[3].state is FrameState.EDITED
