"""OpenPose benchmark: C++ peaks + grouping vs the Python reference on the same tensors (ratio), and
post-processing (heatmap upsampling + C++ grouping) as a share of inference, per engine.

    EDGECV_MODELS=../shared/models python benchmarks/bench_openpose.py [--threads 2] [--repeat 10]
    EDGECV_MODELS=../shared/models python benchmarks/bench_openpose.py --heights [--threads 2]

Targets: C++ >= 50x the Python reference; grouping <= 5 % of inference.

``--heights``: people found and time per frame at input_height 256, 368 and auto, on 40 frames of the PETS clip
(480x360, every 20th) and on the shared photos, ONNX Runtime (the table in docs/tasks/pose.md). "Whole" people have
at least 6 keypoints.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("EDGECV_MODELS", str(REPO.parent / "shared" / "models"))
os.environ.setdefault("EDGECV_CACHE", tempfile.mkdtemp(prefix="edgecv-bench-"))

import edgecv  # noqa: E402
from _timing import median_ms, report  # noqa: E402
from edgecv import _core, _pycore  # noqa: E402
from edgecv.targets import ENGINE_NAMES  # noqa: E402

PHOTOS = ("street_1.jpg", "street_4.jpg")
ALL_PHOTOS = ("group_t1.jpg", "street_1.jpg", "street_4.jpg", "street_6.jpg", "street_9.jpg", "street_12.jpg")
POSE = "lightweight_openpose_hpe0001"


def pets_frames(count: int = 40, every: int = 20) -> list:
    import cv2

    cap = cv2.VideoCapture(str(REPO.parent / "shared" / "video" / "pets_walk_480x360.avi"))
    frames, index = [], 0
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if index % every == 0:
            frames.append(frame)
        index += 1
    return frames


def heights(args: argparse.Namespace) -> list:
    """People and ms per frame at input_height 256, 368 and auto (PETS frames and the shared photos)."""
    frames = pets_frames()
    photos = {n: edgecv.read_image(Path(args.images) / n) for n in ALL_PHOTOS}
    whole = lambda poses: sum(int(p.visible.sum()) >= 6 for p in poses)
    rows = []
    for height in (256, 368, "auto"):
        model = edgecv.load(POSE, threads=args.threads, input_height=height)
        model.detect(frames[0])
        start = time.perf_counter()
        found = [model.detect(f) for f in frames]
        ms = (time.perf_counter() - start) * 1000 / len(frames)
        row = {"input_height": height, "pets_input": model.prepare(frames[0]).feeds["data"].shape[2],
               "pets_people": sum(map(len, found)), "pets_whole": sum(map(whole, found)), "ms_per_frame": round(ms, 1)}
        for name, image in photos.items():
            poses = model.detect(image)
            row[name.rsplit(".", 1)[0]] = f"{len(poses)} ({whole(poses)})"
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default=",".join(ENGINE_NAMES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--images", default=str(REPO.parent / "shared" / "images"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--heights", action="store_true", help="people and time at input_height 256, 368 and auto")
    args = ap.parse_args()
    if args.heights:
        report(heights(args), args.json)
        return 0

    rows = []
    for engine in args.engines.split(","):
        model = edgecv.load(POSE, engine=engine, threads=args.threads)
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
