"""Propagation over a folder of sequences (samlabel.video.batch / ray_batch, ``samlabel propagate``
on a folder of sequences) with the small random SAM 2.1 video predictor and 3-frame sequences."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from samlabel.annotations.project import Project
from samlabel.annotations.shapes import Shape
from samlabel.cli import main
from samlabel.video.batch import (
    LABELLED,
    BatchJob,
    ModelLoadError,
    NoSequencesError,
    find_sequences,
    labelled_frame,
    run_sequences_local,
    source_frame,
)
from samlabel.video.errors import VideoError
from samlabel.video.objects import FRAME_KEY, mark
from samlabel.video.propagate import REPORT_NAME, propagate

from video_testing import make_sequence, source_annotation

HERE = Path(__file__).resolve().parent
N = 3  # frames per sequence
FACTORY = "test_batch_sequences:small_factory"  # imported by name (also by Ray workers)
OK = ("cam1", "cam2")  # labelled on frame 0
UNLABELLED, BROKEN_SIDECAR, CORRUPT_FRAME = "cam3_unlabelled", "cam4_broken_sidecar", "cam5_corrupt_frame"


def small_factory(checkpoint=None, device=None):
    """``--model-factory``: the video tests' small random predictor (the same weights in every process)."""
    from video_testing import small_video_predictor

    return small_video_predictor()


def failing_factory(checkpoint=None, device=None):
    """``--model-factory`` whose model cannot be built (a broken checkpoint): appends a line to
    the file ``checkpoint`` per call, then raises the exception class named by ``device``."""
    with open(checkpoint, "a", encoding="utf-8") as calls:
        calls.write("build\n")
    raise {"RuntimeError": RuntimeError, "OSError": OSError, "ValueError": ValueError,
           "ImportError": ImportError}[device or "RuntimeError"](f"{checkpoint}: broken checkpoint\nsecond line")


class _DiesOn:
    """The small predictor, in a worker that dies (``os._exit``, as on a crash or an OOM kill)
    when it starts propagating the sequence folder named ``die_on``."""

    def __init__(self, predictor, die_on):
        self.predictor, self.die_on = predictor, die_on

    def __getattr__(self, name):
        return getattr(self.predictor, name)

    def add_new_mask(self, state, **kwargs):
        if any(Path(p).parent.name == self.die_on for p in state["images"].img_paths):
            os._exit(1)
        return self.predictor.add_new_mask(state, **kwargs)


def dying_factory(checkpoint=None, device=None):
    """``--model-factory``: the small predictor, dying on the sequence named by the ``checkpoint``
    file's stem (``--checkpoint`` must be a file)."""
    return _DiesOn(small_factory(), Path(checkpoint).stem)


def make_root(root: Path, problems: bool = True) -> Path:
    """Sequences ``cam1``, ``cam2`` (labelled on frame 0); with ``problems`` also one without
    objects, one with a broken sidecar on frame 2, one with a corrupt frame 1; plus things
    that are no sequence (a hidden folder of frames, an empty folder, a file)."""
    for name in OK:
        make_sequence(root / name, n=N)
    if problems:
        make_sequence(root / UNLABELLED, n=N, labelled=None)
        make_sequence(root / BROKEN_SIDECAR, n=N)
        (root / BROKEN_SIDECAR / "frame_000002.json").write_text("{broken", encoding="utf-8")
        make_sequence(root / CORRUPT_FRAME, n=N)
        (root / CORRUPT_FRAME / "frame_000001.jpg").write_bytes(b"not an image")
    make_sequence(root / ".cam9.expanding-x", n=N)
    (root / "empty").mkdir()
    (root / "notes.txt").write_text("not a sequence", encoding="utf-8")
    return root


