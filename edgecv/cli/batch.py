"""``edgecv batch``: one model over folders, archives, videos or scenes into a resumable Parquet folder."""

from __future__ import annotations

import argparse

from .args import finite_float, json_arg, max_pixels_arg, model_args, positive_int, scene_args, thread_count
from .options import add_option_flags, given_options
from .output import emit_json, progress_bar


def register(sub) -> None:
    from ..batch.inputs import ArchiveLimits
    from ..batch.shards import SHARD_ROWS

    p = sub.add_parser("batch", help="run a model over folders, archives, videos or scenes into a resumable "
                       "Parquet folder", description=(
        "Run one model over many inputs (folders walked recursively, globs, .txt lists of paths, tar and zip "
        "archives read in place, videos frame by frame; for multi-view stereo models, scene folders) and write "
        "one row per item into a Parquet folder (--out): path, member, frame, ok, error, count, result (JSON), "
        "task, model, engine, elapsed_ms. Shards are written atomically as work completes; re-running with the "
        "same --out skips finished items, so a killed run resumes without losing or duplicating rows. Broken "
        "inputs become error rows. Prints a summary line (items, errors, items/s)."))
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="folders, globs, .txt lists, images, archives, videos")
    model_args(p, "yunet_n_640", threads=False)
    p.add_argument("--out", "-o", required=True, help="output folder (Parquet shards); re-run to resume")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local worker processes (default) or a Ray actor pool")
    p.add_argument("--workers", "-w", type=positive_int, help="worker processes / actors (default: CPU cores / "
                   "threads)")
    p.add_argument("--threads-per-worker", "-t", type=thread_count,
                   help="engine threads per worker (default: CPU cores / workers); workers x threads must not "
                        "exceed the cores here")
    p.add_argument("--address", help="ray: address of an existing cluster, e.g. ray://head:10001 or auto "
                   "(default: start a local Ray for the run)")
    p.add_argument("--every", type=positive_int, default=1, help="videos: every N-th frame (default: every frame)")
    p.add_argument("--shard-rows", type=positive_int, default=SHARD_ROWS,
                   help="rows per Parquet shard at most (default %(default)s; a shard is also written every 10 s)")
    json_arg(p, "the summary")
    limits = ArchiveLimits()
    p.add_argument("--max-member-mb", type=finite_float, default=limits.member_bytes / 2**20,
                   help="archives: largest member read, uncompressed (default %(default)g MiB)")
    p.add_argument("--max-archive-gb", type=finite_float, default=limits.total_bytes / 2**30,
                   help="archives: most bytes inflated from one archive (default %(default)g GiB)")
    p.add_argument("--max-ratio", type=finite_float, default=limits.ratio,
                   help="archives: most uncompressed bytes per compressed byte, past 16 MiB (default %(default)g): "
                        "zip and tar bombs stop here")
    max_pixels_arg(p)
    scene_args(p)
    add_option_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..batch import ArchiveLimits, run as run_batch

    bar = None

    def progress(done: int, total: int, errors: int) -> None:
        nonlocal bar
        if bar is None:
            bar = progress_bar(total, "item", "batch")
        bar.n = done
        bar.set_postfix_str(f"{errors} errors", refresh=False)
        bar.refresh()

    try:
        limits = ArchiveLimits(member_bytes=int(args.max_member_mb * 2**20),
                               total_bytes=int(args.max_archive_gb * 2**30), ratio=args.max_ratio)
        summary = run_batch(args.inputs, args.model, out=args.out, engine=args.engine, backend=args.backend,
                            workers=args.workers, threads_per_worker=args.threads_per_worker, address=args.address,
                            every=args.every, trust=args.trust, options=given_options(args),
                            depth_format=args.depth_format, scale_intrinsics=args.scale_intrinsics,
                            shard_rows=args.shard_rows, limits=limits, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        emit_json(summary.to_dict())
    else:
        print(summary.line())
    return 0
