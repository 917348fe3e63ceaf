"""Command line: ``edgecv detect | info | fetch``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

from .errors import EdgecvError


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
                                 ("iou_threshold", args.iou_threshold), ("max_faces", args.max_faces))
               if v is not None}
    model = load(args.model, engine=args.engine, threads=args.threads, fp16=args.fp16, **options)
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    report = []
    for path in args.images:
        image = read_image(path)
        result = model.detect(image)
        entry = {"image": str(path), "width": image.shape[1], "height": image.shape[0], **result.to_dict()}
        if out_dir:
            target = out_dir / (Path(path).stem + ".jpg")
            cv2.imwrite(str(target), result.draw(image))
            entry["annotated"] = str(target)
        report.append(entry)
        if not args.json:
            print(f"{path}: {len(result)} {'face' if len(result) == 1 else 'faces'}"
                  + (f" -> {entry['annotated']}" if out_dir else ""))
    if args.json:
        json.dump({"model": str(args.model), "engine": model.engine.name, "results": report},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
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


def build_parser() -> argparse.ArgumentParser:
    from .engines import ENGINE_NAMES

    parser = argparse.ArgumentParser(prog="edgecv", description="Computer-vision models on edge devices.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("detect", help="run a model on images", description=(
        "Run a model on images: prints a summary per image (or JSON with --json) and writes "
        "annotated copies to --out."))
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
    p.set_defaults(func=_cmd_detect)

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