def sidecars(root: Path) -> dict[str, bytes]:
    """Every sidecar and sequence report under ``root``, by path relative to it."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.json"))
            if not p.parent.name.startswith(".")}


def check_propagated(folder: Path, source: str = "frame_000000.jpg") -> str:
    """Frames 1.. of ``folder`` hold both objects of the source frame, marked; returns the run id."""
    project = Project(folder)
    runs = set()
    for image in project.images[1:]:
        annotation = project.load(image)
        record = annotation.extra[FRAME_KEY]
        assert record["source"] == source and record["objects"] == ["ball@0", "car#1"] and record["lost"] == []
        marks = sorted((mark(s)["object"], s.label, s.group_id, s.kind) for s in annotation.shapes)
        assert marks == [("ball@0", "ball", None, "polygon"), ("car#1", "car", 1, "polygon")]
        runs.add(record["run"])
    assert len(runs) == 1
    return runs.pop()


def test_find_sequences(tmp_path):
    root = make_root(tmp_path / "root")
    assert [p.name for p in find_sequences(root)] == [*OK, UNLABELLED, BROKEN_SIDECAR, CORRUPT_FRAME]
    # A sequence is its own only sequence; one holding sequences counts them too.
    assert find_sequences(root / "cam1") == [root / "cam1"]
    make_sequence(root / "cam1" / "sub", n=2)
    assert find_sequences(root / "cam1") == [root / "cam1", root / "cam1" / "sub"]
    with pytest.raises(NoSequencesError, match=str(root / "empty")):
        run_sequences_local(BatchJob(root / "empty", factory=FACTORY))
    with pytest.raises(VideoError, match="not a folder"):
        find_sequences(root / "notes.txt")


def test_source_frame_rules(tmp_path, small_predictor):
    seq = make_sequence(tmp_path / "seq", n=4, labelled=1)
    project = Project(seq)
    assert labelled_frame(project) == labelled_frame(project, reverse=True) == 1
    assert source_frame(project, BatchJob(seq)) == 1
    propagate(seq, 1, predictor=small_predictor, model_label="x")  # frames 2, 3: propagated shapes
    assert labelled_frame(project) == labelled_frame(project, reverse=True) == 1  # never a propagated frame
    first = project.images[0]
    project.save(source_annotation(first.name), first)
    assert (labelled_frame(project), labelled_frame(project, reverse=True)) == (0, 1)
    project.save(source_annotation(first.name).with_shapes((Shape.point("dot", (3, 3)),)), first)
    assert labelled_frame(project) == 1  # a point is no object
    assert source_frame(project, BatchJob(seq, from_frame="frame_000001.jpg")) == 1
    with pytest.raises(Exception, match="no objects on frame 0"):
        source_frame(project, BatchJob(seq, from_frame=0))
    with pytest.raises(Exception, match="no frame 9"):
        source_frame(project, BatchJob(seq, from_frame=9))


def test_local_engine_writes_every_sequence_and_resumes(tmp_path, small_predictor, monkeypatch):
    import samlabel.video.batch as batch

    loads = []
    monkeypatch.setattr(batch, "build_predictor", lambda job: loads.append(job) or small_predictor)
    root = make_root(tmp_path / "root")
    before = sidecars(root)
    seen, frames = [], []
    report = run_sequences_local(BatchJob(root, model_label="small"), progress=lambda d, t, m="": seen.append((d, t, m)),
                                 frame_progress=lambda name, d, t, m="": frames.append((name, d, t)))
    assert len(loads) == 1 and loads[0].model_label == "small"  # one model, loaded once
    by_name = {o.name: o for o in report.outcomes}
    assert list(by_name) == [*OK, UNLABELLED, BROKEN_SIDECAR, CORRUPT_FRAME]  # the sequences' order
    assert [by_name[n].status for n in by_name] == ["done", "done", "skipped", "failed", "failed"]
    for name in OK:
        outcome = by_name[name]
        assert (outcome.frames, outcome.written, outcome.already, outcome.lost) == (N - 1, N - 1, 0, 0)
        assert check_propagated(root / name) == outcome.run
        saved = json.loads((root / name / REPORT_NAME).read_text())
        assert sorted(saved["frames"]) == ["frame_000001.jpg", "frame_000002.jpg"]
    assert by_name[UNLABELLED].reason.startswith("no labelled frame")
    assert str(root / BROKEN_SIDECAR / "frame_000002.json") in by_name[BROKEN_SIDECAR].reason
    assert str(root / CORRUPT_FRAME) in by_name[CORRUPT_FRAME].reason
    assert "\n" not in by_name[CORRUPT_FRAME].reason
    assert by_name[BROKEN_SIDECAR].line().startswith(f"{BROKEN_SIDECAR}: failed: ")
    after = sidecars(root)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {f"{n}/{f}" for n in OK for f in ("frame_000001.json", "frame_000002.json", REPORT_NAME)}
    assert seen[0] == (0, 5, "cam1") and seen[-1] == (5, 5, "done")
    assert ("cam1", N - 1, N - 1) in frames and ("cam2", N - 1, N - 1) in frames
    assert report.summary() == "5 sequence(s), 2 done, 1 skipped, 2 failed, 4 sidecar(s) written"

    # A rerun: nothing left to write, no model loaded, no file changed.
    again = run_sequences_local(BatchJob(root, model_label="small"))
    assert len(loads) == 1
    assert [(o.status, o.written, o.already) for o in again.outcomes[:2]] == [("done", 0, N - 1)] * 2
    assert sidecars(root) == after


def test_cancel_and_a_model_that_cannot_load(tmp_path, small_predictor):
    root = make_root(tmp_path / "root", problems=False)
    polls = []
    report = run_sequences_local(BatchJob(root, model_label="small"), predictor=small_predictor,
                                 cancel=lambda: polls.append(1) or len(polls) > 2)
    assert report.cancelled and [(o.name, o.status, o.written) for o in report.outcomes] == [("cam1", "cancelled", 1)]
    assert not (root / "cam2" / "frame_000001.json").exists()
    # A model that cannot load stops the batch, naming the factory; the rest stays as it was.
    before = sidecars(root)
    with pytest.raises(ModelLoadError, match="no_such_module_xyz"):
        run_sequences_local(BatchJob(root, factory="no_such_module_xyz:build"))
    assert sidecars(root) == before


@pytest.mark.parametrize("error", ["RuntimeError", "OSError", "ValueError", "ImportError"])
def test_any_error_building_the_model_stops_the_batch(tmp_path, error):
    root = make_root(tmp_path / "root", problems=False)
    calls = tmp_path / "calls.txt"
    before = sidecars(root)
    factory = "test_batch_sequences:failing_factory"
    with pytest.raises(ModelLoadError) as raised:
        run_sequences_local(BatchJob(root, factory=factory, checkpoint=str(calls), device=error))
    message = str(raised.value)
    assert factory in message and f"{error}: {calls}: broken checkpoint" in message and "\n" not in message
    assert calls.read_text().splitlines() == ["build"]  # built once, not once per sequence
    assert sidecars(root) == before


# --- Ray ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_ray():
    """A local Ray (2 CPUs) whose workers can import this module's model factory."""
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'samlabel[cluster]' (or 'ray')")
    path = os.pathsep.join([str(HERE), str(HERE.parents[1])])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own
