"""The pure-Python core against the C++ core: post-processing time per task on the shared photos, clip and scene
(the same inputs through both), the engine time beside it, and the whole detect() time with each core.

    EDGECV_MODELS=../shared/models python benchmarks/bench_core.py [--threads 2] [--json]

Target (issue 22): with the Python core, SCRFD-2.5G's post-processing stays within 25 % of its engine time at 640^2.
detect() per core runs in a child process each (EDGECV_CORE=native / python), alternated, medians.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
os.environ.setdefault("EDGECV_MODELS", str(SHARED / "models"))
os.environ.setdefault("EDGECV_CACHE", tempfile.mkdtemp(prefix="edgecv-bench-"))

import numpy as np  # noqa: E402

import edgecv  # noqa: E402
from _timing import median_ms  # noqa: E402
from edgecv import _core, _pycore  # noqa: E402

PHOTOS = ("group_t1.jpg", "street_4.jpg", "street_6.jpg")
DETECT = r"""
import json, sys, time, statistics, edgecv
from edgecv.native import KIND
model = edgecv.load(sys.argv[1], threads=int(sys.argv[2]))
image = edgecv.read_image(sys.argv[3])
model.detect(image)
times = []
for _ in range(int(sys.argv[4])):
    t0 = time.perf_counter(); model.detect(image); times.append(time.perf_counter() - t0)
