"""Propagate many sequences on Ray: one sequence per call, each actor loading the model once.

The driver finds the sequences (:func:`~samlabel.video.batch.sequences_of`), starts
``num_actors`` :class:`SequenceWorker` actors (``cpus_per_actor`` / ``gpus_per_actor``
each) and hands them the sequences one at a time (``ray.util.ActorPool``): a free actor
takes the next. Each actor runs :func:`~samlabel.video.batch.run_sequence` and writes its
sequence's sidecars itself, on the shared file system (the per-frame atomic writes and the
guarded merge make that safe), and returns the sequence's
:class:`~samlabel.video.batch.SequenceOutcome` as JSON; the driver gathers them in the
order of the sequences. The sidecars are those of the local engine with the same torch
thread count (``BatchJob.threads``; default here: the actor's CPUs, rounded, at least 1).

Every node must see the root at the same path. ``address`` joins a cluster
(``ray.init(address=...)``); without it a local Ray starts, shut down at the end. A Ray
already initialised in this process is used as is. Progress comes per sequence (not per
frame). Optional: ``pip install ray`` (``samlabel[cluster]``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from samlabel.ray_support import actor_error_line, init_ray
from samlabel.video.batch import (
    CANCELLED,
    BatchJob,
    BatchReport,
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
    ``gpus_per_actor``: what each reserves; ``runtime_env``: passed to ``ray.init``.
    (The auto-labeller's ``RayOptions`` without its batch size and write mode: here a call is
    one sequence, and the workers always write.)"""

    address: Optional[str] = None
    num_actors: int = 1
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    runtime_env: Optional[dict] = None

    def __post_init__(self) -> None:
        if self.num_actors < 1:
            raise VideoError(f"--num-actors must be at least 1, got {self.num_actors}")
        if self.cpus_per_actor < 0 or self.gpus_per_actor < 0:
            raise VideoError("--cpus-per-actor and --gpus-per-actor must be >= 0")


class SequenceWorker:
    """The actor: the job, and its model (built on the first sequence with frames to write)."""

    def __init__(self, job: BatchJob):
        if job.threads:
            import torch

            torch.set_num_threads(int(job.threads))
        self.job = job
        self.loader = PredictorLoader(job)

    def run(self, sequence: str) -> dict:
        """Propagate ``sequence``; its :class:`SequenceOutcome` as JSON (ModelLoadError raised)."""
        return run_sequence(sequence, self.job, self.loader).to_json()


def _import_ray():
    try:
        import ray
        from ray.util import ActorPool  # noqa: F401
    except ImportError as exc:
        raise VideoError(f"--engine ray needs Ray: pip install 'samlabel[cluster]' (or 'ray') ({exc})") from exc
    return ray


def run_sequences_ray(job: BatchJob, options: Optional[RayBatchOptions] = None, progress: Optional[Progress] = None,
                      cancel: Optional[Cancel] = None) -> BatchReport:
    """Propagate every sequence under ``job.root`` on Ray (see the module docstring).

    ``progress(done, total, message)`` after each sequence (message: its name); ``cancel``
    polled between sequences (True: the actors are stopped; frames done stay written, the
    sequences not returned are not in the report).

    Raises:
        NoSequencesError: the root holds no sequence. VideoError: Ray is missing or cannot
        start, or the Ray job failed (an actor could not load the model, or died).
    """
    options = options or RayBatchOptions()
    ray = _import_ray()
    from ray.util import ActorPool

    sequences = sequences_of(job.root)
    job = job.resolved()
    if job.threads is None:  # one torch thread per reserved CPU
        job = job.replace(threads=max(1, int(round(options.cpus_per_actor))))
    report = BatchReport(root=job.root)
    started = init_ray(ray, options.address, options.runtime_env, VideoError)
    actors: list = []
    try:
        remote = ray.remote(SequenceWorker).options(num_cpus=options.cpus_per_actor,
                                                    num_gpus=options.gpus_per_actor)
        actors = [remote.remote(job) for _ in range(min(options.num_actors, len(sequences)))]
        pool = ActorPool(actors)
        outcomes: dict[str, SequenceOutcome] = {}
        if progress is not None:
            progress(0, len(sequences), "starting Ray")
        for data in pool.map_unordered(lambda actor, path: actor.run.remote(path), [os.fspath(s) for s in sequences]):
            outcome = SequenceOutcome.from_json(data)
            outcomes[outcome.sequence] = outcome
            if progress is not None:
                progress(len(outcomes), len(sequences), outcome.name)
            if cancel is not None and len(outcomes) < len(sequences) and cancel():
                report.cancelled = True
                break
        report.outcomes = [outcomes[os.fspath(s)] for s in sequences if os.fspath(s) in outcomes]
        report.cancelled = report.cancelled or any(o.status == CANCELLED for o in report.outcomes)
    except ray.exceptions.RayError as exc:  # an actor could not load the model, or died
        raise VideoError(f"the Ray job failed ({actor_error_line(exc)}); frames already done stay written") from exc
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
    return report
