"""Propagate many sequences: every sequence folder under a root, one after the other.

**Sequences.** :func:`find_sequences`: the root itself when it holds frames, then each
sub-folder (one level down, natural order, hidden ``.name`` folders left out: a half
expanded video is one) that holds frames, as :func:`~samlabel.video.propagate.open_sequence`
accepts them.

**The source frame** of each sequence (:attr:`BatchJob.from_frame`): an index (negative
counts from the end) or a frame file name, the same for every sequence; or, the default,
:data:`LABELLED`: the first frame (with ``reverse``: the last) whose sidecar has a shape a
person made (a polygon, rectangle or mask without a propagation mark), so that frames an
earlier run wrote never become sources and a rerun finds the same frame.

**Outcomes.** Each sequence ends ``done`` (the propagation ran, maybe writing nothing on a
rerun), ``skipped`` (nothing to propagate: no labelled frame, no frame K, no objects on
frame K; nothing written), ``failed`` (a one-line error naming the sequence: an unreadable
sidecar or frame, frames of different sizes...; one failing sequence does not stop the
others) or ``cancelled``. A model that cannot be loaded stops the whole batch
(:class:`ModelLoadError`): no sequence could be done.

Each sequence is :func:`~samlabel.video.propagate.propagate` itself: the same atomic
per-frame writes, the same report in its folder, the same resuming. The local engine
(:func:`run_sequences_local`) loads one model, once, when the first sequence needs it;
the Ray engine is :mod:`samlabel.video.ray_batch`. Both run a sequence with
:func:`run_sequence`, so they write identical sidecars (with the same torch thread count).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from samlabel.annotations.errors import AnnotationError
from samlabel.annotations.project import Project, list_images, natural_key
from samlabel.video.errors import VideoError
from samlabel.video.objects import frame_objects, mark
from samlabel.video.propagate import Cancel, Progress, frame_index, load_predictor, open_sequence, propagate, resolve_model

LABELLED = "labelled"
"""The default source frame rule: the first labelled frame (the last with ``reverse``)."""
DONE, SKIPPED, FAILED, CANCELLED = "done", "skipped", "failed", "cancelled"
FrameProgress = Callable[[str, int, int, str], None]
"""``frame_progress(sequence name, done, total, message)`` after each frame of a sequence."""


class NoSequencesError(VideoError):
    """The root holds no sequence (neither frames nor a sub-folder of frames)."""


class ModelLoadError(VideoError):
    """The video model cannot be built: the whole batch stops (the message says why)."""


class _SkipSequence(Exception):
    """Nothing to propagate in this sequence (its reason is the message)."""


@dataclass(frozen=True)
class BatchJob:
    """A propagation over every sequence under ``root`` (plain values: it travels to Ray actors).

    Attributes:
        root: the folder of sequences (or one sequence).
        from_frame: the source frame of every sequence: an index, a frame file name, or
            :data:`LABELLED` (default; see the module docstring).
        to_frame / max_frames / reverse: the range, as :func:`~samlabel.video.propagate.propagate`.
        model / checkpoint / device: the video model (``load_predictor``'s).
        factory: ``"module:function"`` called as ``function(checkpoint=..., device=...)``
            returning a video predictor, instead of ``load_predictor`` (custom models, tests).
        threads: torch CPU threads per model (None: the local engine leaves torch's setting, a
            Ray actor uses its CPUs). Engines give identical sidecars with the same count.
        model_label: the model's name in marks and run ids (default :meth:`label`).
        overwrite / restart / tolerance: as :func:`~samlabel.video.propagate.propagate`.
    """

    root: str
    from_frame: Union[int, str] = LABELLED
    to_frame: Union[int, str, None] = None
    max_frames: Optional[int] = None
    reverse: bool = False
    model: Optional[str] = None
    checkpoint: Optional[str] = None
    device: Optional[str] = None
    factory: Optional[str] = None
    threads: Optional[int] = None
    model_label: Optional[str] = None
    overwrite: bool = False
    restart: bool = False
    tolerance: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", os.fspath(self.root))
        if self.max_frames is not None and self.max_frames < 0:
            raise VideoError(f"the number of frames must be 0 or more, got {self.max_frames}")
        if self.threads is not None and self.threads < 1:
            raise VideoError(f"the thread count must be at least 1, got {self.threads}")
        if self.tolerance < 0:
            raise VideoError(f"the tolerance must be >= 0 pixels, got {self.tolerance}")

    def label(self) -> str:
        """The model's name in the marks: ``model_label``, else the factory, else the model
        ``load_predictor`` builds (:func:`~samlabel.video.propagate.resolve_model`)."""
        return self.model_label or self.factory or resolve_model(self.model, self.checkpoint, self.device)

    def resolved(self) -> "BatchJob":
        """The job with its model label fixed (every worker then marks frames alike)."""
        return self.replace(model_label=self.label())

    def replace(self, **changes: Any) -> "BatchJob":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class SequenceOutcome:
    """What the batch did with one sequence (JSON-able: Ray actors send it back).

    ``status``: ``done`` / ``skipped`` / ``failed`` / ``cancelled``; ``reason``: why it was
    skipped or failed (one line); ``detail``: the propagation's summary; the counts are
    :class:`~samlabel.video.propagate.PropagationReport`'s (``kept``: frames, ``lost``:
    object-frames)."""

    sequence: str
    status: str
    reason: str = ""
    source: str = ""
    frames: int = 0
    written: int = 0
    already: int = 0
    kept: int = 0
    lost: int = 0
    run: str = ""
    detail: str = ""

    @property
    def name(self) -> str:
        return Path(self.sequence).name

    def line(self) -> str:
        """``"NAME: done: ..."`` / ``"NAME: skipped: REASON"`` / ``"NAME: failed: REASON"``."""
        return f"{self.name}: {self.status}: {self.reason or self.detail}"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SequenceOutcome":
        return cls(**data)


@dataclass
class BatchReport:
    """The outcomes of a batch, in the order of the sequences; ``cancelled`` when stopped."""

    root: str = ""
    outcomes: list = field(default_factory=list)
    cancelled: bool = False

    def with_status(self, status: str) -> list:
        return [o for o in self.outcomes if o.status == status]

    @property
    def done(self) -> list:
        return self.with_status(DONE)

    @property
    def skipped(self) -> list:
        return self.with_status(SKIPPED)

    @property
    def failed(self) -> list:
        return self.with_status(FAILED)

    @property
    def written(self) -> int:
        return sum(o.written for o in self.outcomes)

    def summary(self) -> str:
        parts = [f"{len(self.outcomes)} sequence(s)", f"{len(self.done)} done"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        parts.append(f"{self.written} sidecar(s) written")
        if self.cancelled:
            parts.append("cancelled")
        return ", ".join(parts)


# --- the sequences ------------------------------------------------------------------------------
def _holds_frames(folder: Path) -> bool:
    try:
        return bool(list_images(folder))
    except OSError:  # unreadable: not taken as a sequence
        return False


def find_sequences(root: Union[str, os.PathLike]) -> list[Path]:
    """The sequences under ``root``: itself if it holds frames, then its sub-folders that do
    (hidden ones left out), in natural order. VideoError: ``root`` is not a folder."""
    root = Path(root)
    if not root.is_dir():
        raise VideoError(f"{root}: not a folder")
    found = [root] if _holds_frames(root) else []
    subs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=natural_key)
    return found + [p for p in subs if _holds_frames(p)]


def sequences_of(root: Union[str, os.PathLike]) -> list[Path]:
    """:func:`find_sequences`, with :class:`NoSequencesError` naming ``root`` when there is none."""
    found = find_sequences(root)
    if not found:
        raise NoSequencesError(f"{root}: no sequence (neither the folder nor a sub-folder holds frames)")
    return found


def labelled_frame(project: Project, reverse: bool = False) -> Optional[int]:
    """The first frame (``reverse``: the last) with a shape a person made (no propagation
    mark, not a point), or None. AnnotationError: a sidecar cannot be read."""
    order = range(len(project.images) - 1, -1, -1) if reverse else range(len(project.images))
    for i in order:
        image = project.images[i]
        if not project.has_annotations(image):
            continue
        if any(mark(s) is None and s.kind != "point" for s in project.load(image).shapes):
            return i
    return None


def source_frame(project: Project, job: BatchJob) -> int:
    """The index of the sequence's source frame (``_SkipSequence`` when there is nothing to
    propagate: no labelled frame, no such frame, no objects on it)."""
    if job.from_frame == LABELLED:
        k = labelled_frame(project, job.reverse)
        if k is None:
            raise _SkipSequence("no labelled frame (no frame has a shape a person made)")
    else:
        try:
            k = frame_index(project, job.from_frame)
        except VideoError as exc:
            raise _SkipSequence(str(exc)) from exc
    image = project.images[k]
    if not frame_objects(project.load(image)):
        raise _SkipSequence(f"no objects on frame {k} ({image.name})")
    return k


# --- the model ----------------------------------------------------------------------------------
def build_predictor(job: BatchJob) -> Any:
    """The job's video predictor: its factory's, else ``load_predictor``'s. Whatever the build
    raises becomes a :class:`ModelLoadError` naming the factory (or the model) and the cause,
    on one line: no sequence could run, so the engines stop the batch."""
    try:
        if job.factory:
            module_name, _, attr = job.factory.partition(":")
            if not module_name or not attr:
                raise VideoError(f"--model-factory {job.factory!r}: expected 'module:function'")
            try:
                function = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise VideoError(f"--model-factory {job.factory!r}: cannot import it ({exc})") from exc
            return function(checkpoint=job.checkpoint, device=job.device)
        return load_predictor(job.model, job.checkpoint, job.device)
    except ModelLoadError:
        raise
    except VideoError as exc:  # its message names the factory, or the checkpoint / model
        message = _one_line(exc)
        if job.factory and job.factory not in message:
            message = f"--model-factory {job.factory!r}: {message}"
        raise ModelLoadError(message) from exc
    except Exception as exc:  # noqa: BLE001 - whatever a factory or a checkpoint raises: no sequence can run
        raise ModelLoadError(f"{_model_name(job)}: cannot build the video predictor "
                             f"({type(exc).__name__}: {_one_line(exc)})") from exc


def _model_name(job: BatchJob) -> str:
    """The model in a :class:`ModelLoadError`'s message: the factory, else the model (and checkpoint)."""
    if job.factory:
        return f"--model-factory {job.factory!r}"
    try:
        name = resolve_model(job.model, job.checkpoint, job.device)
    except Exception:  # noqa: BLE001 - only a name for the message
        name = job.model or "the video model"
    return f"{name} (checkpoint {job.checkpoint})" if job.checkpoint else name


