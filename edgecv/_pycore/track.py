"""The ByteTrack-style tracker in numpy, as csrc/edgecv/track.cpp: a constant-velocity Kalman filter on (centre x,
centre y, aspect, height), two-stage association (high-score detections with every live track, low-score ones with
the tracked ones left), unconfirmed tracks, births and deaths; optimal assignment with a cost limit (Hungarian)."""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np

from ._checks import checked, f32, leading_dim, require
from .faces import box_iou

POSITION_WEIGHT = 1.0 / 20
VELOCITY_WEIGHT = 1.0 / 160
BIG = 1e9


class TrackerParams:
    """ByteTrack-style tracker settings (defaults from the core)."""

    def __init__(self) -> None:
        self.high_threshold = f32(0.5)
        self.low_threshold = f32(0.1)
        self.birth_threshold = f32(0.6)
        self.first_min_iou = f32(0.2)
        self.second_min_iou = f32(0.5)
        self.unconfirmed_min_iou = f32(0.3)
        self.fuse_score = True
        self.track_buffer = 30
        self.frame_rate = f32(30.0)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in ("high_threshold", "low_threshold", "birth_threshold", "first_min_iou", "second_min_iou",
                        "unconfirmed_min_iou", "fuse_score", "track_buffer", "frame_rate"):
            raise AttributeError(f"TrackerParams has no setting {name!r}")
        if name == "fuse_score":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(name)
            value = bool(value)
        elif name == "track_buffer":
            if isinstance(value, (bool, float)) or not isinstance(value, (int, np.integer)):
                raise TypeError(name)
            value = int(value)
        else:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
                raise TypeError(name)
            value = f32(float(value))
        object.__setattr__(self, name, value)


