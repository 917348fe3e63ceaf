"""Head-pose benchmark: edgecv's batch PnP (one call) vs a Python loop of cv2.solvePnP, for 1, 10 and
100 faces, with the angle error of both against the ground truth (1 px landmark noise).

    python benchmarks/bench_headpose.py [--repeat 50]

OpenCV's ITERATIVE solver needs 6 points without a guess, so for the 5-point model each OpenCV solve
is EPnP followed by ITERATIVE from that guess. Target: >= 2x at 100 faces with equal accuracy.
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

import edgecv
from _timing import median_ms, report
from edgecv.tasks.faces.headpose import Camera, euler_from_rotation, face_model, rotation_from_euler


def faces(model, n, rng, hw=(1080, 1920)):
    camera = Camera.from_focal(hw)
    f = camera.matrix[0, 0]
    truth = rng.uniform(-50, 50, (n, 3))
    pts = face_model(model)
    out = np.empty((n, len(pts), 2))
    for i, angles in enumerate(truth):
        offset = np.array([rng.uniform(-0.3, 0.3) * hw[1], rng.uniform(-0.3, 0.3) * hw[0], f])
        t = offset * (140 * f / (0.25 * hw[0])) / f
        rvec, _ = cv2.Rodrigues(rotation_from_euler(*angles))
        proj, _ = cv2.projectPoints(pts, rvec, t, camera.matrix, None)
        out[i] = proj.reshape(-1, 2) + rng.normal(0, 1, (len(pts), 2))
    return out, truth, camera


def opencv_loop(model, landmarks, camera):
    pts = face_model(model)
    rotations = []
    for lm in landmarks:
        if len(pts) >= 6:
            _, rvec, _ = cv2.solvePnP(pts, lm, camera.matrix, None, flags=cv2.SOLVEPNP_ITERATIVE)
        else:
            _, r0, t0 = cv2.solvePnP(pts, lm, camera.matrix, None, flags=cv2.SOLVEPNP_EPNP)
            _, rvec, _ = cv2.solvePnP(pts, lm, camera.matrix, None, r0, t0, useExtrinsicGuess=True,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
        rotations.append(cv2.Rodrigues(rvec)[0])
    return np.array(rotations)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for model in ("5pt", "68pt"):
        for n in (1, 10, 100):
            landmarks, truth, camera = faces(model, n, rng)
            ours = median_ms(lambda: edgecv.head_pose(landmarks, (1080, 1920), model=model, camera=camera), args.repeat)
            cv = median_ms(lambda: opencv_loop(model, landmarks, camera), args.repeat)
            our_err = np.abs(edgecv.head_pose(landmarks, (1080, 1920), model=model, camera=camera).angles - truth)
            cv_err = np.abs(euler_from_rotation(opencv_loop(model, landmarks, camera)) - truth)
            rows.append({"model": model, "faces": n, "edgecv_ms": round(ours, 3), "opencv_ms": round(cv, 3),
                         "speedup": round(cv / ours, 2), "edgecv_mean_err_deg": round(float(our_err.mean()), 3),
                         "opencv_mean_err_deg": round(float(cv_err.mean()), 3)})
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
