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
from samlabel.cli_support import TqdmProgress as _TqdmProgress
from samlabel.cli_support import inputs_problem as _inputs_problem
from samlabel.cli_video import VIDEO_MODEL_CHOICES  # noqa: F401 - part of the command's surface
from samlabel.cli_video import expand_video as _expand_video
from samlabel.cli_video import propagate as _propagate

FORMATS = ("coco", "labelme", "yolo", "voc", "masks", "cvat", "sa1b")
EXPORT_FORMATS = (*FORMATS, "mots")  # MOTS PNGs (video sequences): export only
# samlabel.sam.files.official.APP_MODELS (kept literal: the command line starts without importing it)
MODEL_CHOICES = ("vit_t", "vit_b", "vit_l", "vit_h",
                 "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large")


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
        help="image encoder precision on the CPU: bf16 (CPUs with AVX512-BF16/AMX), int8 (on OpenVINO: quantised "
        "once per model on calibration images; in PyTorch: dynamically quantised linears), auto (bf16 where native, "
        "else int8); faster, masks differ slightly, see docs/performance.md (default: fp32)",
    )
    parser.add_argument(
        "--engine", choices=("auto", "torch", "openvino"), default="auto",
        help="what runs the image encoder on the CPU: torch (PyTorch), openvino (samlabel's encoder exported to "
        "OpenVINO once per model and cached; needs pip install 'samlabel[openvino]'), auto (OpenVINO for bf16, and for "
        "int8 on CPUs with VNNI/AMX, where it is installed; else PyTorch; default)",
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
    if args.engine == "openvino":
        if args.device == "cuda":
            print("samlabel: --engine openvino runs on the CPU only; use it with --device cpu", file=sys.stderr)
            return 2
        from samlabel.sam.fast.openvino_engine import openvino_available

        ok, reason = openvino_available()
        if not ok:
            print(f"samlabel: --engine openvino: {reason}", file=sys.stderr)
            return 2
    problem = _gui_paths_problem(args.path, args.checkpoint)
    if problem is not None:
        print(f"samlabel: {problem}", file=sys.stderr)
        return 2
    return run_app(path=args.path, model=args.model, checkpoint=args.checkpoint, device=args.device,
                   quantize=args.quantize, engine=args.engine)


def gui_main() -> None:
    """Entry point of the ``samlabel-gui`` launcher (no console window on Windows)."""
    raise SystemExit(main())
