"""Tracker benchmark: edgecv's C++ ByteTrack-style tracker against the ``trackers`` package's ByteTrack on the
same detections of a real clip: how often the two assign the same identities, and time per frame.

The ``trackers`` package needs supervision, scipy, pillow, pyyaml, defusedxml and Python >= 3.10; install it
in the benchmark environment only, not beside edgecv on a board:

    pip install --target /tmp/trkenv --no-deps trackers supervision pydeprecate pillow scipy pyyaml defusedxml
    PYTHONPATH=/tmp/trkenv EDGECV_MODELS=../shared/models python benchmarks/bench_track.py [--json]

Detections: people (OpenPose keypoint boxes, score = mean keypoint score) on the 795-frame PETS clip, and faces
(SCRFD, detector threshold 0.1) on a camera pan over a group photo. Both trackers get identical boxes and
scores and the same thresholds (their defaults mapped onto ours). Identity agreement: over the detections both
trackers label, the share whose ids correspond under the best one-to-one mapping between the two id sets.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("EDGECV_MODELS", str(SHARED / "models"))

import edgecv  # noqa: E402
from _timing import report  # noqa: E402
from edgecv.tracking import Tracker  # noqa: E402


def pose_detections(frames: int):
    """Detections and edgecv's default tracker settings for people (as model.stream(track=True) uses them)."""
    model = edgecv.load("lightweight_openpose_hpe0001", threads=2)
    clip = model.stream(SHARED / "video" / "pets_walk_480x360.avi")
    dets = [item.result.track_boxes() for n, item in zip(range(frames), clip)]
    return dets, model.tracker(10.0)


def face_detections(frames: int):
    import tempfile

    from bench_stream import face_clip

    model = edgecv.load("scrfd_2.5g_bnkps_640", threads=2)
    with tempfile.TemporaryDirectory() as tmp:
        clip = face_clip(Path(tmp) / "pan.avi", frames)
        dets = [(r.boxes, r.scores) for r in (item.result for item in model.stream(clip, score_threshold=0.1))]
    return dets, model.tracker(25.0)


def settings_of(tracker: Tracker) -> dict:
    return {name: getattr(tracker.params, name) for name in ("high_threshold", "low_threshold", "birth_threshold",
                                                             "first_min_iou", "second_min_iou", "unconfirmed_min_iou",
                                                             "fuse_score", "track_buffer")}


def run_ours(dets, fps: float, **params):
    tracker = Tracker(keep_threshold=0.0, frame_rate=fps, **params)
    ids, start = [], time.perf_counter()
    for boxes, scores in dets:
        ids.append(tracker._tracker.update(np.ascontiguousarray(boxes, np.float32),
                                           np.ascontiguousarray(scores, np.float32)))
    return ids, (time.perf_counter() - start) / len(dets) * 1e3


def run_theirs(dets, fps: float):
    import supervision as sv
    from trackers import ByteTrackTracker

    tracker = ByteTrackTracker(frame_rate=fps)
    ids, start = [], time.perf_counter()
    for boxes, scores in dets:
        d = sv.Detections(xyxy=np.asarray(boxes, np.float32).reshape(-1, 4), confidence=np.asarray(scores, np.float32),
                          data={"index": np.arange(len(scores))})
        out = tracker.update(d)
        frame_ids = np.full(len(scores), -1, np.int64)
        if len(out):
            frame_ids[out.data["index"]] = out.tracker_id
        ids.append(frame_ids)
    return ids, (time.perf_counter() - start) / len(dets) * 1e3


def agreement(a, b) -> dict:
    """Best one-to-one mapping between the two id sets; share of co-labelled detections that agree."""
    pairs = {}
    for fa, fb in zip(a, b):
        for x, y in zip(fa, fb):
            if x >= 0 and y >= 0:
                pairs[(int(x), int(y))] = pairs.get((int(x), int(y)), 0) + 1
    total = sum(pairs.values())
    ours, theirs = sorted({k[0] for k in pairs}), sorted({k[1] for k in pairs})
    cost = [-float(pairs.get((x, y), 0)) for x in ours for y in theirs]
    mapped = 0
    if ours and theirs:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(np.array(cost).reshape(len(ours), len(theirs)))
        mapped = int(-sum(cost[r * len(theirs) + c] for r, c in zip(rows, cols)))
    labelled_a = sum(int((f >= 0).sum()) for f in a)
    labelled_b = sum(int((f >= 0).sum()) for f in b)
    return {"co_labelled": total, "identity_agreement": round(mapped / total, 4) if total else 1.0,
            "ids_edgecv": len({int(x) for f in a for x in f if x >= 0}),
            "ids_trackers": len({int(y) for f in b for y in f if y >= 0}),
            "labelled_edgecv": labelled_a, "labelled_trackers": labelled_b}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=795)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    # trackers' ByteTrack defaults, mapped onto ours: high 0.6, birth 0.7, IoU >= 0.1 in both stages, no score
    # fusion; everything below "high" is "low".
    matched = {"high_threshold": 0.6, "low_threshold": 0.0, "birth_threshold": 0.7, "first_min_iou": 0.1,
               "second_min_iou": 0.1, "unconfirmed_min_iou": 0.1, "fuse_score": False, "track_buffer": 30}
    rows = []
    clips = (("people, PETS clip (OpenPose)", pose_detections(args.frames), 10.0),
             ("faces, pan over group photo (SCRFD)", face_detections(min(args.frames, 200)), 25.0))
    for label, (dets, default), fps in clips:
        theirs, t_theirs = run_theirs(dets, fps)
        for setting, params in (("same thresholds", matched), ("edgecv defaults", settings_of(default))):
            ours, t_ours = run_ours(dets, fps, **params)
            rows.append({"clip": label, "edgecv_settings": setting, "frames": len(dets),
                         "detections": int(sum(len(s) for _, s in dets)), **agreement(ours, theirs),
                         "edgecv_ms_per_frame": round(t_ours, 4), "trackers_ms_per_frame": round(t_theirs, 3),
                         "speedup": round(t_theirs / t_ours, 1)})
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
