"""Stream benchmark: throughput of ``stream()`` on a file against the engine-bound rate, frame age on a fast live
source, and the fused C++ camera-frame path against the OpenCV chain.

    EDGECV_MODELS=../shared/models python benchmarks/bench_stream.py [--threads 2] [--frames 30] \
        [--rounds 20] [--decoded] [--age-frames 120] [--engines ...] [--json]

1. Per engine (one table each), ``stream()`` frames per second on a video file (decode + prepare + engine + post,
   pipelined) over the rate of one ``detect()`` per already-decoded frame: the median of short rounds that each
   time the loop before and after the stream, so the VM's drift cancels. Target >= 0.95.
2. Frame age (capture to result) p50 / p95 on a live source producing frames much faster than inference, in
   inference periods. Target p95 <= 2.
3. ``_core.prepare_frame`` (NV21 / BGR, rotation, resize, normalise, pack in one pass) against
   cvtColor + rotate + resize + copyMakeBorder + blobFromImage, same output, and against what edgecv uses for
   unrotated frames (OpenCV's SIMD colour conversion, then the C++ resize + pack; ``cv2.resize`` before the pack
   where the core has no SIMD resize), which is faster there.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("EDGECV_MODELS", str(SHARED / "models"))

import edgecv  # noqa: E402
from _timing import items_per_s, median_ms, report  # noqa: E402
from edgecv.targets import ENGINE_NAMES  # noqa: E402

VIDEO = SHARED / "video" / "pets_walk_480x360.avi"


def face_clip(path: Path, frames: int) -> Path:
    """A 640x480 camera pan over the group photo, written as a video (a real photo, synthetic motion)."""
    image = cv2.imread(str(SHARED / "images" / "group_t1.jpg"))
    h, w = image.shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
    for k in range(frames):
        t = k / max(1, frames - 1)
        ch, cw = int(h * (0.8 - 0.2 * t)), int(w * (0.8 - 0.2 * t))
        y, x = (h - ch) // 2, int((w - cw) * t)
        out.write(cv2.resize(image[y:y + ch, x:x + cw], (640, 480)))
    out.release()
    return path


def decoded(path: Path, frames: int):
    cap = cv2.VideoCapture(str(path))
    out = []
    while len(out) < frames:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    return out


def first_frames(path: Path, frames: int, target: Path) -> Path:
    """The first ``frames`` frames of a video as another file (so both rates are measured on the same frames)."""
    images = decoded(path, frames)
    cap = cv2.VideoCapture(str(path))
    out = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), cap.get(cv2.CAP_PROP_FPS) or 10,
                          (images[0].shape[1], images[0].shape[0]))
    for image in images:
        out.write(image)
    out.release()
    return target


def throughput(model, path: Path, frames: int, rounds: int = 20, also_decoded: bool = False) -> dict:
    """Rates of detect() on decoded frames and of stream() on the file, in ``rounds`` short rounds.

    This VM's speed drifts by 10-15 % over seconds (one detect() took 36-64 ms in one minute), which long runs
    do not average out: each round therefore times the detect() loop, then stream(), then the loop again, over a
    short clip, and takes stream's rate over the mean of the two loop rates, which cancels a drift that is linear
    over the round. The row gives the median of those ratios and their quartiles. ``also_decoded``: each round
    also streams the frames the loop gets, already decoded (the two streams alternate their order), which shows
    what decoding the file costs the stream."""
    images = decoded(path, frames)
    model.detect(images[0])

    runs = {"stream": lambda: model.stream(path)}
    if also_decoded:
        runs["decoded"] = lambda: model.stream(iter(images))
    loops, ratios = [], {name: [] for name in runs}
    for k in range(rounds):
        before = items_per_s(model.detect(image) for image in images)
        got = {name: items_per_s(runs[name]()) for name in (list(runs) if k % 2 == 0 else list(runs)[::-1])}
        after = items_per_s(model.detect(image) for image in images)
        loops.append((before + after) / 2)
        for name, value in got.items():
            ratios[name].append(value / loops[-1])
    stream = ratios["stream"]
    row = {"frames": len(images), "rounds": rounds, "detect_fps": round(statistics.median(loops), 2),
           "stream_over_detect": round(statistics.median(stream), 3), "quartiles": quartiles(stream)}
    if also_decoded:
        row["decoded_stream_over_detect"] = round(statistics.median(ratios["decoded"]), 3)
        row["decoded_quartiles"] = quartiles(ratios["decoded"])
    return row


def quartiles(values: list) -> str:
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{q1:.3f}-{q3:.3f}"


def frame_age(model, image: np.ndarray, frames: int, period_s: float, source_fps: float) -> dict:
    def live():
        for _ in range(frames):
            time.sleep(1.0 / source_fps)
            yield image
    with model.stream(live(), live=True) as stream:
        ages = [item.latency for item in stream]
        dropped = stream.frames_dropped
    ages.sort()
    p50, p95 = ages[len(ages) // 2], ages[int(len(ages) * 0.95) - 1]
    return {"source_fps": round(source_fps, 1), "processed": len(ages), "dropped": dropped,
            "age_p50_ms": round(p50 * 1e3, 1), "age_p95_ms": round(p95 * 1e3, 1),
            "p95_in_periods": round(p95 / period_s, 2)}


def opencv_chain(frame, code, rotation, size, resized, mean, std):
    bgr = cv2.cvtColor(frame, code) if code is not None else frame
    if rotation:
        bgr = cv2.rotate(bgr, {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180,
                               270: cv2.ROTATE_90_COUNTERCLOCKWISE}[rotation])
    small = cv2.resize(bgr, resized, interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(small, 0, size[1] - resized[1], 0, size[0] - resized[0], cv2.BORDER_CONSTANT, value=0)
    return cv2.dnn.blobFromImage(padded, 1.0 / std, mean=(mean,) * 3, swapRB=True)


def fused_vs_opencv(repeat: int) -> list:
    from edgecv import _core
    from edgecv.tasks.base import core_resizes

    photo = cv2.imread(str(SHARED / "images" / "street_4.jpg"))
    rows = []
    for label, w, h, fmt, rotation in (("1080p NV21, rotation 90", 1920, 1080, "nv21", 90),
                                       ("720p NV21, rotation 270", 1280, 720, "nv21", 270),
                                       ("1080p NV21", 1920, 1080, "nv21", 0), ("720p BGR", 1280, 720, "bgr", 0),
                                       ("480p NV21", 640, 480, "nv21", 0)):
        bgr = cv2.resize(photo, (w, h))
        if rotation:  # the frame a sensor delivers when it must be turned `rotation` degrees clockwise
            bgr = cv2.rotate(bgr, {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 270: cv2.ROTATE_90_CLOCKWISE}[rotation])
        if fmt == "nv21":
            i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)
            fh, fw = bgr.shape[:2]
            y, u, v = i420[: fh * fw], i420[fh * fw: fh * fw * 5 // 4], i420[fh * fw * 5 // 4:]
            frame = np.concatenate([y, np.stack([v, u], 1).reshape(-1)]).reshape(fh * 3 // 2, fw)
            code = cv2.COLOR_YUV2BGR_NV21
        else:
            frame, code = bgr, None
        up_h, up_w = (w, h) if rotation in (90, 270) else (h, w)
        s = min(640 / up_h, 640 / up_w)
        resized = (round(up_w * s), round(up_h * s))
        norm = ((127.5,) * 3, (128.0,) * 3, True, 0)
        fused = lambda: _core.prepare_frame(frame, fmt, rotation, (640, 640), resized, *norm)
        chain = lambda: opencv_chain(frame, code, rotation, (640, 640), resized, 127.5, 128.0)

        def hybrid():  # unrotated, as detect(): OpenCV's convert, then the C++ resize + pack (or cv2.resize first)
            bgr = cv2.cvtColor(frame, code) if code is not None else frame
            if not core_resizes(bgr):
                bgr = cv2.resize(bgr, resized)
            return _core.prepare_frame(bgr, "bgr", 0, (640, 640), resized, *norm)
        diff = float(np.abs(fused() - chain()).max())
        t_fused, t_chain = median_ms(fused, repeat), median_ms(chain, repeat)
        t_hybrid = median_ms(hybrid, repeat) if not rotation else float("nan")
        rows.append({"frame": label, "fused_ms": round(t_fused, 3), "opencv_chain_ms": round(t_chain, 3),
                     "chain_over_fused": round(t_chain / t_fused, 2),
                     "convert_then_pack_ms": round(t_hybrid, 3), "edgecv_uses": "fused" if rotation else
                     "convert, then pack", "max_abs_diff": round(diff, 4)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=30, help="frames of each clip, timed once per run (1.)")
    ap.add_argument("--engines", default=",".join(ENGINE_NAMES), help="one table per engine")
    ap.add_argument("--repeat", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20,
                    help="rounds of detect() loop, stream(), detect() loop; the median ratio is reported (1.)")
    ap.add_argument("--age-frames", type=int, default=120, help="frames of the live source (2.)")
    ap.add_argument("--decoded", action="store_true",
                    help="also stream() the already-decoded frames: what decoding the file costs the stream (1.)")
    ap.add_argument("--no-age", action="store_true", help="skip the frame-age measurement (2.)")
    ap.add_argument("--no-frames", action="store_true", help="skip the camera-frame path comparison (3.)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = face_clip(Path(tmp) / "pan.avi", args.frames)
        walk = first_frames(VIDEO, args.frames, Path(tmp) / "walk.avi")
        for engine in args.engines.split(","):
            rows = []
            for label, name, path in (("openpose (auto: 480), pets_walk 480x360", "lightweight_openpose_hpe0001", walk),
                                      ("scrfd-2.5g, pan 640x480", "scrfd_2.5g_bnkps_640", clip)):
                # one model loaded at a time: the engine threads of a model measured before would otherwise still
                # spin on the cores while the next one is measured
                model = edgecv.load(name, engine=engine, threads=args.threads)
                t = throughput(model, path, args.frames, args.rounds, args.decoded)
                age = {} if args.no_age else frame_age(model, decoded(path, 1)[0], args.age_frames,
                                                       1.0 / t["detect_fps"], source_fps=3 * t["detect_fps"])
                rows.append({"model": label, **t, **age})
                del model
                gc.collect()
            print(f"# {engine}, {args.threads} threads")
            report(rows, args.json)
            print()
    if not args.no_frames:
        report(fused_vs_opencv(args.repeat), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
