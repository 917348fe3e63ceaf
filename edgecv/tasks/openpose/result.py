"""OpenPose results: :class:`Poses` (all people of one image) and :class:`Pose` (one of them)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from ...tracking import box_of_points
from ..base import FrameResultMixin, ItemsMixin
from .layouts import COCO18_NAMES


@dataclass(frozen=True)
class Pose:
    """One person: ``keypoints`` (18, 3) as x, y, score (score 0 where a part is missing); ``track_id`` when
    tracked (-1: not yet)."""

    keypoints: np.ndarray
    score: float
    track_id: Optional[int] = None

    @property
    def visible(self) -> np.ndarray:
        """Boolean mask (18,) of the parts that were found."""
        return self.keypoints[:, 2] > 0


@dataclass
class Poses(ItemsMixin, FrameResultMixin):
    """People found in one image or frame, best first, in the coordinates of the frame as given.

    ``keypoints`` (P, 18, 3) float32 as x, y, score in COCO-18 order (``names``); a missing part has score 0 (and
    x = y = 0). ``scores`` (P,) is each person's total score; ``track_ids`` (P,) int64 in streams with
    ``track=True`` (a person is tracked by the box around their keypoints); ``frame``: the frame's format,
    rotation and size (``upright()`` maps the keypoints to the upright picture).
    """

    keypoints: np.ndarray
    scores: np.ndarray
    track_ids: Optional[np.ndarray] = None
    frame: Optional[Any] = None

    @property
    def names(self) -> Tuple[str, ...]:
        return COCO18_NAMES

    def __getitem__(self, i: int) -> Pose:
        track = None if self.track_ids is None else int(self.track_ids[i])
        return Pose(self.keypoints[i], float(self.scores[i]), track)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: ``{"task": "openpose", "count": n, "people": [{"score", "keypoints": {name: [x, y, s]},
        "track_id"}]}`` (found parts only)."""
        people = []
        for pose in self:
            kps = {name: [round(float(x), 2), round(float(y), 2), round(float(s), 4)]
                   for name, (x, y, s) in zip(self.names, pose.keypoints) if s > 0}
            person: Dict[str, Any] = {"score": round(pose.score, 4), "keypoints": kps}
            if pose.track_id is not None:
                person["track_id"] = pose.track_id
            people.append(person)
        return {"task": "openpose", "count": len(people), "people": people}

    def draw(self, image: np.ndarray, copy: bool = True) -> np.ndarray:
        """Draw each person's skeleton (one colour per person, or per track id) on the frame (a copy unless
        ``copy=False``)."""
        from .draw import draw_poses

        return draw_poses(image, self, copy=copy)

    # -- geometry and tracking -----------------------------------------------------------------
    def mapped(self, fn: Callable[..., np.ndarray]) -> "Poses":
        """The people with every found keypoint mapped by ``fn`` (pixel-centre coordinates)."""
        keypoints = self.keypoints.copy()
        found = keypoints[..., 2] > 0
        moved = fn(keypoints[..., :2], centres=True)
        keypoints[..., :2] = np.where(found[..., None], moved, 0.0)
        return replace(self, keypoints=keypoints)

    def track_boxes(self) -> Tuple[np.ndarray, np.ndarray]:
        """The box around each person's found keypoints, and the mean score of those keypoints."""
        boxes = np.stack([box_of_points(k[:, :2], k[:, 2] > 0) for k in self.keypoints]) if len(self) else \
            np.zeros((0, 4), np.float32)
        found = self.keypoints[..., 2] > 0
        scores = (self.keypoints[..., 2] * found).sum(axis=1) / np.maximum(found.sum(axis=1), 1)
        return boxes.astype(np.float32), scores.astype(np.float32)

    def subset(self, index: np.ndarray) -> "Poses":
        return replace(self, keypoints=self.keypoints[index], scores=self.scores[index],
                       track_ids=None if self.track_ids is None else self.track_ids[index])
