"""``edgecv convert``: an ONNX model's outputs renamed by role, its input size fixed, converted for other engines."""

from __future__ import annotations

import argparse
from pathlib import Path

from .args import engine_list, input_size


def register(sub) -> None:
    from ..targets import ENGINE_NAMES, TARGETS
    from ..tasks import TASKS

    files = ", ".join("/".join(p.name.replace("<stem>", "<name>") for p in t.files_for(".", "<stem>"))
                      for t in TARGETS.values())
    p = sub.add_parser("convert", help="rename outputs by role; convert ONNX for every engine", description=(
        "Rename an ONNX model's outputs by role, optionally fix its input size, and convert it for the engines in "
        f"--to, writing {files} and <name>.edgecv.json to --out."))
    p.add_argument("model", type=Path, help="source .onnx file")
    p.add_argument("--task", choices=list(TASKS), help="task of the model (image tasks: infer output roles; "
                   "omit to only apply --rename)")
    p.add_argument("--input-size", type=input_size, help="fix a dynamic input to N or HxW (SCRFD: multiple of 32)")
    p.add_argument("--to", type=engine_list, default=ENGINE_NAMES,
                   help=f"comma-separated engines (default: {','.join(ENGINE_NAMES)}; 'onnx' means onnxruntime)")
    p.add_argument("--out", "-o", type=Path, default=Path("."), help="output directory (default: .)")
    p.add_argument("--name", help="output file stem (default: source stem, plus _HxW with --input-size)")
    p.add_argument("--fp16", action="store_true", help="store the weights in half precision (engines that have it)")
    p.add_argument("--rename", action="append", metavar="OLD=NEW", help="rename an output (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..convert import convert, parse_renames

    result = convert(args.model, args.task, out_dir=args.out, to=args.to, input_size=args.input_size,
                     fp16=args.fp16, rename=parse_renames(args.rename or []), name=args.name)
    renamed = result.metadata.get("renamed") or {}
    if renamed:
        print("renamed outputs: " + ", ".join(f"{k} -> {v}" for k, v in renamed.items()))
    for engine, paths in result.files.items():
        print(f"{engine:12s} " + " ".join(str(p) for p in paths))
    print(f"metadata     {result.metadata_file}")
    return 0
