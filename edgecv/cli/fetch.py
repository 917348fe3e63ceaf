"""``edgecv fetch``: model files copied or downloaded into the cache, sha256-checked."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    from ..targets import ENGINE_NAMES

    p = sub.add_parser("fetch", help="copy or download model files into the cache (sha256-checked)")
    p.add_argument("models", nargs="+", help="model names")
    p.add_argument("--engine", "-e", action="append", choices=ENGINE_NAMES,
                   help="only this engine's files (repeatable; default: all)")
    p.add_argument("--mirror", type=Path, help="copy from this mirror directory (default: EDGECV_MODELS, then "
                   "download)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..loading import fetch

    for name in args.models:
        for path in fetch(name, engines=args.engine, mirror=args.mirror):
            print(path)
    return 0