def test_ray_engine_equals_the_local_engine(tmp_path, local_ray):
    from samlabel.video.ray_batch import RayBatchOptions, run_sequences_ray

    local_root = make_root(tmp_path / "local")
    ray_root = tmp_path / "ray"
    shutil.copytree(local_root, ray_root)
    job = BatchJob(local_root, factory=FACTORY, threads=1)  # the actors' thread count (1 CPU each)
    local = run_sequences_local(job)
    seen = []
    report = run_sequences_ray(job.replace(root=str(ray_root)), RayBatchOptions(num_actors=2, cpus_per_actor=1),
                               progress=lambda d, t, m="": seen.append((d, t)))
    summary = [(o.name, o.status, o.written, o.run) for o in report.outcomes]
    assert summary == [(o.name, o.status, o.written, o.run) for o in local.outcomes]
    assert [s[:3] for s in summary[:2]] == [("cam1", "done", N - 1), ("cam2", "done", N - 1)]
    assert str(ray_root / BROKEN_SIDECAR / "frame_000002.json") in report.outcomes[3].reason
    assert sidecars(ray_root) == sidecars(local_root)  # identical shapes and reports, byte for byte
    assert check_propagated(ray_root / "cam1") == report.outcomes[0].run
    assert seen[-1] == (5, 5)
    with pytest.raises(VideoError, match="no_such_module_xyz"):
        run_sequences_ray(BatchJob(ray_root, factory="no_such_module_xyz:build", restart=True), RayBatchOptions())


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own
def test_ray_model_that_cannot_build_stops_the_batch(tmp_path, local_ray):
    from samlabel.video.ray_batch import RayBatchOptions, run_sequences_ray

    root = make_root(tmp_path / "root", problems=False)
    make_sequence(root / "cam3", n=N)
    calls = tmp_path / "calls.txt"
    before = sidecars(root)
    factory = "test_batch_sequences:failing_factory"
    with pytest.raises(ModelLoadError) as raised:
        run_sequences_ray(BatchJob(root, factory=factory, checkpoint=str(calls)),
                          RayBatchOptions(num_actors=2, cpus_per_actor=1))
    message = str(raised.value)
    assert factory in message and f"RuntimeError: {calls}: broken checkpoint" in message and "\n" not in message
    assert 1 <= len(calls.read_text().splitlines()) <= 2  # at most once per actor, not once per sequence
    assert sidecars(root) == before


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own
def test_ray_engine_goes_on_when_a_worker_dies(tmp_path, local_ray, capsys):
    root = make_root(tmp_path / "root", problems=False)
    make_sequence(root / "cam3", n=N)
    make_sequence(root / "cam4", n=N)
    die_on = tmp_path / "cam2.die"
    die_on.write_text("", encoding="utf-8")
    # The worker propagating cam2 dies; its replacement and the other worker do the rest.
    code, out, err = run_cli(capsys, "propagate", root, "--engine", "ray", "--num-actors", "2", "--cpus-per-actor", "1",
                             "--model-factory", "test_batch_sequences:dying_factory", "--checkpoint", die_on)
    assert code == 2, err
    lines = [line for line in out.splitlines() if "(raylet)" not in line]  # Ray's own notice of the death
    assert [line.split(":")[:2] for line in lines[:-1]] == [["cam1", " done"], ["cam3", " done"], ["cam4", " done"]]
    assert lines[-1] == "4 sequence(s), 3 done, 1 failed, 6 sidecar(s) written"
    failed = [line for line in err.splitlines() if ": failed: " in line]
    assert len(failed) == 1
    assert failed[0].startswith(f"samlabel propagate: cam2: failed: the Ray worker died while propagating {root / 'cam2'}: ")
    assert failed[0].endswith("; rerun to finish it")
    for name in ("cam1", "cam3", "cam4"):
        check_propagated(root / name)
    assert not (root / "cam2" / "frame_000001.json").exists()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own