class PredictorLoader:
    """Builds the job's predictor on the first call and returns that one ever after (or
    ``predictor``, when one is given). A failed build raises :class:`ModelLoadError` (each
    time it is called; the engines stop at the first)."""

    def __init__(self, job: BatchJob, predictor: Any = None):
        self.job = job
        self.predictor = predictor
        self.loads = 0

    def __call__(self) -> Any:
        if self.predictor is None:
            self.loads += 1
            self.predictor = build_predictor(self.job)
        return self.predictor


class _CallbackError(Exception):
    """A progress or cancel callback raised (the caller's stop): not the sequence's failure."""


def _guarded(callback: Optional[Callable]) -> Optional[Callable]:
    if callback is None:
        return None

    def call(*args):
        try:
            return callback(*args)
        except Exception as exc:
            raise _CallbackError() from exc

    return call


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- one sequence, and the local engine ------------------------------------------------------------
def run_sequence(sequence: Union[str, os.PathLike], job: BatchJob, loader: Callable[[], Any],
                 progress: Optional[Progress] = None, cancel: Optional[Cancel] = None) -> SequenceOutcome:
    """Propagate one sequence of the batch (the unit of work of every engine).

    ``loader()`` gives the predictor (called only when a frame is left to write). Problems
    of the sequence become a ``failed`` outcome naming it; :class:`ModelLoadError` and
    exceptions of ``progress`` / ``cancel`` (the caller's stop) are raised.
    """
    sequence = Path(sequence)
    path = os.fspath(sequence)
    try:
        project = open_sequence(sequence)
        k = source_frame(project, job)
        report = propagate(
            project.root, from_frame=k, to_frame=job.to_frame, reverse=job.reverse, max_frames=job.max_frames,
            model=job.model, checkpoint=job.checkpoint, device=job.device, model_label=job.label(),
            overwrite=job.overwrite, restart=job.restart, tolerance=job.tolerance,
            progress=_guarded(progress), cancel=_guarded(cancel), predictor_factory=loader,
        )
    except _SkipSequence as exc:
        return SequenceOutcome(path, SKIPPED, reason=str(exc))
    except _CallbackError as exc:
        raise exc.__cause__ from None
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - one failing sequence must not stop the others
        reason = _one_line(exc)
        if not isinstance(exc, AnnotationError):
            reason = f"{type(exc).__name__}: {reason}"
        if path not in reason:
            reason = f"{path}: {reason}"
        return SequenceOutcome(path, FAILED, reason=reason)
    return SequenceOutcome(
        path, CANCELLED if report.cancelled else DONE, source=report.source, frames=report.frames,
        written=report.written, already=report.already, kept=len(report.kept),
        lost=sum(len(v) for v in report.lost.values()), run=report.run, detail=report.summary(),
    )


