"""The ``samlabel`` command: the GUI by default, plus download / export / import / autolabel.

    samlabel [IMAGE_OR_FOLDER] [--model NAME] [--checkpoint FILE_OR_HF_FOLDER] [--device cpu|cuda]
    samlabel download NAME [--dir DIR] [--url URL]
    samlabel export --format {coco,labelme,yolo,voc,masks,cvat,sa1b,mots} PROJECT_DIR OUT_DIR [--labels FILE]
                    [--simplify PX] [--subset NAME] [--split FILE]
    samlabel import --format {coco,labelme,yolo,voc,masks,cvat,sa1b} SRC PROJECT_DIR [--labels FILE]
    samlabel autolabel PROJECT_DIR --from boxes|everything [--model NAME] [--engine local|ray] [--dry-run] ...
    samlabel propagate SEQUENCE_DIR --from-frame K [--to-frame M | --frames N] [--reverse] [--model NAME]
                       [--checkpoint FILE] [--device cpu|cuda] [--overwrite] [--restart]
    samlabel propagate FOLDER_OF_SEQUENCES [--all-sequences] [--from-frame K|labelled] [--engine local|ray]
                       [--num-actors N] [--cpus-per-actor N] [--ray-address ADDRESS] ...
    samlabel expand-video VIDEO_FILE OUT_DIR [--every N] [--max-frames N] [--quality Q]
    samlabel --version | --smoke-test

Heavy modules (torch, Qt) are imported only by the subcommand that needs them, so
``samlabel --version`` and ``samlabel export`` start quickly.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from samlabel import __version__

FORMATS = ("coco", "labelme", "yolo", "voc", "masks", "cvat", "sa1b")
EXPORT_FORMATS = (*FORMATS, "mots")  # MOTS PNGs (video sequences): export only
# samlabel.sam.files.official.APP_MODELS (kept literal: the command line starts without importing it)
MODEL_CHOICES = ("vit_t", "vit_b", "vit_l", "vit_h",
                 "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large")


class _TqdmProgress:
    """A ``progress(done, total, message="")`` callback drawing a tqdm bar on stderr."""

    def __init__(self, desc: str, unit: str = "it", unit_scale: bool = False):
        self._options = dict(desc=desc, unit=unit, unit_scale=unit_scale, file=sys.stderr, leave=True)
        self._bar = None  # drawn on the first report, so an early error prints no empty bar

    def __call__(self, done: int, total: int | None, message: str = "") -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, **self._options)
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        if message:
            self._bar.set_postfix_str(message, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="samlabel",
        description="Label images with masks and polygons; Segment Anything draws. "
        "Subcommands: download, export, import, autolabel, propagate, expand-video (see 'samlabel SUBCOMMAND --help').",
    )
    parser.add_argument("path", nargs="?", help="an image or a folder of images to open (default: the sample image)")
    parser.add_argument("--model", choices=MODEL_CHOICES, help="SAM model (default: vit_t on CPU, vit_b with CUDA)")
    parser.add_argument(
        "--checkpoint",
        help="checkpoint file (or Hugging Face snapshot folder holding model.safetensors or pytorch_model.bin) "
        "to load instead of the downloaded one",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), help="where the model runs (default: cuda if available)")
    parser.add_argument(
        "--precision", "--quantize", dest="quantize", choices=("fp32", "bf16", "int8", "auto"), default="fp32",
        help="image encoder precision on the CPU: bf16 (CPUs with AVX512-BF16/AMX), int8 (dynamically quantised "
        "linears), auto (bf16 where native, else int8); faster, masks differ slightly, see docs/performance.md "
        "(default: fp32)",
    )
    parser.add_argument("--version", action="version", version=f"samlabel {__version__}")
    parser.add_argument("--smoke-test", action="store_true", help="start offscreen, run one prompt on the sample image, exit 0 on success")
    return parser


def _download(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="samlabel download", description="Download an official SAM checkpoint.")
    parser.add_argument("name", choices=(*MODEL_CHOICES, "edgetam"))  # + EdgeTAM, the video tracker
    parser.add_argument("--dir", help="destination folder (default: the user cache, or $SAMLABEL_CHECKPOINT_DIR)")
    parser.add_argument("--url", help="download from this URL instead of the official one")
    args = parser.parse_args(argv)
    from samlabel.sam.files.download import DownloadError, download_checkpoint
    from samlabel.sam.files.official import check_official_file

    try:
        existing = check_official_file(args.name, args.dir, hashes=False)  # the size: free
    except OSError:
        existing = None  # unreadable: download_checkpoint says so
    if existing is not None and not existing.official:
        print(f"samlabel download: {existing.describe()}; a verified download will replace it", file=sys.stderr)
    progress = _TqdmProgress(f"{args.name}", unit="B", unit_scale=True)
    try:
        path = download_checkpoint(args.name, directory=args.dir, url=args.url, progress=progress)
    except DownloadError as exc:
        progress.close()
        print(f"samlabel download: {exc}", file=sys.stderr)
        return 1
    progress.close()
    print(path)
    return 0


def _print_report(command: str, report) -> None:
    """Print what a batch left out (problems) and what it changed on the way (notes)."""
    for note in getattr(report, "notes", ()):
        print(f"samlabel {command}: note: {note}", file=sys.stderr)
    for problem in report.problems:
        print(f"samlabel {command}: skipped {problem}", file=sys.stderr)


def _inputs_problem(*checks: tuple[str | None, str]) -> str | None:
    """The first of ``(path, "file" | "folder" | "file or folder")`` that is not what it must
    be, as ``"PATH: problem"`` (a link loop, a named pipe, ...); None when all are. Nothing is
    opened, so a named pipe cannot block the command."""
    from samlabel.path_kinds import path_problem

    for path, want in checks:
        problem = None if path is None else path_problem(path, want)
        if problem is not None:
            return f"{path}: {problem}"
    return None


def _export(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="samlabel export", description="Export a project folder's annotations.")
    parser.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    parser.add_argument("project_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--labels", help="label file (one name per line, or JSON); defaults to the project's labels")
    parser.add_argument("--simplify", type=float, default=None, metavar="PX", help="polygon simplification tolerance in pixels")
    parser.add_argument(
        "--subset", metavar="NAME", help="subset of the images (coco, voc, cvat, mots; default: coco/cvat/mots 'default', voc 'trainval')"
    )
    parser.add_argument(
        "--split", metavar="FILE", help="split file, one 'SUBSET IMAGE_FILE_NAME' per line (coco, voc, cvat, mots); "
        "images it does not list go to --subset"
    )
    args = parser.parse_args(argv)
    from samlabel.formats.batch import BatchError, export_project

    problem = _inputs_problem((args.project_dir, "folder"), (args.labels, "file"), (args.split, "file"))
    if problem is not None:
        print(f"samlabel export: {problem}", file=sys.stderr)
        return 1
    progress = _TqdmProgress(f"export {args.format}", unit="image")
    try:
        report = export_project(
            args.format, args.project_dir, args.out_dir, labels_file=args.labels, simplify=args.simplify, progress=progress,
            subset=args.subset, split_file=args.split,
        )
    except BatchError as exc:
        progress.close()
        print(f"samlabel export: {exc}", file=sys.stderr)
        return 1
    progress.close()
    _print_report("export", report)
    print(f"exported {report.exported} image(s) to {args.out_dir}" + (f", skipped {len(report.problems)}" if report.problems else ""))
    return 2 if report.problems else 0


def _import(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="samlabel import", description="Import a dataset into a project folder.")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument(
        "src", help="the dataset: its folder (for COCO and CVAT, or one of their JSON / XML files; every subset is read)"
    )
    parser.add_argument("project_dir")
    parser.add_argument("--labels", help="label file for formats that store only class ids")
    args = parser.parse_args(argv)
    from samlabel.formats.batch import BatchError, import_dataset

    problem = _inputs_problem((args.src, "file or folder"), (args.labels, "file"))
    if problem is not None:
        print(f"samlabel import: {problem}", file=sys.stderr)
        return 1
    progress = _TqdmProgress(f"import {args.format}", unit="image")
    try:
        report = import_dataset(args.format, args.src, args.project_dir, labels_file=args.labels, progress=progress)
    except BatchError as exc:
        progress.close()
        print(f"samlabel import: {exc}", file=sys.stderr)
        return 1
    progress.close()
    _print_report("import", report)
    print(
        f"imported {report.exported} image(s) into {args.project_dir}"
        + (f", skipped {len(report.problems)}" if report.problems else "")
    )
    return 2 if report.problems else 0


def _autolabel(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="samlabel autolabel",
        description="Auto-label a project: rectangles -> SAM masks (--from boxes), or the automatic mask "
        "generator's masks as proposals (--from everything). Resumable: run it again to finish the rest.",
    )
    from samlabel.autolabel.command import add_arguments, ray_options_from_args, spec_from_args

    add_arguments(parser)
    args = parser.parse_args(argv)
    problem = _inputs_problem((args.project_dir, "folder"), (args.checkpoint, "file"))
    if problem is not None:
        print(f"samlabel autolabel: {problem}", file=sys.stderr)
        return 1
    from samlabel.autolabel.errors import AutolabelError
    from samlabel.autolabel.job import run

    progress = _TqdmProgress(f"autolabel {args.mode}", unit="image")
    try:
        spec = spec_from_args(args)
        options = ray_options_from_args(args) if args.engine == "ray" else None
        report = run(spec, engine=args.engine, progress=progress, ray_options=options)
    except AutolabelError as exc:
        progress.close()
        print(f"samlabel autolabel: {exc}", file=sys.stderr)
        return 1
    progress.close()
    _print_report("autolabel", report)
    for line in report.plan:
        print(f"would change {line}")
    print(("dry run: " if spec.dry_run else "") + report.summary())
    return 2 if report.problems else 0


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


def _propagate(argv: Sequence[str]) -> int:
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


def _expand_video(argv: Sequence[str]) -> int:
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
    from samlabel.video.expand import expand_video

    progress = _TqdmProgress("expand-video", unit="frame")
    try:
        frames = expand_video(args.video, args.out_dir, quality=args.quality, every=args.every,
                              max_frames=args.max_frames, progress=progress)
    except VideoError as exc:
        progress.close()
        print(f"samlabel expand-video: {exc}", file=sys.stderr)
        return 1
    progress.close()
    print(f"wrote {len(frames)} frame(s) to {args.out_dir}")
    return 0


SUBCOMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "download": _download,
    "export": _export,
    "import": _import,
    "autolabel": _autolabel,
    "propagate": _propagate,
    "expand-video": _expand_video,
}


def _gui_paths_problem(path: str | None, checkpoint: str | None) -> str | None:
    """What is wrong with the app's PATH or --checkpoint (a message naming it), found before
    Qt starts and without opening either: a named pipe would block, and a symbolic link loop
    is not "no such file"."""
    problem = _inputs_problem((path, "file or folder"))
    if problem is None and checkpoint is not None:
        from samlabel.sam.files.checkpoint_path import checkpoint_path_problem

        problem = checkpoint_path_problem(checkpoint)  # a weights file or a Hugging Face snapshot folder
    return problem


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = _gui_parser().parse_args(argv)
    from samlabel.sam.runtime.openmp_env import configure_openmp_env

    configure_openmp_env()  # before torch is imported: libgomp reads it once
    if args.smoke_test:
        from samlabel.gui.smoke import run_smoke_test

        return run_smoke_test(model=args.model, checkpoint=args.checkpoint, device=args.device)
    from samlabel.gui.app import run_app

    if args.quantize in ("int8", "bf16") and args.device == "cuda":
        print(f"samlabel: --precision {args.quantize} runs on the CPU only; use it with --device cpu", file=sys.stderr)
        return 2
    if args.quantize == "bf16":
        from samlabel.sam.fast.precision import native_bf16

        ok, reason = native_bf16()
        if not ok:
            print(f"samlabel: --precision bf16 needs native bf16: {reason}; use --precision int8 or auto",
                  file=sys.stderr)
            return 2
    problem = _gui_paths_problem(args.path, args.checkpoint)
    if problem is not None:
        print(f"samlabel: {problem}", file=sys.stderr)
        return 2
    return run_app(path=args.path, model=args.model, checkpoint=args.checkpoint, device=args.device,
                   quantize=args.quantize)


def gui_main() -> None:
    """Entry point of the ``samlabel-gui`` launcher (no console window on Windows)."""
    raise SystemExit(main())