def test_ray_cancel_is_polled_while_waiting(tmp_path, local_ray):
    from samlabel.video.ray_batch import RayBatchOptions, run_sequences_ray

    root = make_root(tmp_path / "root", problems=False)
    seen = []
    report = run_sequences_ray(BatchJob(root, factory=FACTORY), RayBatchOptions(num_actors=2, cpus_per_actor=1),
                               progress=lambda d, t, m="": seen.append(d), cancel=lambda: True)
    assert report.cancelled and max(seen) == 0  # stopped before any sequence came back
    assert all(o.status == "cancelled" for o in report.outcomes)
    assert [o.name for o in report.outcomes] == [n for n in OK if n in {o.name for o in report.outcomes}]


class _FakeRay:
    """Just enough of Ray for the driver's loop: actor ``i`` follows ``plan(i, method, arg)``
    (a value, or an exception it raises: a task error, or a death)."""

    class exceptions:
        class RayError(Exception):
            pass

        class RayTaskError(RayError):
            pass

    def __init__(self, plan):
        self.plan, self.started, self.killed = plan, [], []

    def is_initialized(self):
        return True

    def remote(self, cls):
        fake = self

        class Actor:
            def __init__(self, i):
                self.i = i
                self.ready = self.Method(self, "ready")
                self.run = self.Method(self, "run")

            class Method:
                def __init__(self, actor, name):
                    self.actor, self.name = actor, name

                def remote(self, *args):
                    return (self.actor.i, self.name, *args)

        class Remote:
            def options(self, **kwargs):
                return self

            def remote(self, job):
                fake.started.append(len(fake.started))
                return Actor(fake.started[-1])

        return Remote()

    PENDING = object()  # a plan's answer for a task that never completes (an actor never scheduled)

    def wait(self, refs, num_returns=1, timeout=None):
        done = [r for r in refs if self.plan(*r) is not self.PENDING]
        return done[:num_returns], [r for r in refs if r not in done[:num_returns]]

    def get(self, ref):
        result = self.plan(*ref)
        if isinstance(result, BaseException):
            raise result
        return result

    def kill(self, actor):
        self.killed.append(actor.i)


