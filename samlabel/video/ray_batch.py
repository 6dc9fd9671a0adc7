"""Propagate many sequences on Ray: one sequence per call, each actor loading the model once.

The driver finds the sequences (:func:`~samlabel.video.batch.sequences_of`), starts
``num_actors`` :class:`SequenceWorker` actors (``cpus_per_actor`` / ``gpus_per_actor``
each) and hands them the sequences one at a time: a free actor takes the next. Each actor runs :func:`~samlabel.video.batch.run_sequence` and writes its
sequence's sidecars itself, on the shared file system (the per-frame atomic writes and the
guarded merge make that safe), and returns the sequence's
:class:`~samlabel.video.batch.SequenceOutcome` as JSON; the driver gathers them in the
order of the sequences. The sidecars are those of the local engine with the same torch
thread count (``BatchJob.threads``; default here: the actor's CPUs, rounded, at least 1).

Every node must see the root at the same path. ``address`` joins a cluster
(``ray.init(address=...)``); without it a local Ray starts, shut down at the end. A Ray
already initialised in this process is used as is. Progress comes per sequence (not per
frame). Optional: ``pip install ray`` (``samlabel[cluster]``).

**Failures.** A model that cannot be built (:class:`~samlabel.video.batch.ModelLoadError`)
stops the batch: the actors are stopped and the error raised. An actor that dies while
propagating a sequence (killed, out of memory, a crash) fails that sequence only (its
reason names it; the frames it wrote stay, and a rerun finishes it): a new actor takes the
dead one's place (if none can start, the others go on) and the batch goes on. ``cancel`` is
polled while waiting (every half second): the actors are stopped, the sequences they were
propagating are ``cancelled`` (frames written stay), the others not in the report.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Optional

from samlabel.ray_support import actor_error_line, init_ray
from samlabel.video.batch import (
    CANCELLED,
    FAILED,
    BatchJob,
    BatchReport,
    ModelLoadError,
    PredictorLoader,
    SequenceOutcome,
    run_sequence,
    sequences_of,
)
from samlabel.video.errors import VideoError
from samlabel.video.propagate import Cancel, Progress


@dataclass(frozen=True)
class RayBatchOptions:
    """``address``: a cluster to join (None: start a local Ray); ``num_actors``: model
    replicas (no more are started than there are sequences); ``cpus_per_actor`` /
    ``gpus_per_actor``: what each reserves; ``runtime_env``: passed to ``ray.init``;
    ``start_timeout_s``: how long the driver waits, with no sequence running, for an actor
    to start (be scheduled and build its model) before it gives up on the sequences left.
    (The auto-labeller's ``RayOptions`` without its batch size and write mode: here a call is
    one sequence, and the workers always write.)"""

    address: Optional[str] = None
    num_actors: int = 1
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    runtime_env: Optional[dict] = None
    start_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if self.num_actors < 1:
            raise VideoError(f"--num-actors must be at least 1, got {self.num_actors}")
        if self.cpus_per_actor < 0 or self.gpus_per_actor < 0:
            raise VideoError("--cpus-per-actor and --gpus-per-actor must be >= 0")


WAIT_S = 0.5
"""How long the driver waits for a result before it polls ``cancel`` again (seconds)."""


class SequenceWorker:
    """The actor: the job, and its model (built on the first sequence with frames to write)."""

    def __init__(self, job: BatchJob):
        if job.threads:
            import torch

            torch.set_num_threads(int(job.threads))
        self.job = job
        self.loader = PredictorLoader(job)

    def ready(self) -> bool:
        """True once the actor is up (the driver's check that it could be started)."""
        return True

    def run(self, sequence: str) -> dict:
        """Propagate ``sequence``; its :class:`SequenceOutcome` as JSON (ModelLoadError raised)."""
        return run_sequence(sequence, self.job, self.loader).to_json()


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise VideoError(f"--engine ray needs Ray: pip install 'samlabel[cluster]' (or 'ray') ({exc})") from exc
    return ray


_EXIT_DETAIL = re.compile(r"Worker exit detail: (.*?)(?:\.(?:\s|$)|$)", re.MULTILINE)


def _death_reason(exc: BaseException) -> str:
    """One line saying why an actor died (Ray's worker exit detail when it gives one)."""
    found = _EXIT_DETAIL.search(str(exc))
    if found and found.group(1).strip():
        return f"{type(exc).__name__}: {found.group(1).strip()}"
    return actor_error_line(exc)


def _model_load_error(exc: BaseException) -> Optional[str]:
    """The message of the :class:`ModelLoadError` an actor's task raised (None: another error)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, ModelLoadError):
        return str(cause)
    line = actor_error_line(exc)
    if isinstance(exc, ModelLoadError) or line.startswith("ModelLoadError: "):
        return line.split(": ", 1)[1] if line.startswith("ModelLoadError: ") else line
    return None


class _Dispatch:
    """The driver's loop: hands the sequences to free actors one at a time, gathers their
    outcomes, replaces an actor that died, polls ``cancel`` while waiting."""

    def __init__(self, ray: Any, remote: Any, job: BatchJob, paths: list[str], progress: Optional[Progress],
                 cancel: Optional[Cancel], start_timeout_s: float = 600.0):
        self.ray, self.remote, self.job, self.paths = ray, remote, job, paths
        self.start_timeout_s = start_timeout_s
        self._stalled_since: Optional[float] = None  # no sequence running, only actors starting, since
        self.progress, self.cancel = progress, cancel
        self.todo = deque(paths)
        self.outcomes: dict[str, SequenceOutcome] = {}
        self.tasks: dict[Any, tuple[Any, Optional[str]]] = {}  # ref -> (actor, sequence; None: its ready check)
        self.idle: list = []
        self.actors: list = []  # every actor started (all killed at the end)
        self.up = False  # an actor has started
        self.start_error = ""  # why the last actor that could not start could not

    def start_actor(self) -> None:
        try:
            actor = self.remote.remote(self.job)
            self.actors.append(actor)
            self.tasks[actor.ready.remote()] = (actor, None)
        except self.ray.exceptions.RayError as exc:
            self.start_error = actor_error_line(exc)

    def drop(self, actor: Any) -> None:
        try:
            self.ray.kill(actor)
        except Exception:  # noqa: BLE001 - already gone
            pass

    def record(self, outcome: SequenceOutcome) -> None:
        self.outcomes[outcome.sequence] = outcome
        if self.progress is not None:
            self.progress(len(self.outcomes), len(self.paths), outcome.name)

    def running(self) -> list[str]:
        return [path for _, path in self.tasks.values() if path is not None]

    def run(self, num_actors: int) -> bool:
        """Propagate every sequence; True when cancelled. ModelLoadError: stops at the first."""
        ray = self.ray
        for _ in range(min(num_actors, len(self.paths))):
            self.start_actor()
        if self.progress is not None:
            self.progress(0, len(self.paths), "starting Ray")
        while self.todo or self.running():
            if self.cancel is not None and self.cancel():
                for path in self.running():
                    self.outcomes[path] = SequenceOutcome(path, CANCELLED, reason="cancelled while it was propagating "
                                                                                "(frames already written stay)")
                return True
            if not self.tasks:  # no actor left, none starting
                break
            if self._stalled(time.monotonic()):
                break
            ready, _ = ray.wait(list(self.tasks), num_returns=1, timeout=WAIT_S)
            for ref in ready:
                self.collect(ref)
            while self.idle and self.todo:
                actor, path = self.idle.pop(0), self.todo.popleft()
                self.tasks[actor.run.remote(path)] = (actor, path)
        if self.todo:
            if not self.up and not self.outcomes:
                raise VideoError(f"no Ray worker could start ({self.start_error or 'unknown reason'}); "
                                 "nothing was propagated")
            for path in list(self.todo):
                self.record(SequenceOutcome(path, FAILED, reason=f"{path}: not propagated: no Ray worker left "
                                                                 f"({self.start_error or 'every one died'}); "
                                                                 "rerun to finish it"))
        return False

    def _stalled(self, now: float) -> bool:
        """No sequence has been running, only actors starting, for ``start_timeout_s``: the
        cluster cannot schedule them (no node with the CPUs / GPUs asked). Drops them."""
        if self.running():
            self._stalled_since = None
            return False
        if self._stalled_since is None:
            self._stalled_since = now
            return False
        if now - self._stalled_since <= self.start_timeout_s:
            return False
        for actor, _ in self.tasks.values():
            self.drop(actor)
        self.tasks.clear()
        self.start_error = (f"no Ray worker started within {self.start_timeout_s:.0f} s: does the cluster have "
                            "the CPUs and GPUs asked for each actor?")
        return True

    def collect(self, ref: Any) -> None:
        ray = self.ray
        actor, path = self.tasks.pop(ref)
        try:
            data = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the task raised; the actor lives
            message = _model_load_error(exc)
            if message is not None:
                raise ModelLoadError(f"{message} (on a Ray worker); frames already done stay written") from exc
            if path is None:
                self.start_error = actor_error_line(exc)
                self.drop(actor)
                return
            self.record(SequenceOutcome(path, FAILED, reason=f"{path}: {actor_error_line(exc)}"))
            self.idle.append(actor)
        except ray.exceptions.RayError as exc:  # the actor died (killed, out of memory, crashed) or never started
            self.drop(actor)
            if path is None:  # not started: the others go on
                self.start_error = _death_reason(exc)
                return
            self.record(SequenceOutcome(path, FAILED, reason=f"the Ray worker died while propagating {path}: "
                                                             f"{_death_reason(exc)}; rerun to finish it"))
            self.start_actor()  # its replacement
        else:
            if path is None:
                self.up = True
            else:
                self.record(SequenceOutcome.from_json(data))
            self.idle.append(actor)


def run_sequences_ray(job: BatchJob, options: Optional[RayBatchOptions] = None, progress: Optional[Progress] = None,
                      cancel: Optional[Cancel] = None) -> BatchReport:
    """Propagate every sequence under ``job.root`` on Ray (see the module docstring).

    ``progress(done, total, message)`` after each sequence (message: its name); ``cancel``
    polled while waiting for the actors (True: the actors are stopped; frames done stay
    written, the sequences being propagated are ``cancelled``, those not started are not in
    the report). An actor that dies fails the sequence it was propagating (the others go on).

    Raises:
        NoSequencesError: the root holds no sequence. ModelLoadError: an actor cannot build
        the model (the batch stops). VideoError: Ray is missing or cannot start, no actor can
        start, or Ray itself failed.
    """
    options = options or RayBatchOptions()
    ray = _import_ray()

    sequences = sequences_of(job.root)
    job = job.resolved()
    if job.threads is None:  # one torch thread per reserved CPU
        job = job.replace(threads=max(1, int(round(options.cpus_per_actor))))
    report = BatchReport(root=job.root)
    paths = [os.fspath(s) for s in sequences]
    started = init_ray(ray, options.address, options.runtime_env, VideoError)
    dispatch = None
    try:
        remote = ray.remote(SequenceWorker).options(num_cpus=options.cpus_per_actor,
                                                    num_gpus=options.gpus_per_actor)
        dispatch = _Dispatch(ray, remote, job, paths, progress, cancel, options.start_timeout_s)
        report.cancelled = dispatch.run(options.num_actors)
        report.outcomes = [dispatch.outcomes[p] for p in paths if p in dispatch.outcomes]
        report.cancelled = report.cancelled or any(o.status == CANCELLED for o in report.outcomes)
    except ray.exceptions.RayError as exc:  # Ray itself failed
        raise VideoError(f"the Ray job failed ({actor_error_line(exc)}); frames already done stay written") from exc
    finally:
        if dispatch is not None:
            for actor in dispatch.actors:
                dispatch.drop(actor)
        if started:
            ray.shutdown()
    return report
