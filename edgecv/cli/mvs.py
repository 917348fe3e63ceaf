"""``edgecv mvs``: depth maps and a fused point cloud from a multi-view scene."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidInputError
from .args import finite_float, json_arg, max_pixels_arg, model_args, positive_int, scene_args, view_list
from .options import load_model
from .output import emit_json, out_dir, progress_bar, write_image


def register(sub) -> None:
    from ..tasks.mvs import FusionParams

    p = sub.add_parser("mvs", help="depth maps and a fused point cloud from a multi-view scene", description=(
        "Run a multi-view stereo model on every reference view of an MVSNet-format scene folder (images/, "
        "cams/, pair.txt), filter each depth map by confidence and geometric consistency with its source "
        "views, and fuse the kept pixels into one coloured point cloud: DIR/fused.ply (binary), "
        "DIR/depth/%%08d.npy/.pfm/.png and _mask.png. With --refs, source views that filtering needs are "
        "computed too (not fused)."))
    p.add_argument("scene", type=Path, help="scene folder")
    model_args(p, "patchmatchnet_640x416_n5")
    p.add_argument("--out", "-o", required=True, help="output directory")
    p.add_argument("--refs", type=view_list, help="comma-separated reference views (default: all)")
    d = FusionParams()
    p.add_argument("--min-confidence", type=finite_float, default=d.min_confidence,
                   help="photometric confidence (default %(default)s)")
    p.add_argument("--max-reproj-px", type=finite_float, default=d.max_reprojection_px,
                   help="reprojection error in pixels (default %(default)s)")
    p.add_argument("--max-rel-depth", type=finite_float, default=d.max_relative_depth,
                   help="relative depth error (default %(default)s)")
    p.add_argument("--min-views", type=positive_int, default=d.min_views,
                   help="consistent source views needed (default %(default)s)")
    scene_args(p)
    json_arg(p, "a summary")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="where depth maps are computed: here, one view after another (default), or on Ray actors "
                        "in parallel (then filtered and fused here)")
    p.add_argument("--workers", type=positive_int, help="ray: actors (default: CPU cores / --threads)")
    p.add_argument("--address", help="ray: address of an existing cluster (default: start a local Ray)")
    max_pixels_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tasks import VIEWS, get_task
    from ..tasks.mvs import FusionParams, load_scene, reconstruct, write_ply

    # Everything is checked before the first inference.
    params = FusionParams(min_confidence=args.min_confidence, max_reprojection_px=args.max_reproj_px,
                          max_relative_depth=args.max_rel_depth, min_views=args.min_views)
    scene = load_scene(args.scene, depth_format=args.depth_format, scale_intrinsics=args.scale_intrinsics)
    unknown = [r for r in args.refs or [] if r not in scene.cameras]
    if unknown:
        raise InvalidInputError(f"--refs: views {unknown} are not in the scene (views: {scene.views})")
    out = out_dir(args.out)
    if out is None:  # --out is required: argparse never gives an empty one, but say so rather than assume
        raise InvalidInputError("--out must name a folder")
    model = load_model(args, {})
    if get_task(model.task).inputs != VIEWS:
        raise InvalidInputError(f"{args.model} is a {model.task} model, not a multi-view stereo one")

    bar = None

    def progress(done, total, view, seconds):
        nonlocal bar
        if bar is None:
            bar = progress_bar(total, "view", "depth maps")
        bar.set_postfix_str(f"view {view} {seconds:.1f} s")
        bar.update(1)

    try:
        if args.backend == "ray":
            with ray_depth(args, model, scene) as depth:
                result = reconstruct(model, scene, args.refs, params, progress=progress, depth=depth)
        else:
            result = reconstruct(model, scene, args.refs, params, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    (out / "depth").mkdir(parents=True, exist_ok=True)
    views = []
    for view in sorted(result.masks):
        dm = result.depth_maps[view]
        stem = out / "depth" / f"{view:08d}"
        dm.save(stem.with_suffix(".npy"))
        dm.save(stem.with_suffix(".pfm"))
        write_image(stem.with_suffix(".png"), dm.draw())
        kept = result.masks[view]
        write_image(out / "depth" / f"{view:08d}_mask.png", (kept * 255).astype("uint8"))
        views.append({**dm.to_dict(), "kept_pixels": int(kept.sum()), "kept_share": round(float(kept.mean()), 4)})
    write_ply(out / "fused.ply", result.xyz, result.rgb)
    summary = {"scene": str(args.scene), "engine": model.engine.name, "points": int(len(result.xyz)),
               "ply": str(out / "fused.ply"), "views": views, "helper_views": result.helpers}
    if args.json:
        emit_json(summary)
    else:
        for v in views:
            print(f"view {v['view']}: kept {v['kept_share']:.1%} of {v['height']}x{v['width']} pixels")
        if result.helpers:
            print(f"(depth of views {result.helpers} computed to filter against, not fused)")
        print(f"{summary['points']} points -> {summary['ply']}")
    return 0


def ray_depth(args: argparse.Namespace, model, scene):
    """``edgecv mvs --backend ray``: a depth provider running the views on Ray actors."""
    from ..batch import split_cores
    from ..batch.holder import model_spec
    from ..batch.ray_backend import depth_on_ray
    from ..system import cpu_count

    workers, threads = split_cores(args.workers, args.threads, cpu_count(), check=args.address is None)
    spec = model_spec(str(args.model), model.engine.name, threads, ship=True)
    return depth_on_ray(spec, scene, model.num_views, workers, args.address, cpu_count())
