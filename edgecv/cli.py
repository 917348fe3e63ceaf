"""Command line: ``edgecv detect | convert | validate | mvs | info | fetch``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

from .errors import EdgecvError, InvalidInputError


def _size(text: str):
    """``640`` or ``HxW``."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return tuple(values)
    raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}")


def _cmd_detect(args: argparse.Namespace) -> int:
    import cv2

    from .image import read_image
    from .loading import load

    options = {k: v for k, v in (("input_size", args.input_size), ("score_threshold", args.score_threshold),
                                 ("iou_threshold", args.iou_threshold), ("max_faces", args.max_faces),
                                 ("input_height", args.input_height))
               if v is not None}
    model = load(args.model, engine=args.engine, threads=args.threads, fp16=args.fp16, **options)
    if args.head_pose and model.task != "scrfd":
        raise InvalidInputError("--head-pose needs a face model (SCRFD with landmarks)")
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    report = []
    for path in args.images:
        image = read_image(path)
        result = model.detect(image, head_pose=True) if args.head_pose else model.detect(image)
        entry = {"image": str(path), "width": image.shape[1], "height": image.shape[0], **result.to_dict()}
        if out_dir:
            target = out_dir / (Path(path).stem + ".jpg")
            cv2.imwrite(str(target), result.draw(image))
            entry["annotated"] = str(target)
        report.append(entry)
        if not args.json:
            noun = {"scrfd": ("face", "faces"), "openpose": ("person", "people")}[model.task][len(result) != 1]
            print(f"{path}: {len(result)} {noun}" + (f" -> {entry['annotated']}" if out_dir else ""))
    if args.json:
        json.dump({"model": str(args.model), "engine": model.engine.name, "results": report},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


def _cmd_mvs(args: argparse.Namespace) -> int:
    import cv2

    from .depth_io import write_ply
    from .loading import load
    from .mvs import FusionParams, load_scene, reconstruct

    scene = load_scene(args.scene)
    model = load(args.model, engine=args.engine, threads=args.threads)
    if model.task != "mvs":
        raise InvalidInputError(f"{args.model} is a {model.task} model, not a multi-view stereo one")
    refs = [int(v) for v in args.refs.split(",")] if args.refs else None
    params = FusionParams(min_confidence=args.min_confidence, max_reprojection_px=args.max_reproj_px,
                          max_relative_depth=args.max_rel_depth, min_views=args.min_views)

    def progress(done, total, view, seconds):
        bar = "#" * round(20 * done / total)
        sys.stderr.write(f"\r[{bar:20s}] {done}/{total} view {view} ({seconds:.1f} s)")
        sys.stderr.write("\n" if done == total else "")
        sys.stderr.flush()

    result = reconstruct(model, scene, refs, params, progress=progress)
    out = Path(args.out)
    (out / "depth").mkdir(parents=True, exist_ok=True)
    views = []
    for view, dm in sorted(result.depth_maps.items()):
        stem = out / "depth" / f"{view:08d}"
        dm.save(stem.with_suffix(".npy"))
        dm.save(stem.with_suffix(".pfm"))
        cv2.imwrite(str(stem.with_suffix(".png")), dm.draw())
        kept = result.masks[view]
        cv2.imwrite(str(out / "depth" / f"{view:08d}_mask.png"), (kept * 255).astype("uint8"))
        views.append({**dm.to_dict(), "kept_pixels": int(kept.sum()), "kept_share": round(float(kept.mean()), 4)})
    write_ply(out / "fused.ply", result.xyz, result.rgb)
    summary = {"scene": str(args.scene), "engine": model.engine.name, "points": int(len(result.xyz)),
               "ply": str(out / "fused.ply"), "views": views}
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for v in views:
            print(f"view {v['view']}: kept {v['kept_share']:.1%} of {v['height']}x{v['width']} pixels")
        print(f"{summary['points']} points -> {summary['ply']}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from . import __version__, hub
    from .engines import engine_versions

    info = {
        "edgecv": __version__,
        "engines": engine_versions(),
        "mirror": [str(p) for p in hub.mirror_dirs()],
        "cache": str(hub.cache_dir()),
        "models": hub.available_models(),
    }
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"edgecv {__version__}")
    print("engines:")
    for name, version in info["engines"].items():
        print(f"  {name:12s} {version or 'not installed (pip install edgecv[' + name + '])'}")
    print(f"mirror ({hub.ENV_MIRROR}): {', '.join(info['mirror']) or '(not set)'}")
    print(f"cache ({hub.ENV_CACHE}): {info['cache']}")
    print("models (engines with all files available locally marked *):")
    for name, engines in info["models"].items():
        marks = " ".join(f"{e}{'*' if ok else ''}" for e, ok in engines.items())
        print(f"  {name:28s} {marks}")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from . import hub

    for name in args.models:
        for path in hub.fetch(name, engines=args.engine, mirror=args.mirror):
            print(path)
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert, parse_renames

    targets = [t.strip() for t in args.to.split(",") if t.strip()]
    result = convert(args.model, args.task, out_dir=args.out, to=targets, input_size=args.input_size,
                     fp16=args.fp16, rename=parse_renames(args.rename or []), name=args.name)
    renamed = result.metadata.get("renamed") or {}
    if renamed:
        print("renamed outputs: " + ", ".join(f"{k} -> {v}" for k, v in renamed.items()))
    for engine, paths in result.files.items():
        print(f"{engine:12s} " + " ".join(str(p) for p in paths))
    print(f"metadata     {result.metadata_file}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .validate import Tolerances, validate

    tol = Tolerances(max_abs_diff=args.max_abs_diff, min_iou=args.min_iou,
                     max_landmark_px=args.max_landmark_px, max_keypoint_px=args.max_keypoint_px)
    report = validate(args.models, args.images, threads=args.threads, tolerances=tol)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(report.table())
    return 0 if report.passed else 1


def build_parser() -> argparse.ArgumentParser:
    from .engines import ENGINE_NAMES

    parser = argparse.ArgumentParser(prog="edgecv", description="Computer-vision models on edge devices.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("detect", help="run a model on images", description=(
        "Run a model (faces: SCRFD; people: OpenPose) on images: prints a summary per image (or JSON "
        "with --json) and writes annotated copies (boxes and landmarks, or skeletons) to --out."))
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--model", "-m", default="scrfd_2.5g_bnkps_640",
                   help="model name (see `edgecv info`) or .onnx/.param/.mnn path (default: %(default)s)")
    p.add_argument("--engine", "-e", choices=ENGINE_NAMES,
                   help="inference engine (default: onnxruntime for names, the file's engine for paths)")
    p.add_argument("--threads", "-t", type=int, help="engine threads (default: CPU cores, at most 4)")
    p.add_argument("--out", "-o", help="directory for annotated images")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    p.add_argument("--input-size", type=_size, help="network input N or HxW for dynamic-size models")
    p.add_argument("--score-threshold", type=float, help="minimum score (SCRFD default 0.5)")
    p.add_argument("--iou-threshold", type=float, help="NMS IoU threshold (SCRFD default 0.4)")
    p.add_argument("--max-faces", type=int, help="maximum faces per image (default 1000)")
    p.add_argument("--fp16", action="store_true", help="half precision on ncnn/MNN (default fp32)")
    p.add_argument("--input-height", type=int, help="OpenPose: network input height (default 256)")
    p.add_argument("--head-pose", action="store_true",
                   help="faces: add yaw/pitch/roll from the 5 landmarks (camera: focal length = image width)")
    p.set_defaults(func=_cmd_detect)

    p = sub.add_parser("convert", help="rename outputs by role; convert ONNX to ncnn and MNN", description=(
        "Rename an ONNX model's outputs by role, optionally fix its input size, and convert it to ncnn "
        "(pnnx) and MNN, writing <name>.onnx/.param/.bin/.mnn and <name>.edgecv.json to --out."))
    p.add_argument("model", type=Path, help="source .onnx file")
    p.add_argument("--task", choices=["scrfd", "openpose"],
                   help="infer output roles for this task (omit to only apply --rename)")
    p.add_argument("--input-size", type=_size, help="fix a dynamic input to N or HxW (SCRFD: multiple of 32)")
    p.add_argument("--to", default="onnx,ncnn,mnn", help="comma-separated targets (default: %(default)s)")
    p.add_argument("--out", "-o", type=Path, default=Path("."), help="output directory (default: .)")
    p.add_argument("--name", help="output file stem (default: source stem, plus _HxW with --input-size)")
    p.add_argument("--fp16", action="store_true", help="store ncnn/MNN weights in half precision")
    p.add_argument("--rename", action="append", metavar="OLD=NEW", help="rename an output (repeatable)")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("validate", help="check that converted files agree (raw outputs and task results)",
                       description=(
        "Run the same images through every model file given (files, directories, or .edgecv.json metadata); "
        "compare each against the first ONNX file: per-output max/mean abs diff and task-level agreement. "
        "Exits 1 when a tolerance is exceeded."))
    p.add_argument("models", nargs="+", type=Path, help="model files, directories or .edgecv.json files")
    p.add_argument("--images", "-i", nargs="+", type=Path, required=True, help="images to compare on")
    p.add_argument("--threads", "-t", type=int, default=2, help="engine threads (default: 2)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--max-abs-diff", type=float,
                   help="per-output limit (default: 1e-3, or 5e-2 when a file is fp16)")
    p.add_argument("--min-iou", type=float, default=0.98, help="faces: minimum IoU of matched faces (default 0.98)")
    p.add_argument("--max-landmark-px", type=float, default=1.0,
                   help="faces: maximum landmark difference in pixels (default 1.0)")
    p.add_argument("--max-keypoint-px", type=float, default=2.0,
                   help="pose: maximum keypoint difference in pixels (default 2.0)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("mvs", help="depth maps and a fused point cloud from a multi-view scene", description=(
        "Run a multi-view stereo model on every reference view of an MVSNet-format scene folder (images/, "
        "cams/, pair.txt), filter each depth map by confidence and geometric consistency with its source "
        "views, and fuse the kept pixels into one coloured point cloud: DIR/fused.ply (binary), "
        "DIR/depth/%%08d.npy/.pfm/.png and _mask.png."))
    p.add_argument("scene", type=Path, help="scene folder")
    p.add_argument("--model", "-m", default="patchmatchnet_640x416_n5", help="model name or path (default: %(default)s)")
    p.add_argument("--engine", "-e", choices=ENGINE_NAMES, help="inference engine (default: onnxruntime for names)")
    p.add_argument("--threads", "-t", type=int, help="engine threads (default: CPU cores, at most 4)")
    p.add_argument("--out", "-o", required=True, help="output directory")
    p.add_argument("--refs", help="comma-separated reference views (default: all)")
    p.add_argument("--min-confidence", type=float, default=0.5, help="photometric confidence (default 0.5)")
    p.add_argument("--max-reproj-px", type=float, default=1.0, help="reprojection error in pixels (default 1.0)")
    p.add_argument("--max-rel-depth", type=float, default=0.01, help="relative depth error (default 0.01)")
    p.add_argument("--min-views", type=int, default=2, help="consistent source views needed (default 2)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=_cmd_mvs)

    p = sub.add_parser("info", help="installed engines and locally available models")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("fetch", help="copy or download model files into the cache (sha256-checked)")
    p.add_argument("models", nargs="+", help="model names")
    p.add_argument("--engine", "-e", action="append", choices=ENGINE_NAMES,
                   help="only this engine's files (repeatable; default: all)")
    p.add_argument("--mirror", type=Path, help="copy from this mirror directory instead of downloading")
    p.set_defaults(func=_cmd_fetch)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except EdgecvError as exc:
        print(f"edgecv: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
