"""SCRFD benchmark: per engine, the raw engine call vs detect() (ratio), and C++ decode+NMS vs the
pure-Python core's (ratio), on real photos including a crowd.

    EDGECV_MODELS=../shared/models python benchmarks/bench_scrfd.py [--threads 2] [--repeat 30]

detect() and the raw call are timed interleaved (drift hits both alike); the post-processing
functions, microsecond-scale, each in their own block of repeated calls.
Targets: detect()/raw <= 1.03 on every engine; C++ post-processing >= 20x the Python core's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("EDGECV_MODELS", str(REPO.parent / "shared" / "models"))

import edgecv  # noqa: E402
from _timing import interleaved_ms, median_ms, report  # noqa: E402
from edgecv import _pycore  # noqa: E402

PHOTOS = {"group": "group_t1.jpg", "crowd": "street_6.jpg"}


def _with_core(core, fn):
    """``fn()`` with the SCRFD task calling ``core`` instead of the one it imported."""
    from edgecv.tasks.scrfd import model as scrfd_model

    saved, scrfd_model._core = scrfd_model._core, core
    try:
        return fn()
    finally:
        scrfd_model._core = saved


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="scrfd_2.5g_bnkps_640")
    ap.add_argument("--engines", default="onnxruntime,ncnn,mnn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--images", default=str(REPO.parent / "shared" / "images"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    images = {k: edgecv.read_image(Path(args.images) / v) for k, v in PHOTOS.items()}
    rows = []
    for engine in args.engines.split(","):
        model = edgecv.load(args.model, engine=engine, threads=args.threads)
        for label, image in images.items():
            prepared = model.prepare(image)
            t = interleaved_ms({"raw": lambda: model.infer(prepared), "detect": lambda: model.detect(image)},
                               args.repeat)
            raw = model.infer(prepared)
            # Microsecond-scale: each in its own block (interleaving with numpy's large temporaries
            # would evict the other's working set between calls).
            post = {"cpp": median_ms(lambda: model.postprocess(raw, prepared), 1000),
                    "numpy": median_ms(lambda: _with_core(_pycore, lambda: model.postprocess(raw, prepared)), 300)}
            rows.append({
                "engine": engine, "image": label, "faces": len(model.detect(image)),
                "raw_ms": round(t["raw"], 2), "detect_ms": round(t["detect"], 2),
                "detect_over_raw": round(t["detect"] / t["raw"], 3),
                "pre_ms": round(median_ms(lambda: model.prepare(image), 20), 3),
                "post_cpp_ms": round(post["cpp"], 4), "post_numpy_ms": round(post["numpy"], 3),
                "numpy_over_cpp": round(post["numpy"] / post["cpp"], 1),
            })
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
