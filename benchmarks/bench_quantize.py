"""INT8 / FP16 against fp32, per engine: speed-up (each configuration in its own process, ``edgecv.bench``) and
accuracy against the fp32 ONNX Runtime model on photos the calibration never saw.

SCRFD-2.5G is calibrated on ``calib_faces`` (the held-out quarter is never calibrated on) and judged on three
groups: large faces (the held-out photos), small faces (the crowd and street photos of ``../shared/images``,
plus the held-out photos shrunk to a quarter on a 1280x960 canvas) and turned faces (the held-out photos
rotated by +-30 degrees). Target: ONNX Runtime INT8 >= 1.8x fp32 with recall >= 0.98 in every group.
OpenPose is calibrated on the first half of the PETS clip and judged on frames of the second half.

    EDGECV_MODELS=../shared/models python benchmarks/bench_quantize.py [--skip-mnn-int8] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

import edgecv
from edgecv.bench import bench
from edgecv.convert import calibration
from edgecv.errors import QuantizationError
from edgecv.tasks import get_task

SHARED = Path(os.environ.get("EDGECV_SHARED", Path(__file__).resolve().parents[2] / "shared"))
SCRFD = "scrfd_2.5g_bnkps_640"
POSE = "lightweight_openpose_hpe0001"


def face_groups(work: Path) -> dict:
    """Evaluation images per group, none of them calibrated on."""
    split = calibration.split_calibration(get_task("scrfd"), SHARED / "images" / "calib_faces")
    held = [Path(s.item) for s in split.holdout]
    small, turned = work / "small", work / "turned"
    small.mkdir(exist_ok=True)
    turned.mkdir(exist_ok=True)
    for i, path in enumerate(held):
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        canvas = np.full((960, 1280, 3), 110, np.uint8)
        tiny = cv2.resize(image, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
        canvas[40:40 + tiny.shape[0], 60:60 + tiny.shape[1]] = tiny
        cv2.imwrite(str(small / f"{i:02d}.png"), canvas)
        angle = 30 if i % 2 else -30
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        cv2.imwrite(str(turned / f"{i:02d}.png"), cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
    crowds = sorted((SHARED / "images").glob("*.jpg"))
    return {"large": held, "small": crowds + sorted(small.iterdir()), "turned": sorted(turned.iterdir())}


def accuracy(spec, reference, path: Path, images) -> dict:
    model = edgecv.load(path, threads=2)
    return spec.summarize([spec.compare(reference.detect(i), model.detect(i)) for i in images])


def pose_frames(work: Path):
    cap = cv2.VideoCapture(str(SHARED / "video" / "pets_walk_480x360.avi"))
    cal, hold = work / "pose_cal", work / "pose_hold"
    cal.mkdir(exist_ok=True)
    hold.mkdir(exist_ok=True)
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i < 400 and i % 10 == 0:
            cv2.imwrite(str(cal / f"{i:04d}.jpg"), frame)
        elif i >= 420 and i % 25 == 0:
            cv2.imwrite(str(hold / f"{i:04d}.jpg"), frame)
        i += 1
    return cal, hold


def speedups(model, images, folder: Path, engines, precisions) -> dict:
    report = bench(model, images=images, engines=engines, precisions=["fp32"] + precisions, threads=[2],
                   quantized=[folder], repeat=30, warmup=3, save_profile=False)
    fp32 = {r.engine: r for r in report.rows if r.precision == "fp32" and r.error is None}
    out = {}
    for r in report.rows:
        if r.precision != "fp32" and r.error is None and r.engine in fp32:
            out[(r.engine, r.precision)] = {"fp32_ms": fp32[r.engine].p50_ms, "ms": r.p50_ms,
                                            "speedup": fp32[r.engine].p50_ms / r.p50_ms,
                                            "detect_speedup": fp32[r.engine].detect_p50_ms / r.detect_p50_ms,
                                            "rss_mb": r.rss_mb}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="keep the quantised models here (default: a temporary folder)")
    parser.add_argument("--skip-mnn-int8", action="store_true", help="MNN INT8's layer search takes ~8 minutes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-quantize-")
    work = Path(tmp.name)
    out = args.out or work / "models"
    from edgecv.store.profiles import device

    figures = {"device": device()}
    # -- SCRFD ---------------------------------------------------------------------------------------
    engines = ["onnxruntime", "ncnn"] + ([] if args.skip_mnn_int8 else ["mnn"])
    outcomes = {}
    for precision, targets in (("int8", engines), ("fp16", ["ncnn", "mnn"])):
        try:
            result = edgecv.quantize(SCRFD, SHARED / "images" / "calib_faces", precision=precision, to=targets,
                                     out_dir=out, threads=2)
        except QuantizationError as exc:
            result = exc.result
        for engine, o in result.outcomes.items():
            outcomes[(engine, precision)] = o
    spec = get_task("scrfd")
    reference = edgecv.load(SCRFD, threads=2)
    groups = face_groups(work)
    speed = speedups(SCRFD, [SHARED / "images" / "group_t1.jpg", SHARED / "images" / "street_4.jpg"], out,
                     ["onnxruntime", "ncnn", "mnn"], ["int8", "fp16"])
    rows = []
    for (engine, _precision), o in outcomes.items():
        row = {"model": "SCRFD-2.5G", "engine": engine, "precision": o.precision, "passed": o.passed,
               "fp32_layers": f"{len(o.fp32_layers)}/{o.layers}" if o.layers else "-", "attempts": o.attempts}
        if o.passed:
            path = o.files[0]
            for name, images in groups.items():
                acc = accuracy(spec, reference, path, images)
                row[f"{name}_recall"] = acc["recall"]
                row[f"{name}_iou"] = acc["mean_iou"]
                row[f"{name}_faces"] = acc["reference"]
        row.update(speed.get((engine, o.precision), {}))
        rows.append(row)
    # -- OpenPose ------------------------------------------------------------------------------------
    cal, hold = pose_frames(work)
    pose_out = work / "pose"
    for engine in ("onnxruntime", "ncnn"):
        try:  # the full search with the default gates
            result = edgecv.quantize(POSE, cal, holdout=hold, to=[engine], out_dir=pose_out, threads=2)
            full = result.outcomes[engine]
        except QuantizationError as exc:
            full = exc.result.outcomes[engine]
        # the fully quantised model, for its speed, whatever the gates say
        loose = edgecv.quantize(POSE, cal, holdout=hold, to=[engine], out_dir=pose_out / "all", threads=2,
                                fallback=False, limits={"recall": 0, "precision": 0, "mean_keypoint_px": 1e6})
        first = loose.outcomes[engine]
        speed = speedups(POSE, [hold / sorted(os.listdir(hold))[0]], pose_out / "all", [engine], ["int8"])
        rows.append({"model": "OpenPose", "engine": engine, "precision": "int8", "passed": full.passed,
                     "fp32_layers": f"{len(full.fp32_layers)}/{full.layers}", "attempts": full.attempts,
                     "people_recall": full.summary.get("recall"), "people_precision": full.summary.get("precision"),
                     "mean_keypoint_px": full.summary.get("mean_keypoint_px"),
                     "all_int8_recall": first.summary.get("recall"),
                     "all_int8_precision": first.summary.get("precision"),
                     **speed.get((engine, "int8"), {})})
    figures["rows"] = rows
    if args.json:
        print(json.dumps(figures, indent=2, default=str))
        return
    print(f"device: {figures['device']['cpu']}, {figures['device']['cores']} cores")
    keys = ["model", "engine", "precision", "passed", "fp32_layers", "speedup", "detect_speedup", "ms", "fp32_ms",
            "large_recall", "small_recall", "turned_recall", "large_iou", "small_iou", "turned_iou",
            "people_recall", "people_precision", "mean_keypoint_px", "all_int8_recall", "all_int8_precision"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        cells = [f"{r[k]:.3g}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
