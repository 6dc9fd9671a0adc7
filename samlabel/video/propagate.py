"""Label one frame, let SAM 2.1 carry every object through the rest of the sequence.

A *sequence* is a project folder of frames (every image of the folder in natural order:
``frame_2.jpg`` before ``frame_10.jpg``), each frame with its own labelme sidecar. The
objects of the source frame K (:func:`~samlabel.video.objects.frame_objects`: shapes grouped
by label and group id) are given to the video predictor as masks (``add_new_mask``) and
tracked forwards, or backwards with ``reverse``, to ``to_frame`` / over ``max_frames`` frames
/ to the end. Each frame computed is traced to polygons (as the app traces an accepted SAM
mask: :func:`~samlabel.annotations.mask_tracing.remove_specks`, then ``mask_to_polygons``)
carrying the object's label and group id and a propagation mark, merged into the frame's
sidecar as it is then and written atomically at once (the project's guarded save: if the
app saved the file meanwhile, the merge is redone on the new file). Frames a person owns
(reviewed, or edited: see :mod:`samlabel.video.objects`) are kept as they are unless
``overwrite``. An object the model loses on a frame (object score below 0, or a mask that
traces to nothing) gets no shape there and the frame is listed for it under ``lost`` in the
sequence's report, ``.samlabel-propagation.json`` in the folder (written atomically after
each frame).

**Resuming.** A job is identified by its *run id*: a hash of the source frame's name and
objects (labels, group ids, masks), the direction, the frame range, the model label and the tracing tolerance;
every frame written carries it (the sidecar's top-level ``samlabel_propagation`` record).
The tracker needs its memory, so a rerun after a kill starts again at frame K with the same
prompts and tracks through every frame again (same frames, same prompts, same model: the
same masks), but writes only the frames the killed run had not written; it stops tracking
after the last frame still to write, and loads no model when none is left. A frame is
therefore written exactly once, and the result is that of an uninterrupted run. A rerun of
a finished job with the same inputs changes nothing; ``restart=True`` redoes every free
frame. Editing frame K (or choosing another range or model) makes a new job.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from samlabel.annotations.errors import AnnotationError
from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.project import Project, image_size
from samlabel.annotations.shapes import Shape
from samlabel.annotations.sidecar_guard import OutsideEditError
from samlabel.video.errors import VideoError
from samlabel.video.report import REPORT_NAME, SequenceReport  # noqa: F401 - REPORT_NAME: imported from here too
from samlabel.video.objects import (
    FRAME_KEY,
    VideoObject,
    frame_objects,
    frame_record,
    is_propagated,
    mark,
    marked_shape,
    objects_digest,
    person_owned,
    written_by,
)

DEFAULT_MODEL = "sam2.1_hiera_tiny"
"""The default video model with CUDA (:func:`default_model` gives the default for a device; the
app's own propagation still names this one)."""
CPU_DEFAULT_MODEL = "edgetam"
"""The video model on a CPU: EdgeTAM (RepViT encoder, compressed memories) tracks about four
times faster there than SAM 2.1 tiny (~1.25 s against ~5 s a 640x480 frame on 2 cores)."""
Progress = Callable[..., None]
"""``progress(done, total, message)`` after each frame; it may raise to stop the job."""
Cancel = Callable[[], bool]
_MERGE_TRIES = 3


@dataclass
class PropagationReport:
    """What a propagation did.

    ``frames``: frames of the range (the source frame not counted); ``written``: sidecars
    written; ``already``: frames an earlier, interrupted run of the same job had written;
    ``kept``: ``{frame name: "reviewed" | "edited"}`` frames left as a person left them;
    ``held``: frames the caller held when their turn came (``hold``: the app's frame on screen
    with unsaved edits), left as they were; a rerun of the same job writes them if still free;
    ``lost``: ``{object key: [frame names]}`` where the model lost the object (this run);
    ``objects``: the source frame's object keys; ``report_path``: the sequence's report.
    """

    source: str = ""
    frames: int = 0
    written: int = 0
    already: int = 0
    kept: dict = field(default_factory=dict)
    held: list = field(default_factory=list)
    lost: dict = field(default_factory=dict)
    objects: list = field(default_factory=list)
    run: str = ""
    cancelled: bool = False
    report_path: Optional[Path] = None

    def summary(self) -> str:
        parts = [f"{len(self.objects)} object(s) from {self.source}", f"{self.frames} frame(s)",
                 f"{self.written} sidecar(s) written"]
        if self.already:
            parts.append(f"{self.already} already done")
        if self.kept:
            parts.append(f"{len(self.kept)} kept (edited or reviewed by a person)")
        if self.held:
            parts.append(f"{len(self.held)} held while being edited ({', '.join(self.held[:3])}"
                         f"{', …' if len(self.held) > 3 else ''})")
        lost = sum(len(v) for v in self.lost.values())
        if lost:
            parts.append(f"{lost} lost object-frame(s)")
        if self.cancelled:
            parts.append("cancelled")
        return ", ".join(parts)


# --- the sequence ------------------------------------------------------------------------------
def open_sequence(path: Union[str, os.PathLike]) -> Project:
    """The sequence folder as a :class:`Project` (VideoError: not a folder, no frames)."""
    root = Path(path)
    if not root.is_dir():
        raise VideoError(f"{root}: not a sequence folder (no such folder)")
    try:
        project = Project(root)
    except AnnotationError as exc:
        raise VideoError(str(exc)) from exc
    if not project.images:
        raise VideoError(f"{root}: no frames (no image files in the folder)")
    return project


def frame_index(project: Project, frame: Union[int, str, os.PathLike]) -> int:
    """The index of ``frame``: an index (negative counts from the end) or a frame file name."""
    n = len(project.images)
    if isinstance(frame, (int, np.integer)):
        index = int(frame) + (n if frame < 0 else 0)
        if not 0 <= index < n:
            raise VideoError(f"{project.root}: no frame {frame} (the sequence has {n} frame(s), 0 to {n - 1})")
        return index
    name = Path(frame).name
    for i, image in enumerate(project.images):
        if image.name == name:
            return i
    raise VideoError(f"{project.root / name}: not a frame of the sequence")


def frame_range(project: Project, start: int, to_frame: Optional[int], max_frames: Optional[int], reverse: bool) -> int:
    """The last frame index of the range (inclusive)."""
    n = len(project.images)
    if to_frame is not None:
        end = frame_index(project, to_frame)
        if reverse and end > start:
            raise VideoError(f"frame {end} is after the source frame {start}: a reverse run goes to an earlier frame")
        if not reverse and end < start:
            raise VideoError(f"frame {end} is before the source frame {start}: use reverse to go backwards")
    else:
        end = 0 if reverse else n - 1
    if max_frames is not None:
        if max_frames < 0:
            raise VideoError(f"the number of frames must be 0 or more, got {max_frames}")
        end = max(end, start - max_frames) if reverse else min(end, start + max_frames)
    return end


# --- the model ----------------------------------------------------------------------------------
def default_model(device: Optional[str] = None) -> str:
    """The default video model for ``device`` (default: ``cuda`` if available, else ``cpu``):
    :data:`DEFAULT_MODEL` on CUDA, :data:`CPU_DEFAULT_MODEL` on anything else."""
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return DEFAULT_MODEL if str(device).startswith("cuda") else CPU_DEFAULT_MODEL


def resolve_model(model: Optional[str] = None, checkpoint: Optional[str] = None, device: Optional[str] = None) -> str:
    """The model :func:`load_predictor` builds: ``model``; else the model a ``checkpoint`` file's
    name tells (``edgetam...``, ``sam2.1_hiera_tiny.pt``...); else :func:`default_model` of ``device``."""
    if model:
        return model
    if checkpoint is not None:
        from samlabel.sam.files.official import is_sam2_name, model_name_for_file

        name = Path(checkpoint).name.lower()
        if "edgetam" in name:
            return CPU_DEFAULT_MODEL
        try:
            told = model_name_for_file(checkpoint)
        except OSError:
            told = None
        if is_sam2_name(told):
            return told
    return default_model(device)


def load_predictor(model: Optional[str] = None, checkpoint: Optional[str] = None, device: Optional[str] = None) -> Any:
    """The video predictor of ``model`` (``"edgetam"`` or a SAM 2 / 2.1 name; default
    :func:`resolve_model`: EdgeTAM on CPU, SAM 2.1 tiny on CUDA) with ``checkpoint`` (default:
    the downloaded official file). VideoError naming the file when it cannot load, or the
    download command when there is none."""
    import torch

    from samlabel.sam.errors import SamError

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    name = resolve_model(model, checkpoint, device)
    if checkpoint is None:
        from samlabel.sam.files.download import find_checkpoint

        found = find_checkpoint(name)
        if found is None:
            other = ""
            if model is None and name == CPU_DEFAULT_MODEL:
                other = f" (EdgeTAM is the default on {device}; --model {DEFAULT_MODEL} chooses SAM 2.1 instead)"
            raise VideoError(f"no {name} checkpoint: run 'samlabel download {name}' or pass --checkpoint FILE{other}")
        checkpoint = str(found)
    try:
        if name == CPU_DEFAULT_MODEL:
            from samlabel.sam.video.edgetam_video_predictor import build_edgetam_video_predictor

            return build_edgetam_video_predictor(checkpoint, device=device)
        from samlabel.sam.video.sam2_video_predictor import build_sam_video_predictor

        return build_sam_video_predictor(name, checkpoint=checkpoint, device=device)
    except (SamError, OSError, KeyError, ValueError, RuntimeError) as exc:
        raise VideoError(f"{checkpoint}: cannot load {name} from it ({exc})") from exc


def init_state(predictor: Any, frame_paths: list[Path]) -> dict:
    """``predictor.init_state`` for a list of frame files (any names, any format PIL reads;
    the predictor's own ``init_state`` takes only a folder of integer-named JPEGs). The
    state is the predictor's: the same keys its ``init_state`` sets."""
    from collections import OrderedDict

    from samlabel.sam.video.frames import VideoFrames

    device = predictor.device
    images = VideoFrames([str(p) for p in frame_paths], predictor.image_size, device=device)
    state: dict = {
        "images": images, "num_frames": len(images), "offload_video_to_cpu": False, "offload_state_to_cpu": False,
        "video_height": images.video_height, "video_width": images.video_width, "device": device,
        "storage_device": device, "point_inputs_per_obj": {}, "mask_inputs_per_obj": {}, "cached_features": {},
        "constants": {}, "obj_id_to_idx": OrderedDict(), "obj_idx_to_id": OrderedDict(), "obj_ids": [],
        "output_dict_per_obj": {}, "temp_output_dict_per_obj": {}, "frames_tracked_per_obj": {},
    }
    return state


# --- the merge ----------------------------------------------------------------------------------
def merge_frame(annotation: ImageAnnotation, made: dict[str, Shape], objects: list[VideoObject], record: dict,
                overwrite: bool) -> Optional[ImageAnnotation]:
    """``annotation`` with this run's shapes (``made``: object key -> marked shape) in place
    of the propagated shapes of the same objects; None when a person owns the frame and
    not ``overwrite``. Shapes of other objects are kept. With ``overwrite`` the objects'
    edited shapes go too, and so do unmarked shapes with the label and group id of a
    grouped object (unmarked shapes without group id are kept)."""
    if person_owned(annotation) and not overwrite:
        return None
    keys = {o.key for o in objects}
    grouped = {(o.label, o.group_id) for o in objects if o.group_id is not None}

    def replaced(shape: Shape) -> bool:
        m = mark(shape)
        if m is not None and str(m.get("object")) in keys:
            return overwrite or is_propagated(shape)
        return overwrite and m is None and (shape.label, shape.group_id) in grouped

    shapes = [s for s in annotation.shapes if not replaced(s)]
    shapes.extend(made[o.key] for o in objects if o.key in made)
    extra = dict(annotation.extra)
    extra[FRAME_KEY] = record
    return annotation.with_shapes(shapes).replace(extra=extra)


def trace_object(mask: np.ndarray, obj: VideoObject, tolerance: float) -> Optional[Shape]:
    """The polygon shape of a predicted mask (specks removed, as the app does when it accepts
    a SAM mask), or None when nothing is left (the object is lost on that frame)."""
    from samlabel.annotations.geometry import mask_to_polygons
    from samlabel.annotations.mask_tracing import CLEANED_MIN_AREA, remove_specks

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    clean = remove_specks(mask)
    polygons = mask_to_polygons(clean, tolerance=tolerance, min_area=CLEANED_MIN_AREA)
    if not polygons:
        return None
    return Shape.from_polygons(obj.label, polygons, group_id=obj.group_id)


def run_id(source: str, objects: list[VideoObject], reverse: bool, first: str, last: str, model_label: str,
           tolerance: float = 1.0) -> str:
    """The job's identity: what a resumed run must share with the interrupted one."""
    text = json.dumps([source, objects_digest(objects), reverse, first, last, model_label, float(tolerance)])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _load(project: Project, image: Path):
    try:
        return project.load_stamped(image)
    except AnnotationError as exc:
        raise VideoError(str(exc)) from exc


# --- the job ------------------------------------------------------------------------------------
def propagate(
    sequence: Union[str, os.PathLike],
    from_frame: Union[int, str] = 0,
    to_frame: Union[int, str, None] = None,
    reverse: bool = False,
    max_frames: Optional[int] = None,
    predictor: Any = None,
    model: Optional[str] = None,
    checkpoint: Optional[str] = None,
    device: Optional[str] = None,
    model_label: Optional[str] = None,
    overwrite: bool = False,
    restart: bool = False,
    tolerance: float = 1.0,
    progress: Optional[Progress] = None,
    cancel: Optional[Cancel] = None,
    predictor_factory: Optional[Callable[[], Any]] = None,
    hold: Optional[Callable[[str], bool]] = None,
) -> PropagationReport:
    """Carry the objects of frame ``from_frame`` (an index or a frame file name) through the
    sequence folder ``sequence`` (see the module docstring).

    Args:
        to_frame: the last frame (inclusive; default: the last, or the first with ``reverse``).
        max_frames: at most this many frames after (before) the source frame.
        predictor: a ready SAM 2 video predictor (else :func:`load_predictor` of ``model``,
            ``checkpoint``, ``device``, built only when some frame is left to write).
        model_label: the model's name in the marks and the run id (default: the model
            :func:`load_predictor` builds, :func:`resolve_model`; with a ``predictor``:
            ``model`` or :data:`DEFAULT_MODEL`).
        overwrite: write frames a person owns too (see :func:`merge_frame`).
        restart: ignore what an earlier run of the same job wrote (redo every free frame).
        tolerance: polygon simplification in pixels (the app's default 1).
        progress: ``progress(done, total, message)`` after each frame; may raise to stop.
        cancel: polled between frames; True stops the job (every frame done stays written).
        predictor_factory: called without arguments instead of :func:`load_predictor` when no
            ``predictor`` is given and some frame is left to write (a batch of sequences
            loads its model once, and only if needed).
        hold: ``hold(frame name)`` asked (on the calling thread) when a frame's turn comes and
            again just before it is written; True leaves the frame as it is (``report.held``):
            the app holds the frame a person has open with unsaved edits.

    Raises:
        VideoError: no such folder, no frames, a bad frame index, the source frame or a
            sidecar of the range cannot be read, the source frame has no objects, frames of
            different sizes, no model. Nothing was written then.
    """
    project = open_sequence(sequence)
    k = frame_index(project, from_frame)
    end = frame_range(project, k, to_frame, max_frames, reverse)
    images = project.images
    source = images[k]
    annotation = _load(project, source).annotation
    try:
        objects = frame_objects(annotation)
    except AnnotationError as exc:  # a mask shape of another size than the frame
        raise VideoError(f"{project.sidecar_path(source)}: {exc}") from exc
    if not objects:
        raise VideoError(f"{project.sidecar_path(source)}: frame {k} ({source.name}) has no shapes to propagate "
                         "(label the objects with polygons, rectangles or masks first)")
    if model_label:
        label = model_label
    elif predictor is None:  # the model load_predictor will build: runs of different models never mix
        label = resolve_model(model, checkpoint, device)
    else:
        label = model or DEFAULT_MODEL
    order = list(range(k, end - 1, -1)) if reverse else list(range(k, end + 1))
    window = sorted(order)  # the predictor's frames: the range only, in video order
    size = annotation.size
    for i in window:
        try:
            other = image_size(images[i])
        except AnnotationError as exc:
            raise VideoError(str(exc)) from exc
        if other != size:
            raise VideoError(f"{images[i]}: the frame is {other[1]}x{other[0]}, "
                             f"the source frame {source.name} {size[1]}x{size[0]} (all frames must have one size)")
    run = run_id(source.name, objects, reverse, images[order[0]].name, images[order[-1]].name, label, tolerance)
    targets = order[1:]
    report = PropagationReport(source=source.name, frames=len(targets), run=run, objects=[o.key for o in objects])
    seq_report = SequenceReport(project.root)
    report.report_path = seq_report.path
    seq_report.set_run(run, {"source": source.name, "reverse": reverse, "to": images[order[-1]].name,
                             "model": label, "objects": [o.to_json() for o in objects]})
    # What is left: frames this run has not written yet (checked again when writing).
    pending = []
    for i in targets:
        loaded = _load(project, images[i])
        if not restart and written_by(loaded.annotation, run):
            report.already += 1
            seq_report.set_frame(images[i].name, dict(frame_record(loaded.annotation)))
            for key in frame_record(loaded.annotation).get("lost") or []:
                report.lost.setdefault(str(key), []).append(images[i].name)
        else:
            pending.append(i)
    if not pending:
        seq_report.save()
        _progress(progress, len(targets), len(targets), "done")
        return report
    if predictor is None:
        predictor = predictor_factory() if predictor_factory is not None else load_predictor(model, checkpoint, device)
    _progress(progress, 0, len(targets), source.name)
    state = init_state(predictor, [images[i] for i in window])
    offset = window[0]
    for obj_id, obj in enumerate(objects, start=1):
        predictor.add_new_mask(state, frame_idx=k - offset, obj_id=obj_id, mask=obj.mask)
    last = pending[-1]
    todo = set(pending)
    done = 0
    # one pass: samlabel's predictor keeps only the memory it attends to (a fixed memory
    # however long the clip); another predictor (Meta's, a test's) keeps what it keeps
    release = {"release_memory": True} if _takes(predictor.propagate_in_video, "release_memory") else {}
    frames = predictor.propagate_in_video(state, start_frame_idx=k - offset, max_frame_num_to_track=len(order) - 1,
                                          reverse=reverse, **release)
    try:
        for frame_idx, obj_ids, logits in frames:
            i = frame_idx + offset
            if i == k:
                continue
            if cancel is not None and cancel():
                report.cancelled = True
                break
            if i in todo and hold is not None and hold(images[i].name):
                report.held.append(images[i].name)
            elif i in todo:
                masks = (logits[:, 0] > 0.0).cpu().numpy()
                _write_frame(project, images[i], masks, obj_ids, objects, run, source.name, label, overwrite,
                             tolerance, report, seq_report, hold)
            done += 1
            _progress(progress, done, len(targets), images[i].name)
            if i == last:
                break
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # stop the tracker's generator (and its inference mode) now
    seq_report.save()
    if not report.cancelled:
        _progress(progress, len(targets), len(targets), "done")
    return report


def _takes(function: Callable, name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _write_frame(project: Project, image: Path, masks: np.ndarray, obj_ids, objects: list[VideoObject], run: str,
                 source: str, label: str, overwrite: bool, tolerance: float, report: PropagationReport,
                 seq_report: SequenceReport, hold: Optional[Callable[[str], bool]] = None) -> None:
    """Trace the frame's masks, merge them into its sidecar as it is now, write it atomically,
    then the sequence report. ``hold`` is asked again just before the write (an edit may have
    begun while the masks were traced)."""
    by_id = {obj_id: obj for obj_id, obj in enumerate(objects, start=1)}
    made: dict[str, Shape] = {}
    lost: list[str] = []
    for row, obj_id in enumerate(obj_ids):
        obj = by_id[obj_id]
        shape = trace_object(masks[row], obj, tolerance)
        if shape is None:
            lost.append(obj.key)
        else:
            made[obj.key] = marked_shape(shape, run, source, obj.key, label)
    record = {"run": run, "source": source, "model": label, "objects": sorted(made), "lost": lost}
    for attempt in range(_MERGE_TRIES):
        loaded = _load(project, image)
        merged = merge_frame(loaded.annotation, made, objects, record, overwrite)
        if merged is None:
            report.kept[image.name] = person_owned(loaded.annotation)
            return
        if hold is not None and hold(image.name):
            report.held.append(image.name)
            return
        try:
            project.save(merged, image, guard=loaded.guard())
        except OutsideEditError:
            if attempt == _MERGE_TRIES - 1:
                raise
            continue  # the app saved it meanwhile: merge into the new file
        except AnnotationError as exc:
            raise VideoError(str(exc)) from exc
        break
    report.written += 1
    for key in lost:
        report.lost.setdefault(key, []).append(image.name)
    seq_report.set_frame(image.name, record)
    seq_report.save()


def _progress(progress: Optional[Progress], done: int, total: int, message: str = "") -> None:
    if progress is not None:
        progress(done, total, message)