print(json.dumps({"core": KIND, "ms": statistics.median(times) * 1e3}))
"""


def _swap(module, core, attr="_core"):
    """A context: ``module.<attr>`` is ``core`` inside (the task modules import the core once)."""
    class Swap:
        def __enter__(self):
            self.saved = getattr(module, attr)
            setattr(module, attr, core)

        def __exit__(self, *exc):
            setattr(module, attr, self.saved)
    return Swap()


def faces(threads: int) -> list:
    from edgecv.tasks.scrfd import model as scrfd_model
    from edgecv.tasks.yunet import model as yunet_model

    rows = []
    for name, module in (("scrfd_2.5g_bnkps_640", scrfd_model), ("scrfd_500m_bnkps_640", scrfd_model),
                         ("yunet_n_640", yunet_model)):
        model = edgecv.load(name, threads=threads)
        for photo in PHOTOS:
            image = edgecv.read_image(SHARED / "images" / photo)
            prepared = model.prepare(image)
            raw = model.infer(prepared)
            engine = median_ms(lambda: model.infer(prepared), 10)
            cpp = median_ms(lambda: model.postprocess(raw, prepared), 200)
            with _swap(module, _pycore):
                py = median_ms(lambda: model.postprocess(raw, prepared), 50)
            rows.append({"task": model.task, "model": name, "input": photo, "engine_ms": round(engine, 2),
                         "post_cpp_ms": round(cpp, 3), "post_python_ms": round(py, 3),
                         "python_over_cpp": round(py / cpp, 1), "python_post_share_pct": round(100 * py / engine, 1)})
    return rows


def pose_and_head(threads: int) -> list:
    from edgecv.tasks.faces import headpose
    from edgecv.tasks.openpose import model as pose_module

    rows = []
    model = edgecv.load("lightweight_openpose_hpe0001", threads=threads)
    for photo in ("street_4.jpg", "group_t1.jpg"):
        image = edgecv.read_image(SHARED / "images" / photo)
        prepared = model.prepare(image)
        raw = model.infer(prepared)
        engine = median_ms(lambda: model.infer(prepared), 5)
        cpp = median_ms(lambda: model.postprocess(raw, prepared), 30)
        with _swap(pose_module, _pycore):
            py = median_ms(lambda: model.postprocess(raw, prepared), 10)
        rows.append({"task": "openpose", "model": "lightweight_openpose_hpe0001", "input": photo,
                     "engine_ms": round(engine, 2), "post_cpp_ms": round(cpp, 3), "post_python_ms": round(py, 3),
                     "python_over_cpp": round(py / cpp, 1), "python_post_share_pct": round(100 * py / engine, 1)})
    faces = edgecv.load("scrfd_2.5g_bnkps_640", threads=threads).detect(SHARED / "images" / "group_t1.jpg")
    marks, size = faces.landmarks, (886, 1280)
    cpp = median_ms(lambda: headpose.head_pose(marks, size), 200)
    with _swap(headpose, _pycore):
        py = median_ms(lambda: headpose.head_pose(marks, size), 20)
    rows.append({"task": "head pose", "model": "5pt PnP", "input": f"{len(marks)} faces", "engine_ms": "",
                 "post_cpp_ms": round(cpp, 3), "post_python_ms": round(py, 3), "python_over_cpp": round(py / cpp, 1),
                 "python_post_share_pct": ""})
    return rows


def tracking() -> list:
    import cv2

    pose = edgecv.load("lightweight_openpose_hpe0001", threads=2)
    cap = cv2.VideoCapture(str(SHARED / "video" / "pets_walk_480x360.avi"))
    frames = []
    for _ in range(100):
        ok, frame = cap.read()
        boxes, scores = pose.detect(frame).track_boxes()
        frames.append((np.ascontiguousarray(boxes, np.float32), np.ascontiguousarray(scores, np.float32)))
    settings = pose.tracker(frame_rate=10.0).params
    out = {}
    for label, core in (("cpp", _core), ("python", _pycore)):
        params = core.TrackerParams()
        for key in ("high_threshold", "low_threshold", "birth_threshold", "first_min_iou", "second_min_iou",
                    "unconfirmed_min_iou", "fuse_score", "track_buffer", "frame_rate"):
            setattr(params, key, getattr(settings, key))

        def run():
            tracker = core.ByteTracker(params)
            for b, s in frames:
                tracker.update(b, s)
        out[label] = median_ms(run, 5) / len(frames)
    return [{"task": "tracking", "model": "ByteTrack-style", "input": "100 PETS frames", "engine_ms": "",
             "post_cpp_ms": round(out["cpp"], 3), "post_python_ms": round(out["python"], 3),
             "python_over_cpp": round(out["python"] / out["cpp"], 1), "python_post_share_pct": ""}]


def frames() -> list:
    import cv2

    image = edgecv.read_image(SHARED / "images" / "group_t1.jpg")
    rotated = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    nv21 = cv2.cvtColor(rotated, cv2.COLOR_BGR2YUV_I420)  # layout only; content does not change the cost
    args = ("nv21", 90, (640, 640), (443, 640), (127.5,) * 3, (128.0,) * 3, True, 0)
    cpp = median_ms(lambda: _core.prepare_frame(nv21, *args), 50)
    py = median_ms(lambda: _pycore.prepare_frame(nv21, *args), 10)
    return [{"task": "camera frame", "model": "prepare_frame", "input": "1280x886 NV21 rotated 90", "engine_ms": "",
             "post_cpp_ms": round(cpp, 3), "post_python_ms": round(py, 3), "python_over_cpp": round(py / cpp, 1),
             "python_post_share_pct": ""}]


def mvs(threads: int) -> list:
    from edgecv.tasks.mvs import fusion, load_scene

    scene = load_scene(SHARED / "data" / "mvs_office_8view")
    model = edgecv.load("patchmatchnet_640x416_n5", engine="mnn", threads=threads)
    maps = {v: model.detect(scene, ref=v) for v in (0, 1, 3, 4)}

    def filtered():
        ref = maps[0]
        return fusion.filter_depth(ref, [maps[v] for v in (1, 3, 4)], fusion.FusionParams(min_views=1))
    cpp = median_ms(filtered, 5)
    with _swap(fusion, _pycore, "core"):
        py = median_ms(filtered, 3)
    return [{"task": "mvs", "model": "consistency (3 sources)", "input": "640x416", "engine_ms": "",
             "post_cpp_ms": round(cpp, 3), "post_python_ms": round(py, 3), "python_over_cpp": round(py / cpp, 1),
             "python_post_share_pct": ""}]


def detect_per_core(threads: int, repeat: int = 15) -> list:
    rows = []
    for name in ("scrfd_2.5g_bnkps_640", "yunet_n_640", "lightweight_openpose_hpe0001"):
        times = {"native": [], "python": []}
        for _ in range(2):
            for core in ("native", "python"):
                out = subprocess.run([sys.executable, "-c", DETECT, name, str(threads),
                                      str(SHARED / "images" / "street_4.jpg"), str(repeat)],
                                     capture_output=True, text=True, cwd=tempfile.gettempdir(),
                                     env={**os.environ, "EDGECV_CORE": core})
                doc = json.loads(out.stdout.strip().splitlines()[-1])
                assert doc["core"] == core
                times[core].append(doc["ms"])
        native, python = min(times["native"]), min(times["python"])
        rows.append({"model": name, "detect_native_ms": round(native, 1), "detect_python_ms": round(python, 1),
                     "python_over_native": round(python / native, 3)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = faces(args.threads) + pose_and_head(args.threads) + tracking() + frames() + mvs(args.threads)
    detect = detect_per_core(args.threads)
    if args.json:
        print(json.dumps({"post_processing": rows, "detect": detect}, indent=2))
        return 0
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    print()
    cols = list(detect[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in detect:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