def run_sequences_local(
    job: BatchJob,
    progress: Optional[Progress] = None,
    cancel: Optional[Cancel] = None,
    frame_progress: Optional[FrameProgress] = None,
    predictor: Any = None,
) -> BatchReport:
    """Propagate every sequence under ``job.root`` in this process, one after the other.

    Args:
        progress: ``progress(done, total, message)`` over the sequences (message: the
            sequence's name, then ``"done"``); may raise to stop.
        cancel: polled between sequences and between frames; True stops (every frame done
            stays written; the sequence then is ``cancelled``).
        frame_progress: ``frame_progress(sequence name, done, total, message)`` per frame.
        predictor: a ready video predictor (else built from the job, once, when the first
            sequence has a frame left to write).

    Raises:
        NoSequencesError: the root holds no sequence. ModelLoadError: the model cannot load.
    """
    sequences = sequences_of(job.root)
    job = job.resolved()
    loader = PredictorLoader(job, predictor)
    report = BatchReport(root=job.root)
    before = _set_threads(job.threads)
    try:
        for i, sequence in enumerate(sequences):
            if cancel is not None and cancel():
                report.cancelled = True
                break
            if progress is not None:
                progress(i, len(sequences), sequence.name)
            per_frame = None
            if frame_progress is not None:
                def per_frame(done, total, message="", _name=sequence.name):
                    frame_progress(_name, done, total, message)
            outcome = run_sequence(sequence, job, loader, per_frame, cancel)
            report.outcomes.append(outcome)
            if outcome.status == CANCELLED:
                report.cancelled = True
                break
        else:
            if progress is not None:
                progress(len(sequences), len(sequences), "done")
    finally:
        _set_threads(before)
    return report


def _set_threads(threads: Optional[int]) -> Optional[int]:
    """Set torch's CPU threads (None: leave them); returns the count before (None if unset)."""
    if threads is None:
        return None
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    return before
