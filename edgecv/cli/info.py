"""``edgecv info``: installed engines, the core and JPEG decoder in use, and the models with their licences."""

from __future__ import annotations

import argparse
from typing import Any, Dict

from .args import json_arg
from .output import emit_json


def register(sub) -> None:
    p = sub.add_parser("info", help="installed engines and locally available models")
    json_arg(p, "everything")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import store
    from ..engines import engine_versions
    from ..image import strict_jpeg
    from ..loading import available_models
    from ..native import KIND
    from ..system import cpu_count, cpu_model
    from ..targets import TARGETS
    from ..versions import __version__

    manifests = store.list_manifests()
    info: Dict[str, Any] = {
            "edgecv": __version__, "engines": engine_versions(), "mirror": [str(p) for p in store.mirror_dirs()],
            "cache": str(store.cache_dir()), "strict_jpeg": strict_jpeg(), "core": KIND,
            "cpu": cpu_model(), "cores": cpu_count(),
            "models": {name: {"task": manifests[name].task, "licence": manifests[name].licence,
                              "source": manifests[name].source, "engines": engines}
                       for name, engines in available_models().items()}}
    if args.json:
        emit_json(info)
        return 0
    print(f"edgecv {__version__} on {info['cpu']} ({info['cores']} cores)")
    print("engines:")
    for name, version in info["engines"].items():
        print(f"  {name:12s} {version or 'not installed (pip install edgecv[' + TARGETS[name].extra + '])'}")
    print("core: " + ("native (C++)" if info["core"] == "native" else
                      "python (numpy; the compiled core is not installed or EDGECV_CORE=python)"))
    print("images: " + ("strict JPEG decoding (simplejpeg)" if info["strict_jpeg"] else
                        "OpenCV (no simplejpeg: JPEG corruption is only checked for a missing end marker)"))
    print(f"mirror ({store.ENV_MIRROR}): {', '.join(info['mirror']) or '(not set)'}")
    print(f"cache ({store.ENV_CACHE}): {info['cache']}")
    print("models (engines with all files available locally marked *):")
    print(f"  {'model':28s} {'task':9s} {'licence':30s} engines")
    for name, doc in info["models"].items():
        marks = " ".join(f"{e}{'*' if ok else ''}" for e, ok in doc["engines"].items())
        print(f"  {name:28s} {doc['task']:9s} {doc['licence']:30s} {marks}")
    return 0
