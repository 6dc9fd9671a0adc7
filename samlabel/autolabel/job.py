"""The job's engine-independent steps and the local engine.

Per image, in order: read the sidecar (with its stamp), compute (:func:`~samlabel.autolabel.
work.compute_image`), merge into the sidecar as it is then, write it atomically (the
project's own atomic save, refusing when another program changed the sidecar meanwhile, in
which case the merge is done once more on the new file). A kill at any moment leaves every
sidecar either as it was or complete, and running the job again takes exactly the
rectangles still pending. An image that cannot be read (or whose sidecar is broken) is named
in ``report.problems`` and skipped; the others go on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from samlabel.annotations.errors import AnnotationError
from samlabel.annotations.project import LoadedAnnotation, Project
from samlabel.annotations.sidecar_guard import OutsideEditError
from samlabel.autolabel.provenance import has_proposals, pending_boxes
from samlabel.autolabel.report import AutolabelReport, Cancel, Progress, report_progress
from samlabel.autolabel.selection import open_project, select_images
from samlabel.autolabel.spec import AutolabelSpec
from samlabel.autolabel.work import ImageResult, apply_result, compute_image

_MERGE_TRIES = 3


def describe_pending(project: Project, image: Path, spec: AutolabelSpec) -> Optional[str]:
    """One line saying what the job would change in ``image`` (None: nothing).

    Raises:
        AnnotationFileError: the image or its sidecar cannot be read.
    """
    annotation = project.load(image)
    if spec.mode == "boxes":
        n = len(pending_boxes(annotation))
        if not n:
            return None
        what = "kept beside their masks" if spec.keep_boxes else "replaced by masks"
        return f"{image.name}: {n} box(es) {what}"
    if has_proposals(annotation):
        return None
    return f"{image.name}: segment everything, proposals stored"


def plan(spec: AutolabelSpec, progress: Progress | None = None) -> AutolabelReport:
    """A dry run: what the job would change, per image; no model, nothing written."""
    project = open_project(spec)
    images = select_images(project, spec)
    report = AutolabelReport(images=len(images))
    for i, image in enumerate(images):
        report_progress(progress, i, len(images), image.name)
        try:
            line = describe_pending(project, image, spec)
        except AnnotationError as exc:
            report.problems.append(str(exc))
            continue
        if line is None:
            report.unchanged += 1
        else:
            report.plan.append(line)
    report_progress(progress, len(images), len(images), "done")
    return report


def commit(project: Project, image: Path, result: ImageResult, spec: AutolabelSpec, report: AutolabelReport,
           loaded: LoadedAnnotation | None = None) -> None:
    """Merge ``result`` into ``image``'s sidecar as it is now and write it atomically.

    ``loaded``: the sidecar as read before computing (saves reading it again); if another
    program changed the file since, the save is refused and the merge redone on the new file.

    Raises:
        AnnotationError: the sidecar cannot be read or written (it is left as it was).
    """
    t0 = time.perf_counter()
    for attempt in range(_MERGE_TRIES):
        if loaded is None or attempt:
            loaded = project.load_stamped(image)
        merged, counts = apply_result(loaded.annotation, result, spec)
        if not counts.changed:
            report.unchanged += 1
            return
        try:
            project.save(merged, image, guard=loaded.guard())
        except OutsideEditError:
            if attempt == _MERGE_TRIES - 1:
                raise
            continue  # changed meanwhile (the app saved it): merge into the new file
        report.written += 1
        report.add_counts(counts)
        report.add_seconds({"write": time.perf_counter() - t0})
        return


def process_image(runner: Any, project: Project, image: Path, spec: AutolabelSpec, report: AutolabelReport) -> None:
    """Compute and commit one image; an unreadable image or sidecar goes to ``report.problems``."""
    try:
        loaded = project.load_stamped(image)
        result = compute_image(runner, image, loaded.annotation, spec)
        report.add_seconds(result.seconds)
        commit(project, image, result, spec, report, loaded)
    except AnnotationError as exc:
        report.problems.append(str(exc))


def run_local(
    spec: AutolabelSpec,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    runner: Any = None,
) -> AutolabelReport:
    """Run the job in this process (one model, images one after the other).

    ``runner``: a ready :class:`~samlabel.autolabel.model.Runner` (else built from
    ``spec.model``). ``cancel()`` is polled between images; ``progress`` may raise to stop
    (the GUI's cancel): either way every image already done stays written.

    Raises:
        AutolabelError: no such project, no model (nothing written).
    """
    if spec.dry_run:
        return plan(spec, progress)
    project = open_project(spec)
    images = select_images(project, spec)
    report = AutolabelReport(images=len(images))
    if images and runner is None:
        from samlabel.autolabel.model import Runner

        runner = Runner.for_spec(spec)
    for i, image in enumerate(images):
        if cancel is not None and cancel():
            report.cancelled = True
            break
        report_progress(progress, i, len(images), image.name)
        process_image(runner, project, image, spec, report)
    else:
        report_progress(progress, len(images), len(images), "done")
    return report


def run(spec: AutolabelSpec, engine: str = "local", progress: Progress | None = None, cancel: Cancel | None = None,
        ray_options: Any = None) -> AutolabelReport:
    """Run the job on ``engine`` (``"local"`` or ``"ray"``)."""
    if engine == "local" or spec.dry_run:
        return run_local(spec, progress, cancel)
    if engine == "ray":
        from samlabel.autolabel.ray_engine import RayOptions, run_ray

        return run_ray(spec, ray_options or RayOptions(), progress)
    from samlabel.autolabel.errors import AutolabelError

    raise AutolabelError(f"unknown engine {engine!r} (expected local or ray)")