def test_ray_driver_replaces_dead_actors_and_goes_on(tmp_path, monkeypatch):
    import samlabel.video.ray_batch as ray_batch
    from samlabel.video.batch import SequenceOutcome

    root = tmp_path / "root"
    for name in ("cam1", "cam2", "cam3", "cam4"):
        make_sequence(root / name, n=2)
    Err = _FakeRay.exceptions
    died = Err.RayError("The actor died.\nWorker exit detail: killed by the OOM killer. More text")

    def plan(actor, method, arg=None):
        if method == "ready":
            return Err.RayError("ActorDiedError: cannot start (no GPU left)") if actor >= 2 else True
        if actor == 0:  # dies on its first sequence; its replacement (2) cannot start
            return died
        return SequenceOutcome(arg, "done", detail="ok").to_json()

    fake = _FakeRay(plan)
    monkeypatch.setattr(ray_batch, "_import_ray", lambda: fake)
    report = ray_batch.run_sequences_ray(BatchJob(root, factory=FACTORY), ray_batch.RayBatchOptions(num_actors=2))
    assert [(o.name, o.status) for o in report.outcomes] == [("cam1", "failed"), ("cam2", "done"), ("cam3", "done"),
                                                            ("cam4", "done")]
    assert report.outcomes[0].reason == (f"the Ray worker died while propagating {root / 'cam1'}: RayError: killed by "
                                         "the OOM killer; rerun to finish it")
    assert fake.started == [0, 1, 2] and 0 in fake.killed and 2 in fake.killed
    assert report.summary() == "4 sequence(s), 3 done, 1 failed, 0 sidecar(s) written"

    # Every actor dies and none can replace it: the sequences left fail, naming why.
    fake = _FakeRay(lambda actor, method, arg=None: (True if method == "ready" and actor < 2 else died))
    monkeypatch.setattr(ray_batch, "_import_ray", lambda: fake)
    report = ray_batch.run_sequences_ray(BatchJob(root, factory=FACTORY), ray_batch.RayBatchOptions(num_actors=2))
    assert [o.status for o in report.outcomes] == ["failed"] * 4
    assert "died while propagating" in report.outcomes[0].reason
    assert report.outcomes[3].reason.startswith(f"{root / 'cam4'}: not propagated: no Ray worker left")
    assert report.outcomes[3].reason.endswith("rerun to finish it")

    # Actors the cluster never schedules: the driver gives up after start_timeout_s, naming why.
    fake = _FakeRay(lambda actor, method, arg=None: (_FakeRay.PENDING if actor >= 1 else
                                                     True if method == "ready" else died))
    monkeypatch.setattr(ray_batch, "_import_ray", lambda: fake)
    report = ray_batch.run_sequences_ray(BatchJob(root, factory=FACTORY),
                                         ray_batch.RayBatchOptions(num_actors=1, start_timeout_s=0.05))
    assert [o.status for o in report.outcomes] == ["failed"] * 4
    assert "died while propagating" in report.outcomes[0].reason
    assert "no Ray worker started within 0 s" in report.outcomes[1].reason and 1 in fake.killed

    # No actor can start at all: an error, nothing in the report.
    fake = _FakeRay(lambda actor, method, arg=None: Err.RayError("ValueError: bad runtime env"))
    monkeypatch.setattr(ray_batch, "_import_ray", lambda: fake)
    with pytest.raises(VideoError, match="no Ray worker could start .*bad runtime env"):
        ray_batch.run_sequences_ray(BatchJob(root, factory=FACTORY), ray_batch.RayBatchOptions(num_actors=2))

    # A model that cannot be built (a task error carrying ModelLoadError) stops the batch.
    class Failed(Err.RayTaskError):
        cause = ModelLoadError("--model-factory 'x:y': cannot build the video predictor (RuntimeError: boom)")

    fake = _FakeRay(lambda actor, method, arg=None: True if method == "ready" else Failed("traceback text"))
    monkeypatch.setattr(ray_batch, "_import_ray", lambda: fake)
    with pytest.raises(ModelLoadError, match="RuntimeError: boom"):
        ray_batch.run_sequences_ray(BatchJob(root, factory=FACTORY), ray_batch.RayBatchOptions(num_actors=2))
    assert sorted(fake.killed) == [0, 1]