def assign(cost: np.ndarray, limit: float) -> List[int]:
    """Per row, the column of an optimal one-to-one assignment minimising the total cost, or -1; a pair costing
    more than ``limit`` is never chosen (rows and columns may stay unmatched)."""
    rows, cols = cost.shape
    match = [-1] * rows
    if rows == 0 or cols == 0:
        return match
    n = rows + cols
    a = np.zeros((n, n))
    a[:rows, :cols] = np.where(cost <= limit, cost, BIG)
    a[:rows, cols:] = BIG
    a[rows:, :cols] = BIG
    a[np.arange(rows), cols + np.arange(rows)] = limit / 2
    a[rows + np.arange(cols), np.arange(cols)] = limit / 2
    u, v = np.zeros(n + 1), np.zeros(n + 1)
    p, way = np.zeros(n + 1, np.int64), np.zeros(n + 1, np.int64)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            cur = a[i0 - 1, :] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            candidates = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[p[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    for j in range(1, cols + 1):
        i = int(p[j])
        if 1 <= i <= rows and cost[i - 1, j - 1] <= limit:
            match[i - 1] = j - 1
    return match


def _measurement(b: np.ndarray) -> np.ndarray:
    w, h = float(b[2] - b[0]), float(b[3] - b[1])  # float32 differences, as the C++ computes them
    return np.array([float(b[0]) + w / 2, float(b[1]) + h / 2, w / h, h])


def _box(x: np.ndarray) -> np.ndarray:
    h, w = x[3], x[2] * x[3]
    return np.array([x[0] - w / 2, x[1] - h / 2, x[0] + w / 2, x[1] + h / 2], np.float32)


class _Track:
    def __init__(self, z: np.ndarray, frame: int, score: float) -> None:
        self.x = np.zeros(8)
        self.x[:4] = z
        h = z[3]
        std = np.array([2 * POSITION_WEIGHT * h, 2 * POSITION_WEIGHT * h, 1e-2, 2 * POSITION_WEIGHT * h,
                        10 * VELOCITY_WEIGHT * h, 10 * VELOCITY_WEIGHT * h, 1e-5, 10 * VELOCITY_WEIGHT * h])
        self.P = np.diag(std * std)
        self.id, self.state, self.activated = -1, "tracked", False
        self.last_frame = self.start_frame = frame
        self.score = score

    def predict(self) -> None:
        if self.state == "lost":
            self.x[7] = 0
        h = self.x[3]
        q = np.array([POSITION_WEIGHT * h, POSITION_WEIGHT * h, 1e-2, POSITION_WEIGHT * h, VELOCITY_WEIGHT * h,
                      VELOCITY_WEIGHT * h, 1e-5, VELOCITY_WEIGHT * h])
        self.x[:4] += self.x[4:]
        F = np.eye(8)
        F[:4, 4:] = np.eye(4)
        self.P = F @ self.P @ F.T + np.diag(q * q)

    def correct(self, z: np.ndarray) -> None:
        h = self.x[3]
        r = np.array([POSITION_WEIGHT * h, POSITION_WEIGHT * h, 1e-1, POSITION_WEIGHT * h])
        S = self.P[:4, :4] + np.diag(r * r)
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            return  # degenerate covariance: keep the prediction
        kt = np.linalg.solve(L.T, np.linalg.solve(L, self.P[:4, :]))  # S^-1 (H P), 4 x 8
        self.x = self.x + kt.T @ (z - self.x[:4])
        self.P = self.P - kt.T @ self.P[:4, :]


class ByteTracker:
    """Multi-object tracker (ByteTrack-style, Kalman filter + two-stage association). Not thread safe: one per
    stream."""

    def __init__(self, params: Optional[TrackerParams] = None) -> None:
        p = params or TrackerParams()

        def unit(v: float) -> bool:
            return bool(np.isfinite(v) and 0 <= v <= 1)
        require(unit(p.high_threshold) and unit(p.low_threshold) and unit(p.birth_threshold),
                "tracker thresholds must be in [0, 1]")
        require(p.low_threshold <= p.high_threshold, "tracker low_threshold must not exceed high_threshold")
        require(unit(p.first_min_iou) and unit(p.second_min_iou) and unit(p.unconfirmed_min_iou),
                "tracker IoU limits must be in [0, 1]")
        require(0 <= p.track_buffer <= 100000, "track_buffer must be in [0, 100000]")
        require(bool(np.isfinite(p.frame_rate) and 0 < p.frame_rate <= 10000), "frame_rate must be in (0, 10000]")
        self.params = p
        self._tracks: List[_Track] = []
        self._next_id = 1
        self._frame = 0

    def reset(self) -> None:
        """Forget every track (ids keep increasing)."""
        self._tracks = []
        self._frame = 0

    @property
    def live_tracks(self) -> int:
        return sum(t.state != "removed" for t in self._tracks)

    def update(self, boxes: Any, scores: Any) -> np.ndarray:
        """boxes (N, 4) float32 xyxy, scores (N,) float32 -> track id per detection (N,) int64, -1 when it belongs to
        no confirmed track."""
        n = leading_dim(scores, "scores")
        s, _ = checked(scores, "scores", np.float32, [[-1]])
        b, _ = checked(boxes, "boxes", np.float32, [[n, 4]])
        require(n <= 100000, "tracker: too many detections in one frame")
        require(bool(np.isfinite(b).all() and np.isfinite(s).all()), "tracker: boxes and scores must be finite")
        require(bool(((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])).all()),
                "tracker: boxes must be xyxy with x2 > x1 and y2 > y1")
        self._frame += 1
        p, frame = self.params, self._frame
        ids = np.full(n, -1, np.int64)
        high = [i for i in range(n) if s[i] >= p.high_threshold]
        low = [i for i in range(n) if p.low_threshold < s[i] < p.high_threshold]
        pool: List[Any] = []
        unconfirmed: List[Any] = []
        for t in self._tracks:
            if t.state == "removed":
                continue
            t.predict()
            (unconfirmed if t.state == "tracked" and not t.activated else pool).append(t)
        predicted = {id(t): _box(t.x) for t in self._tracks}

        def match(tracks: List[_Track], dets: List[int], min_sim: float, fuse: bool) -> List[int]:
            cost = np.zeros((len(tracks), len(dets)))
            for a, t in enumerate(tracks):
                if dets:
                    sim = box_iou(predicted[id(t)], b[dets]).astype(np.float64)
                    if fuse:
                        sim = sim * s[dets].astype(np.float64)
                    cost[a] = 1.0 - sim
            return assign(cost, 1.0 - float(min_sim))

        def take(t: _Track, det: int) -> None:
            t.correct(_measurement(b[det]))
            t.state = "tracked"
            if not t.activated:
                t.id = self._next_id
                self._next_id += 1
            t.activated = True
            t.last_frame = frame
            t.score = float(s[det])
            ids[det] = t.id

        first = match(pool, high, p.first_min_iou, p.fuse_score)
        high_used = [False] * len(high)
        remaining = []
        for a, t in enumerate(pool):
            if first[a] >= 0:
                take(t, high[first[a]])
                high_used[first[a]] = True
            elif t.state == "tracked":
                remaining.append(t)
        second = match(remaining, low, p.second_min_iou, False)
        for a, t in enumerate(remaining):
            if second[a] >= 0:
                take(t, low[second[a]])
            else:
                t.state = "lost"
        high_left = [d for k, d in enumerate(high) if not high_used[k]]
        third = match(unconfirmed, high_left, p.unconfirmed_min_iou, p.fuse_score)
        left_used = [False] * len(high_left)
        for a, t in enumerate(unconfirmed):
            if third[a] >= 0:
                take(t, high_left[third[a]])
                left_used[third[a]] = True
            else:
                t.state = "removed"
        for k, det in enumerate(high_left):
            if left_used[k] or s[det] < p.birth_threshold:
                continue
            t = _Track(_measurement(b[det]), frame, float(s[det]))
            t.activated = frame == 1
            if t.activated:
                t.id = self._next_id
                self._next_id += 1
                ids[det] = t.id
            self._tracks.append(t)
        max_lost = int(np.float32(p.frame_rate) / np.float32(30) * np.float32(p.track_buffer))
        for t in self._tracks:
            if t.state == "lost" and frame - t.last_frame > max_lost:
                t.state = "removed"
        for lost in self._tracks:
            if lost.state != "lost":
                continue
            lb = _box(lost.x)
            for live in self._tracks:
                if live.state == "tracked" and live.activated and box_iou(lb, _box(live.x)[None])[0] > 0.85:
                    lost.state = "removed"
                    break
        self._tracks = [t for t in self._tracks if t.state != "removed"]
        return ids
