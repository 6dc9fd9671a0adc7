"""The ``samlabel autolabel`` command's options and how they become a job.

``samlabel.cli`` owns the subcommand (parser, handler, exit codes); this module adds the
options (:func:`add_arguments`) and turns them into an :class:`AutolabelSpec` and
:class:`RayOptions` (:func:`spec_from_args`, :func:`ray_options_from_args`), so that the
GUI and the tests build the same job the command does.
"""

from __future__ import annotations

import argparse

from samlabel.autolabel.spec import MODES, SELECTIONS, AutolabelSpec, EverythingParams, ModelSpec

# samlabel.sam.files.official.APP_MODELS (kept literal: the command line starts without importing it)
MODEL_CHOICES = ("vit_t", "vit_b", "vit_l", "vit_h",
                 "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project_dir", help="the project folder (images with labelme JSON sidecars)")
    parser.add_argument("--from", dest="mode", required=True, choices=MODES,
                        help="boxes: every rectangle becomes a SAM mask traced to polygons; "
                             "everything: the automatic mask generator's masks are stored as proposals")
    parser.add_argument("--keep-boxes", action="store_true", help="boxes: keep each rectangle beside its mask")
    parser.add_argument("--dry-run", action="store_true", help="say what would change; load no model, write nothing")
    which = parser.add_argument_group("images")
    which.add_argument("--images", choices=SELECTIONS, default="all",
                       help="all, or unlabelled only (no polygon, mask or point yet; default: all)")
    which.add_argument("--glob", metavar="PATTERN", help="only images whose file name matches (e.g. 'cam1_*.jpg')")
    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=MODEL_CHOICES, help="SAM model (default: vit_t on CPU, vit_b with CUDA)")
    model.add_argument("--checkpoint", help="checkpoint file (default: the downloaded official one)")
    model.add_argument("--device", choices=("cpu", "cuda"), help="where the model runs (default: cuda if available)")
    model.add_argument("--threads", type=int, metavar="N",
                       help="torch CPU threads per model (default: all cores; on Ray, --cpus-per-actor); "
                            "runs with the same count give identical shapes")
    model.add_argument("--precision", choices=("fp32", "bf16", "int8", "auto"), default="fp32",
                       help="image encoder precision on the CPU, as the app's --precision: bf16 (native bf16 CPUs), "
                            "int8, auto (bf16 where native, else int8); faster, shapes differ slightly (default: fp32)")
    model.add_argument("--encoder-engine", choices=("auto", "torch", "openvino"), default="auto",
                       help="what runs the image encoder, as the app's --engine: auto (OpenVINO for bf16 and int8 "
                            "where installed), torch, openvino (pip install 'samlabel[openvino]')")
    model.add_argument("--model-factory", metavar="MODULE:FUNCTION",
                       help="build the model with FUNCTION(checkpoint=, device=) instead (custom models)")
    shapes = parser.add_argument_group("shapes")
    shapes.add_argument("--tolerance", type=float, default=1.0, metavar="PX",
                        help="polygon simplification tolerance (0: exact pixel edges; default 1)")
    shapes.add_argument("--min-area", type=float, default=4.0, metavar="PX",
                        help="parts and holes smaller than this are dropped (default 4)")
    shapes.add_argument("--box-batch", type=int, default=64, metavar="N", help="boxes per decoder batch (default 64)")
    amg = parser.add_argument_group("everything (the automatic mask generator's parameters)")
    defaults = EverythingParams()
    for name, kind in (("points_per_side", int), ("points_per_batch", int), ("pred_iou_thresh", float),
                       ("stability_score_thresh", float), ("box_nms_thresh", float), ("crop_n_layers", int),
                       ("min_mask_region_area", int)):
        amg.add_argument("--" + name.replace("_", "-"), type=kind, default=getattr(defaults, name),
                         help=f"default {getattr(defaults, name)}")
    ray = parser.add_argument_group("engine")
    ray.add_argument("--engine", choices=("local", "ray"), default="local",
                     help="local: this process; ray: Ray Data (pip install 'samlabel[cluster]')")
    ray.add_argument("--ray-address", metavar="ADDRESS", help="join this Ray cluster (default: start a local Ray)")
    ray.add_argument("--num-actors", type=int, default=1, metavar="N", help="model replicas (default 1)")
    ray.add_argument("--cpus-per-actor", type=float, default=1.0, metavar="N", help="default 1")
    ray.add_argument("--gpus-per-actor", type=float, default=0.0, metavar="N", help="default 0")
    ray.add_argument("--batch-size", type=int, default=1, metavar="N", help="images per map_batches call (default 1)")
    ray.add_argument("--write", choices=("driver", "workers"), default="driver",
                     help="who writes the sidecars: the driver, or each worker on the shared file system")


def spec_from_args(args: argparse.Namespace) -> AutolabelSpec:
    """The job of parsed arguments (AutolabelError for a bad value)."""
    everything = EverythingParams(
        points_per_side=args.points_per_side, points_per_batch=args.points_per_batch,
        pred_iou_thresh=args.pred_iou_thresh, stability_score_thresh=args.stability_score_thresh,
        box_nms_thresh=args.box_nms_thresh, crop_n_layers=args.crop_n_layers,
        min_mask_region_area=args.min_mask_region_area,
    )
    return AutolabelSpec(
        project_dir=args.project_dir, mode=args.mode,
        model=ModelSpec(name=args.model, checkpoint=args.checkpoint, device=args.device, factory=args.model_factory,
                        threads=args.threads, precision=args.precision, encoder_engine=args.encoder_engine),
        select=args.images, glob=args.glob, keep_boxes=args.keep_boxes, tolerance=args.tolerance,
        min_area=args.min_area, box_batch=args.box_batch, everything=everything, dry_run=args.dry_run,
    )


def ray_options_from_args(args: argparse.Namespace):
    from samlabel.autolabel.ray_engine import RayOptions

    return RayOptions(address=args.ray_address, num_actors=args.num_actors, cpus_per_actor=args.cpus_per_actor,
                      gpus_per_actor=args.gpus_per_actor, batch_size=args.batch_size, write=args.write)
