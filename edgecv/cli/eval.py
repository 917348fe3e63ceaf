"""``edgecv eval``: accuracy against a labelled dataset, per engine and precision, with the official protocols."""

from __future__ import annotations

import argparse
from pathlib import Path

from .args import engine_list, json_arg, max_pixels_arg, png_path, positive_int, precision_list, thread_count, \
    trust_arg
from .options import add_option_flags, given_options
from .output import StageBars, emit_json


def register(sub) -> None:
    from ..evaluate import FORMATS
    from ..targets import REFERENCE

    p = sub.add_parser("eval", help="accuracy on a labelled dataset (WIDER FACE, COCO, MVS) per engine and precision",
                       description=(
        "Run a model (a name or an fp32 .onnx file) over a labelled dataset on every engine and precision asked "
        "for, and report the benchmark's own metrics: WIDER FACE AP easy/medium/hard (the official protocol), COCO "
        "box AP@[.5:.95] and AP@0.5 (any COCO JSON or dlib XML of faces), COCO keypoint OKS AP (pycocotools), MVS "
        "depth errors against ground-truth depth maps (or consistency between views). One row per configuration "
        "with its difference from ONNX Runtime fp32 and images per second. Predictions are cached per "
        "configuration, so an interrupted run resumes."))
    p.add_argument("model", help="model name or fp32 .onnx file")
    p.add_argument("--data", "-d", required=True, type=Path, help="the dataset folder (images, or a scene)")
    p.add_argument("--format", "-f", choices=FORMATS, help="dataset format (default: told from the files)")
    p.add_argument("--labels", type=Path, help="the ground truth when it is not in --data (WIDER FACE's .mat folder "
                   "or bbx_gt.txt, a COCO .json, a dlib .xml, a depth folder)")
    p.add_argument("--engine", "-e", type=engine_list, default=(REFERENCE,),
                   help=f"comma-separated engines (default: {REFERENCE}; ONNX Runtime fp32 is always run as the "
                        "reference)")
    p.add_argument("--precision", "-p", type=precision_list, default="fp32",
                   help="comma-separated of fp32,int8,fp16 (default: %(default)s); "
                        "int8/fp16 files come from --quantized")
    p.add_argument("--quantized", "-q", action="append", type=Path, help="folder of files from edgecv quantize "
                   "(repeatable)")
    p.add_argument("--threads", "-t", type=thread_count, help="engine threads (default: CPU cores, at most 4)")
    p.add_argument("--limit", type=positive_int, help="the first N images (views) only")
    p.add_argument("--predictions", type=Path, help="write predictions: WIDER FACE submission folder (one txt per "
                   "image) or a COCO results .json")
    p.add_argument("--no-cache", action="store_true", help="do not keep or reuse predictions in the cache")
    p.add_argument("--plot", type=png_path, help="write precision-recall curves to a PNG")
    json_arg(p, "the rows")
    trust_arg(p)
    max_pixels_arg(p)
    add_option_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate

    bars = StageBars()
    try:
        report = evaluate(args.model, args.data, format=args.format, labels=args.labels, engines=args.engine,
                          precisions=args.precision, quantized=args.quantized or (), threads=args.threads,
                          limit=args.limit, options=given_options(args), predictions=args.predictions,
                          cache=not args.no_cache, trust=args.trust, progress=bars)
    finally:
        bars.close()
    if args.plot is not None:
        from ..evaluate.plot import write_curves

        write_curves(report, args.plot)
    if args.json:
        emit_json(report.to_rows())
    else:
        print(report.table())
        if args.plot is not None:
            print(f"curves: {args.plot}")
    return 0
