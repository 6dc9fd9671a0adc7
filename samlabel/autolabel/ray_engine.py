"""The same job on Ray Data (optional: ``pip install 'samlabel[cluster]'``).

Image paths go in as a dataset; ``map_batches`` runs :class:`LabelActor`, a callable class
that builds the model once per actor and runs :func:`~samlabel.autolabel.work.compute_image`
on each image of its batch. Results are written either by the driver (``write="driver"``:
each actor returns the :class:`~samlabel.autolabel.work.ImageResult` as JSON and the driver
merges and writes it, as the local engine does) or by the actors (``write="workers"``:
each actor commits its images atomically on the shared file system and returns counts).
Either way the merge and the atomic write are :func:`~samlabel.autolabel.job.commit`, so
both engines give identical sidecars, and a killed run resumes the same way.

Every node must see the project folder at the same path (a shared file system).
``address`` joins an existing cluster (``ray.init(address=...)``); without it a local Ray
starts and is shut down at the end. A Ray already initialised in this process is used as is.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samlabel.annotations.errors import AnnotationError
from samlabel.autolabel.errors import AutolabelError
from samlabel.autolabel.job import commit
from samlabel.autolabel.report import AutolabelReport, Progress, report_progress
from samlabel.autolabel.selection import open_project, select_images
from samlabel.autolabel.spec import AutolabelSpec
from samlabel.autolabel.work import ImageResult
from samlabel.ray_support import actor_error_line, init_ray

WRITE_MODES = ("driver", "workers")
_COUNT_NAMES = ("written", "unchanged", "made", "removed", "kept", "empty", "proposals")


@dataclass(frozen=True)
class RayOptions:
    """``address``: a cluster to join (None: start a local Ray); ``num_actors``: model
    replicas; ``cpus_per_actor`` / ``gpus_per_actor``: resources each reserves;
    ``batch_size``: images per ``map_batches`` call; ``write``: ``"driver"`` or
    ``"workers"`` (see the module doc); ``runtime_env``: passed to ``ray.init``."""

    address: str | None = None
    num_actors: int = 1
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    batch_size: int = 1
    write: str = "driver"
    runtime_env: dict | None = None

    def __post_init__(self) -> None:
        if self.num_actors < 1 or self.batch_size < 1:
            raise AutolabelError("--num-actors and --batch-size must be at least 1")
        if self.cpus_per_actor < 0 or self.gpus_per_actor < 0:
            raise AutolabelError("--cpus-per-actor and --gpus-per-actor must be >= 0")
        if self.write not in WRITE_MODES:
            raise AutolabelError(f"unknown write mode {self.write!r} (expected driver or workers)")


class LabelActor:
    """The ``map_batches`` callable class: one model per actor, built in ``__init__``.

    ``__call__(batch)`` takes ``{"path": (B,) str}`` and returns ``{"path", "result",
    "error", "counts"}``, each ``(B,)`` str: the ImageResult JSON (driver writes; else
    ``""``), the problem naming the file (``""`` if none), the commit's counts as JSON
    (workers write; else ``""``).
    """

    def __init__(self, spec: AutolabelSpec, write: str = "driver"):
        from samlabel.annotations.project import Project
        from samlabel.autolabel.model import Runner

        self.spec = spec
        self.write = write
        self.project = Project(spec.root)
        self.runner = Runner.for_spec(spec)

    def __call__(self, batch: dict) -> dict:
        from samlabel.autolabel.work import compute_image

        paths = [str(p) for p in batch["path"]]
        results, errors, counts = [], [], []
        for path in paths:
            image = Path(path)
            result, error, count = "", "", ""
            try:
                loaded = self.project.load_stamped(image)
                computed = compute_image(self.runner, image, loaded.annotation, self.spec)
                if self.write == "workers":
                    sub = AutolabelReport()
                    sub.add_seconds(computed.seconds)
                    commit(self.project, image, computed, self.spec, sub, loaded)
                    count = json.dumps({**{n: getattr(sub, n) for n in _COUNT_NAMES}, "seconds": sub.seconds})
                else:
                    result = computed.to_json()
            except AnnotationError as exc:
                error = str(exc)
            results.append(result)
            errors.append(error)
            counts.append(count)
        return {"path": np.array(paths, dtype=object), "result": np.array(results, dtype=object),
                "error": np.array(errors, dtype=object), "counts": np.array(counts, dtype=object)}


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise AutolabelError("--engine ray needs Ray Data: pip install 'samlabel[cluster]' "
                             f"(or 'ray[data]') ({exc})") from exc
    return ray


def run_ray(spec: AutolabelSpec, options: RayOptions | None = None, progress: Progress | None = None) -> AutolabelReport:
    """Run ``spec`` on Ray Data (see the module doc); returns the same report as the local
    engine. Raises AutolabelError when Ray is missing or the project is not a folder."""
    options = options or RayOptions()
    ray = _import_ray()
    project = open_project(spec)
    images = select_images(project, spec)
    report = AutolabelReport(images=len(images))
    if not images:
        report_progress(progress, 0, 0, "done")
        return report
    if spec.model.threads is None:  # one torch thread per reserved CPU
        spec = spec.replace(model=dataclasses.replace(spec.model, threads=max(1, int(round(options.cpus_per_actor)))))
    started = init_ray(ray, options.address, options.runtime_env, AutolabelError)
    try:
        ds = ray.data.from_items([{"path": os.fspath(p)} for p in images])
        ds = ds.map_batches(
            LabelActor,
            fn_constructor_kwargs={"spec": spec, "write": options.write},
            batch_size=options.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=options.num_actors),
            num_cpus=options.cpus_per_actor,
            num_gpus=options.gpus_per_actor or None,
        )
        done = 0
        report_progress(progress, 0, len(images), "starting Ray")
        for row in ds.iter_rows():
            image = Path(row["path"])
            if row["error"]:
                report.problems.append(str(row["error"]))
            elif options.write == "workers":
                counts = json.loads(row["counts"])
                for name in _COUNT_NAMES:
                    setattr(report, name, getattr(report, name) + int(counts[name]))
                report.add_seconds(counts.get("seconds") or {})
            else:
                result = ImageResult.from_json(row["result"])
                report.add_seconds(result.seconds)
                try:
                    commit(project, image, result, spec, report)
                except AnnotationError as exc:
                    report.problems.append(str(exc))
            done += 1
            report_progress(progress, done, len(images), image.name)
    except ray.exceptions.RayError as exc:  # an actor could not start (no model) or died
        raise AutolabelError(f"the Ray job failed ({actor_error_line(exc)}); images already done stay written") from exc
    finally:
        if started:
            ray.shutdown()
    return report