def test_ray_options_are_checked():
    from samlabel.video.ray_batch import RayBatchOptions

    with pytest.raises(VideoError, match="--num-actors"):
        RayBatchOptions(num_actors=0)
    with pytest.raises(VideoError, match="--cpus-per-actor"):
        RayBatchOptions(cpus_per_actor=-1)


# --- the command --------------------------------------------------------------------------------
def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_on_a_folder_of_sequences(tmp_path, capsys):
    root = make_root(tmp_path / "root")
    # Found without --all-sequences (the folder holds no frames, its sub-folders do).
    code, out, err = run_cli(capsys, "propagate", root, "--model-factory", FACTORY)
    assert code == 2  # a sequence failed
    lines = out.splitlines()
    assert lines[0].startswith("cam1: done: 2 object(s) from frame_000000.jpg, 2 frame(s), 2 sidecar(s) written")
    assert lines[1].startswith("cam2: done: ")
    assert lines[2] == f"{UNLABELLED}: skipped: no labelled frame (no frame has a shape a person made)"
    assert lines[-1] == "5 sequence(s), 2 done, 1 skipped, 2 failed, 4 sidecar(s) written"
    failed = [line for line in err.splitlines() if ": failed: " in line]
    assert len(failed) == 2 and failed[0].startswith(f"samlabel propagate: {BROKEN_SIDECAR}: failed: ")
    assert str(root / BROKEN_SIDECAR / "frame_000002.json") in failed[0]
    assert check_propagated(root / "cam2")
    # The same with --from-frame 0 on the good ones only: all done already, exit 0.
    good = make_root(tmp_path / "good", problems=False)
    shutil.rmtree(good / "cam2")
    shutil.copytree(root / "cam1", good / "cam1", dirs_exist_ok=True)
    code, out, _ = run_cli(capsys, "propagate", good, "--all-sequences", "--from-frame", "0",
                           "--model-factory", FACTORY)
    assert code == 0 and out.splitlines()[-1] == "1 sequence(s), 1 done, 0 sidecar(s) written"
    assert "2 already done" in out.splitlines()[0]


def test_cli_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    code, out, err = run_cli(capsys, "propagate", empty, "--all-sequences")
    assert code == 2 and out == ""
    assert err.splitlines() == [f"samlabel propagate: {empty}: no sequence (neither the folder nor a sub-folder "
                                "holds frames)"]
    code, _, err = run_cli(capsys, "propagate", empty, "--from-frame", "0")  # no sequence found: one sequence
    assert code == 1 and "no frames" in err
    root = make_root(tmp_path / "root", problems=False)
    code, _, err = run_cli(capsys, "propagate", root, "--model-factory", "no_such_module_xyz:build")
    assert code == 1 and "no_such_module_xyz" in err
    assert not (root / "cam1" / "frame_000001.json").exists()
    code, _, err = run_cli(capsys, "propagate", root, "--engine", "ray", "--num-actors", "0")
    assert code == 1 and "--num-actors must be at least 1" in err
    with pytest.raises(SystemExit) as exited:  # one sequence needs its frame
        main(["propagate", str(root / "cam1")])
    assert exited.value.code == 2 and "--from-frame is required" in capsys.readouterr().err
    # --from-frame labelled on one sequence: its first labelled frame.
    code, out, _ = run_cli(capsys, "propagate", root / "cam1", "--from-frame", LABELLED, "--model-factory", FACTORY)
    assert code == 0 and "2 sidecar(s) written" in out
    check_propagated(root / "cam1")
