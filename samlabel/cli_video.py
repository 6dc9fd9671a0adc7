"""The ``samlabel propagate`` and ``samlabel expand-video`` subcommands (``samlabel.cli``
dispatches to them): options, progress on stderr, exit codes; the work is
:mod:`samlabel.video`'s, imported when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from samlabel.cli_support import TqdmProgress as _TqdmProgress
from samlabel.cli_support import inputs_problem as _inputs_problem

# EdgeTAM and samlabel.sam.files.official's SAM 2.1 releases (kept literal, as MODEL_CHOICES)
VIDEO_MODEL_CHOICES = ("edgetam", "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus",
                       "sam2.1_hiera_large")


def _frame_arg(text: str) -> int | str:
    """``--from-frame`` / ``--to-frame``: a frame index (0 is the first) or a frame file name
    (``--from-frame labelled``: the first labelled frame)."""
    try:
        return int(text)
    except ValueError:
        return text


def propagate(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="samlabel propagate",
        description="Label one frame of a sequence (a folder of frames, each with its own sidecar), let SAM 2.1 "
        "carry every object (shapes grouped by label and group id) through the rest. Frames a person edited or "
        "marked reviewed are kept (unless --overwrite); objects the model loses are listed in the folder's "
        ".samlabel-propagation.json. Resumable: run it again after an interruption to finish the rest. "
        "A folder of sequence folders (--all-sequences, or found when the folder holds no frames) propagates "
        "each sequence, one per worker with --engine ray; exit code 2 when a sequence failed or none was found.",
    )
    parser.add_argument("sequence_dir", help="the sequence folder (frames in natural order, e.g. from expand-video), "
                                             "or a folder of sequence folders")
    parser.add_argument("--from-frame", type=_frame_arg, metavar="K",
                        help="the labelled frame: its index (0 is the first frame), its file name, or 'labelled' "
                             "(the first frame with shapes a person made; the last with --reverse); required for "
                             "one sequence, default 'labelled' for a folder of sequences")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--to-frame", type=_frame_arg, metavar="M",
                       help="the last frame to label, included (default: the last frame, or the first with --reverse)")
    which.add_argument("--frames", type=int, metavar="N", help="label the N frames after (with --reverse: before) K")
    parser.add_argument("--reverse", action="store_true", help="go backwards, towards the first frame")
    parser.add_argument("--model", choices=VIDEO_MODEL_CHOICES,
                        help="video model (default: edgetam on CPU, sam2.1_hiera_tiny on CUDA; "
                             "'samlabel download MODEL' fetches it)")
    parser.add_argument("--checkpoint", metavar="FILE", help="checkpoint file (default: the downloaded official one)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="where the model runs (default: cuda if available)")
    parser.add_argument("--overwrite", action="store_true",
                        help="also write frames a person edited or marked reviewed (their shapes of the tracked objects "
                             "are replaced)")
    parser.add_argument("--restart", action="store_true",
                        help="redo every free frame, also those this same job (same frame K, objects, range and model) "
                             "wrote already; without it a rerun writes only what is left")
    parser.add_argument("--tolerance", type=float, default=1.0, metavar="PX",
                        help="polygon simplification tolerance (default 1)")
    many = parser.add_argument_group("many sequences")
    many.add_argument("--all-sequences", action="store_true",
                      help="SEQUENCE_DIR is a folder of sequences: propagate each sub-folder holding frames (and the "
                           "folder itself if it holds frames); found automatically when SEQUENCE_DIR holds no frames")
    many.add_argument("--engine", choices=("local", "ray"), default="local",
                      help="local: one sequence after another in this process; ray: one sequence per Ray actor "
                           "(pip install 'samlabel[cluster]')")
    many.add_argument("--ray-address", metavar="ADDRESS", help="join this Ray cluster (default: start a local Ray)")
    many.add_argument("--num-actors", type=int, default=1, metavar="N", help="model replicas on Ray (default 1)")
    many.add_argument("--cpus-per-actor", type=float, default=1.0, metavar="N", help="default 1")
    many.add_argument("--gpus-per-actor", type=float, default=0.0, metavar="N", help="default 0")
    many.add_argument("--threads", type=int, metavar="N",
                      help="torch CPU threads per model (default: all cores; on Ray, --cpus-per-actor); "
                           "runs with the same count give identical shapes")
    many.add_argument("--model-factory", metavar="MODULE:FUNCTION",
                      help="build the video predictor with FUNCTION(checkpoint=, device=) instead (custom models)")
    args = parser.parse_args(argv)
    problem = _inputs_problem((args.sequence_dir, "folder"), (args.checkpoint, "file"))
    if problem is not None:
        print(f"samlabel propagate: {problem}", file=sys.stderr)
        return 1
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.all_sequences or args.engine == "ray" or _holds_sequences_only(args.sequence_dir):
        return _propagate_all(args)
    if args.from_frame is None:
        parser.error("--from-frame is required for one sequence")
    from samlabel.annotations.errors import AnnotationError
    from samlabel.video.propagate import propagate

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    progress = _TqdmProgress("propagate", unit="frame")
    try:
        from_frame = _labelled_frame(args.sequence_dir, args.reverse) if args.from_frame == "labelled" else args.from_frame
        report = propagate(
            args.sequence_dir, from_frame=from_frame, to_frame=args.to_frame, max_frames=args.frames,
            reverse=args.reverse, model=args.model, checkpoint=args.checkpoint, device=args.device,
            overwrite=args.overwrite, restart=args.restart, tolerance=args.tolerance, progress=progress,
            model_label=args.model_factory, predictor_factory=_factory_loader(args),
        )
    except AnnotationError as exc:  # VideoError, or a sidecar the app changed three times meanwhile
        progress.close()
        print(f"samlabel propagate: {exc}", file=sys.stderr)
        return 1
    progress.close()
    for name, why in report.kept.items():
        print(f"samlabel propagate: note: kept {name} ({why} by a person; --overwrite to replace)", file=sys.stderr)
    for key, frames in report.lost.items():
        print(f"samlabel propagate: note: {key} lost on {len(frames)} frame(s): {', '.join(frames)}", file=sys.stderr)
    print(report.summary())
    return 0


def _holds_sequences_only(folder: str) -> bool:
    """True when ``folder`` holds no frames itself but sub-folders of frames (a folder of sequences)."""
    from samlabel.annotations.project import list_images
    from samlabel.video.batch import find_sequences
    from samlabel.video.errors import VideoError

    try:
        return not list_images(folder) and bool(find_sequences(folder))
    except (OSError, VideoError):  # unreadable: the single-sequence path says what is wrong
        return False


def _labelled_frame(folder: str, reverse: bool) -> int:
    """``--from-frame labelled`` for one sequence: its first (``reverse``: last) labelled frame."""
    from samlabel.video.batch import labelled_frame
    from samlabel.video.errors import VideoError
    from samlabel.video.propagate import open_sequence

    k = labelled_frame(open_sequence(folder), reverse)
    if k is None:
        raise VideoError(f"{folder}: no labelled frame (no frame has a shape a person made)")
    return k


def _factory_loader(args: argparse.Namespace):
    """``--model-factory``: the loader ``propagate`` calls instead of ``load_predictor`` (None without it)."""
    if not args.model_factory:
        return None
    from samlabel.video.batch import BatchJob, PredictorLoader

    return PredictorLoader(BatchJob(args.sequence_dir, factory=args.model_factory, checkpoint=args.checkpoint,
                                    device=args.device))


def _propagate_all(args: argparse.Namespace) -> int:
    """``samlabel propagate`` over a folder of sequences (local or Ray engine)."""
    from samlabel.annotations.errors import AnnotationError
    from samlabel.video.batch import BatchJob, LABELLED, NoSequencesError, run_sequences_local

    progress = _TqdmProgress(f"propagate ({args.engine})", unit="sequence")
    try:
        job = BatchJob(
            args.sequence_dir, from_frame=LABELLED if args.from_frame is None else args.from_frame,
            to_frame=args.to_frame, max_frames=args.frames, reverse=args.reverse, model=args.model,
            checkpoint=args.checkpoint, device=args.device, factory=args.model_factory, threads=args.threads,
            overwrite=args.overwrite, restart=args.restart, tolerance=args.tolerance,
        )
        if args.engine == "ray":
            from samlabel.video.ray_batch import RayBatchOptions, run_sequences_ray

            options = RayBatchOptions(address=args.ray_address, num_actors=args.num_actors,
                                      cpus_per_actor=args.cpus_per_actor, gpus_per_actor=args.gpus_per_actor)
            report = run_sequences_ray(job, options, progress=progress)
        else:
            report = run_sequences_local(job, progress=progress)
    except NoSequencesError as exc:
        progress.close()
        print(f"samlabel propagate: {exc}", file=sys.stderr)
        return 2
    except AnnotationError as exc:  # VideoError: no model, Ray cannot start, a bad option
        progress.close()
        print(f"samlabel propagate: {exc}", file=sys.stderr)
        return 1
    progress.close()
    for outcome in report.outcomes:
        if outcome.status == "failed":
            print(f"samlabel propagate: {outcome.line()}", file=sys.stderr)
        else:
            print(outcome.line())
    print(report.summary())
    return 2 if report.failed else 0


def expand_video(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="samlabel expand-video",
        description="Expand a video file (mp4, mov, avi, mkv, webm) into a new folder of JPEG frames "
        "(frame_000000.jpg ...), a sequence for 'samlabel propagate'. The folder appears only once complete.",
    )
    parser.add_argument("video", help="the video file")
    parser.add_argument("out_dir", help="the new sequence folder (must not exist, or be empty)")
    parser.add_argument("--every", type=int, default=1, metavar="N", help="keep one frame in N (default 1: all)")
    parser.add_argument("--max-frames", type=int, metavar="N", help="at most N frames")
    parser.add_argument("--quality", type=int, default=95, metavar="Q", help="JPEG quality (default 95)")
    args = parser.parse_args(argv)
    problem = _inputs_problem((args.video, "file"))
    if problem is not None:
        print(f"samlabel expand-video: {problem}", file=sys.stderr)
        return 1
    from samlabel.video.errors import VideoError
    from samlabel.video.expand import expand_video as expand

    progress = _TqdmProgress("expand-video", unit="frame")
    try:
        frames = expand(args.video, args.out_dir, quality=args.quality, every=args.every,
                              max_frames=args.max_frames, progress=progress)
    except VideoError as exc:
        progress.close()
        print(f"samlabel expand-video: {exc}", file=sys.stderr)
        return 1
    progress.close()
    print(f"wrote {len(frames)} frame(s) to {args.out_dir}")
    return 0
