"""``edgecv quantize``: INT8 / FP16 files per engine, judged against fp32 on held-out inputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..convert.quantize import MIN_SPEEDUP
from .args import engine_list, finite_float, json_arg, max_pixels_arg, thread_count, trust_arg, \
    truth_args, truth_judge
from .options import add_gate_flags, given_limits
from .output import StageBars, emit_json


def register(sub) -> None:
    from ..targets import REFERENCE, TARGETS
    from ..tasks import TASKS

    int8 = ", ".join(t.name for t in TARGETS.values() if t.quantizer)
    fp16 = ", ".join(t.name for t in TARGETS.values() if t.fp16)
    p = sub.add_parser("quantize", help="INT8 / FP16 models per engine, judged against fp32 on held-out inputs",
                       description=(
        "Quantise an fp32 model (a name from `edgecv info` or an .onnx file) for each engine in --to: INT8 "
        f"({int8}) or FP16 ({fp16}). Calibration inputs go through the task's own preprocessing; a quarter of "
        "--calib (by content hash) is held out and the result is judged there against the fp32 model with the "
        "task's gates. Layers are kept in fp32 (first and head layers, then the noisiest) until the gates hold. "
        "Writes each engine's files as <name>_<precision> and <name>_<precision>.edgecv.json to --out; exits 1 "
        "when an engine fails its gates (the engines that passed are written)."))
    p.add_argument("model", help="model name or fp32 .onnx file")
    p.add_argument("--calib", "-c", required=True, type=Path,
                   help="folder of images like those the model will see (MVS: a scene folder)")
    p.add_argument("--precision", "-p", choices=["int8", "fp16"], default="int8", help="default: %(default)s")
    p.add_argument("--to", type=engine_list, default=(REFERENCE,),
                   help=f"comma-separated engines (default: {REFERENCE})")
    p.add_argument("--out", "-o", type=Path, default=Path("."), help="output directory (default: .)")
    p.add_argument("--name", help="base name of the files (default: the model's)")
    p.add_argument("--task", choices=list(TASKS), help="task, when the model's metadata or outputs do not tell")
    p.add_argument("--holdout", type=Path, help="judge on this folder instead of a held-out quarter of --calib")
    p.add_argument("--no-fallback", action="store_true", help="judge the fully quantised model only; keep no "
                   "layer in fp32")
    p.add_argument("--threads", "-t", type=thread_count, help="engine threads (default: CPU cores, at most 4)")
    truth_args(p, "a candidate passes")
    p.add_argument("--min-speedup", type=finite_float, default=MIN_SPEEDUP,
                   help="write a passing model only when its engine call is this much faster than fp32 here "
                        "(default %(default)s)")
    p.add_argument("--keep-slower", action="store_true", help="write passing models even when they are not faster "
                   "than fp32 by --min-speedup")
    json_arg(p, "the outcome")
    trust_arg(p)
    add_gate_flags(p, ("quantize",))
    max_pixels_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import QuantizationError
    from ..loading import quantize

    truth = truth_judge(args)
    bars = StageBars()
    try:
        result = quantize(args.model, args.calib, precision=args.precision, to=args.to, out_dir=args.out,
                          task=args.task, holdout=args.holdout, name=args.name,
                          limits=given_limits(args, ("quantize",)), fallback=not args.no_fallback,
                          threads=args.threads, trust=args.trust, progress=bars, truth=truth, max_drop=args.max_drop,
                          min_speedup=args.min_speedup, keep_slower=args.keep_slower)
        failed = None
    except QuantizationError as exc:
        if exc.result is None:
            raise
        result, failed = exc.result, exc
    finally:
        bars.close()
    if args.json:
        emit_json({**result.to_dict(), "passed": failed is None})
    else:
        print(result.table())
        for path in result.metadata_files:
            print(f"metadata: {path}")
    if failed is not None:
        print(f"edgecv: {' '.join(str(failed).split())}", file=sys.stderr)
        return 1
    return 0
