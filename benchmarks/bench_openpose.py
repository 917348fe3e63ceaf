"""OpenPose benchmark: C++ peaks + grouping vs the Python reference on the same tensors (ratio), and
post-processing (heatmap upsampling + C++ grouping) as a share of inference, per engine.

    EDGECV_MODELS=../shared/models python benchmarks/bench_openpose.py [--threads 2] [--repeat 10]

Targets: C++ >= 50x the Python reference; grouping <= 5 % of inference.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("EDGECV_MODELS", str(REPO.parent / "shared" / "models"))
os.environ.setdefault("EDGECV_CACHE", tempfile.mkdtemp(prefix="edgecv-bench-"))

import edgecv  # noqa: E402
from _timing import median_ms, report  # noqa: E402
from edgecv import _core, _pycore  # noqa: E402

PHOTOS = ("street_1.jpg", "street_4.jpg")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="onnxruntime,ncnn,mnn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--images", default=str(REPO.parent / "shared" / "images"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    rows = []
    for engine in args.engines.split(","):
        model = edgecv.load("lightweight_openpose_hpe0001", engine=engine, threads=args.threads)
        p = model.grouping_params(model.settings)
        for name in PHOTOS:
            image = edgecv.read_image(Path(args.images) / name)
            prepared = model.prepare(image)
            blob = prepared.feeds["data"]
            raw = model.infer(prepared)
            parts, pafs = model.grouping_inputs(raw)
            q = _pycore.PoseParams()
            for key in ("peak_threshold", "peak_radius", "subpixel", "max_peaks_per_part", "paf_samples",
                        "paf_sample_threshold", "paf_success_ratio", "limb_length_prior", "paf_scale", "min_parts",
                        "min_mean_score"):
                setattr(q, key, getattr(p, key))
            cpp = median_ms(lambda: _core.group_poses(parts, pafs, model.limbs, p), max(args.repeat, 50))
            python = median_ms(lambda: _pycore.group_poses(parts, pafs, model.limbs, q), 10)
            infer = median_ms(lambda: model.infer(prepared), args.repeat)
            post = median_ms(lambda: model.postprocess(raw, prepared), max(args.repeat, 20))
            rows.append({"engine": engine, "image": name, "input": f"{blob.shape[2]}x{blob.shape[3]}",
                         "people": len(model.postprocess(raw, prepared)), "infer_ms": round(infer, 1),
                         "post_ms": round(post, 2), "post_share_pct": round(100 * post / infer, 2),
                         "grouping_cpp_ms": round(cpp, 3), "grouping_python_ms": round(python, 1),
                         "python_over_cpp": round(python / cpp, 1),
                         "grouping_share_pct": round(100 * cpp / infer, 2)})
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
