"""``edgecv validate``: converted files against the first ONNX one, raw outputs and task results."""

from __future__ import annotations

import argparse
from pathlib import Path

from .args import finite_float, json_arg, max_pixels_arg, scene_args, thread_count, trust_arg, view_list
from .options import add_gate_flags, given_limits
from .output import emit_json


def register(sub) -> None:
    p = sub.add_parser("validate", help="check that converted files agree (raw outputs and task results)",
                       description=(
        "Run the same inputs through every model file given (files, directories, or .edgecv.json metadata); "
        "compare each against the first ONNX file: per-output max/mean abs diff and task-level agreement "
        "(faces, people, depth maps) with the task's gates. Exits 1 when a gate fails."))
    p.add_argument("models", nargs="+", type=Path, help="model files, directories or .edgecv.json files")
    p.add_argument("--images", "-i", nargs="+", type=Path, help="images to compare on (image tasks)")
    p.add_argument("--scene", type=Path, help="MVS: scene folder to compare on")
    p.add_argument("--refs", type=view_list, help="MVS: reference views, comma-separated (default: the first)")
    p.add_argument("--threads", "-t", type=thread_count, default=2, help="engine threads (default: 2)")
    trust_arg(p)
    scene_args(p)
    json_arg(p, "the report")
    p.add_argument("--profile", choices=["convert", "quantize"],
                   help="gates: convert (every input must agree) or quantize (overall accuracy); default: "
                        "quantize when a file is int8 or precisions differ, else convert")
    p.add_argument("--max-abs-diff", type=finite_float,
                   help="per-output limit, profile convert (default: 1e-3, or 5e-2 when a file is fp16)")
    add_gate_flags(p)
    max_pixels_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..validate import validate

    scene = args.scene
    if scene is not None:
        from ..tasks.mvs import load_scene

        scene = load_scene(scene, depth_format=args.depth_format, scale_intrinsics=args.scale_intrinsics)
    report = validate(args.models, args.images, scene=scene, refs=args.refs, threads=args.threads,
                      profile=args.profile, limits=given_limits(args), max_abs_diff=args.max_abs_diff, trust=args.trust)
    if args.json:
        emit_json(report.to_dict())
    else:
        print(report.table())
    return 0 if report.passed else 1
