"""``edgecv bench``: latency, memory and accuracy per engine, precision, thread count and input size."""

from __future__ import annotations

import argparse
from pathlib import Path

from .args import engine_list, int_list, json_arg, max_pixels_arg, png_path, positive_int, \
    precision_list, thread_counts, truth_args, truth_judge, view_list
from .output import StageBars, emit_json


def register(sub) -> None:
    p = sub.add_parser("bench", help="latency, memory and accuracy per engine, precision, threads and size",
                       description=(
        "Measure a model (a name or an fp32 .onnx file) on this device: for each engine, precision, thread count "
        "and input size, p50/p95 latency of the engine call and of detect(), peak RSS, and agreement with the "
        "fp32 ONNX Runtime results (the task's quantize gates decide pass/FAIL). Each configuration runs in its "
        "own process. INT8/FP16 files come from --quantized folders (edgecv quantize --out) or are quantised "
        "into the cache with --calib. The rows are saved as this device's profile, which `--engine auto` and "
        "edgecv.load(..., engine='auto') use."))
    p.add_argument("model", help="model name or fp32 .onnx file")
    p.add_argument("--images", "-i", nargs="+", type=Path, help="images to run (image tasks)")
    p.add_argument("--scene", type=Path, help="MVS: scene folder")
    p.add_argument("--refs", type=view_list, help="MVS: reference views, comma-separated (default: the first)")
    p.add_argument("--engines", type=engine_list, help="comma-separated engines (default: all)")
    p.add_argument("--precisions", type=precision_list, default="fp32",
                   help="comma-separated of fp32,fp16,int8 (default: %(default)s)")
    p.add_argument("--threads", "-t", type=thread_counts, default="2",
                   help="comma-separated thread counts (default: %(default)s)")
    p.add_argument("--input-sizes", type=int_list, help="comma-separated network input sizes (SCRFD: input_size; "
                   "OpenPose: input_height)")
    p.add_argument("--quantized", "-q", action="append", type=Path,
                   help="folder (or file) of quantised models from edgecv quantize (repeatable)")
    p.add_argument("--calib", type=Path, help="quantise the missing int8/fp16 files on this calibration folder "
                   "(cached)")
    p.add_argument("--repeat", type=positive_int, default=20,
                   help="timed calls per configuration (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default: %(default)s)")
    truth_args(p, "each row passes")
    json_arg(p, "the rows")
    p.add_argument("--plot", type=png_path, help="write a PNG chart")
    max_pixels_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..bench import bench

    truth = truth_judge(args)
    bars = StageBars()
    try:
        report = bench(args.model, images=args.images, scene=args.scene, refs=args.refs, engines=args.engines,
                       precisions=args.precisions, threads=args.threads, input_sizes=args.input_sizes,
                       quantized=args.quantized or (), calib=args.calib, repeat=args.repeat, warmup=args.warmup,
                       progress=bars, truth=truth, max_drop=args.max_drop)
    finally:
        bars.close()
    if args.plot is not None:
        from ..bench.chart import write_chart

        write_chart(report, args.plot)
    if args.json:
        emit_json(report.to_rows())
    else:
        print(report.table())
        if args.plot is not None:
            print(f"chart: {args.plot}")
    return 0
