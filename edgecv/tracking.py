"""Tracking by detection with stable ids: the C++ ByteTrack-style tracker (``_core.ByteTracker``: Kalman filter
on the box state, two-stage association of high- and low-score detections, birth and death rules) applied
to any result that can give boxes and scores (faces: their boxes; people: the box around their keypoints).

Why not a library: the maintained Python trackers pull in ``opencv-python`` (which clashes with the headless
build), ``supervision``, ``scipy`` and Python >= 3.10, too heavy for a Pi or mobile Python.
``benchmarks/bench_track.py`` compares this tracker's identities with the ``trackers`` package's ByteTrack.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .errors import InvalidInputError
from .native import core

_D = core.TrackerParams()
#: Tracker settings and their defaults (the C++ TrackerParams).
PARAMS: Dict[str, Any] = {name: getattr(_D, name) for name in (
    "high_threshold", "low_threshold", "birth_threshold", "first_min_iou", "second_min_iou", "unconfirmed_min_iou",
    "fuse_score", "track_buffer", "frame_rate")}


class Tracker:
    """One stream's tracker. ``update(result)`` returns the result with ``track_ids`` (int64, -1 = none yet),
    keeping the detections scoring at least ``keep_threshold`` and the low-score ones a track claimed."""

    def __init__(self, keep_threshold: float = 0.0, **params: Any) -> None:
        unknown = set(params) - set(PARAMS)
        if unknown:
            raise InvalidInputError(f"unknown tracker setting(s) {sorted(unknown)}; settings: {sorted(PARAMS)}")
        p = core.TrackerParams()
        try:
            for name, value in params.items():
                if isinstance(value, bool) != isinstance(PARAMS[name], bool):
                    raise TypeError(name)
                setattr(p, name, value)
        except TypeError:
            raise InvalidInputError(f"bad tracker settings {params!r:.100}") from None
        self.params = p
        self._tracker = core.ByteTracker(p)
        self.keep_threshold = float(keep_threshold)

    def update(self, result: Any) -> Any:
        boxes, scores = result.track_boxes()
        ids = self._tracker.update(np.ascontiguousarray(boxes, np.float32), np.ascontiguousarray(scores, np.float32))
        keep = np.flatnonzero((scores >= self.keep_threshold) | (ids >= 0))
        out = result.subset(keep)
        out.track_ids = ids[keep]
        return out

    def reset(self) -> None:
        """Forget every track (after a cut, or a frame size change); new ids continue from the last."""
        self._tracker.reset()

    @property
    def live_tracks(self) -> int:
        return self._tracker.live_tracks


def box_of_points(points: np.ndarray, visible: Optional[np.ndarray] = None, pad: float = 0.1) -> np.ndarray:
    """xyxy box (4,) around (K, 2) points (the visible ones), padded by ``pad`` of its size on each side."""
    pts = points if visible is None else points[visible]
    if len(pts) == 0:
        return np.zeros(4, np.float32)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    margin = np.maximum((hi - lo) * pad, 1.0)
    return np.concatenate([lo - margin, hi + margin]).astype(np.float32)
