"""OpenPose results: :class:`Poses` (all people of one image) and :class:`Pose` (one of them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Tuple

import numpy as np

from ..base import ItemsMixin
from .layouts import COCO18_NAMES


@dataclass(frozen=True)
class Pose:
    """One person: ``keypoints`` (18, 3) as x, y, score (score 0 where a part is missing)."""

    keypoints: np.ndarray
    score: float

    @property
    def visible(self) -> np.ndarray:
        """Boolean mask (18,) of the parts that were found."""
        return self.keypoints[:, 2] > 0


@dataclass
class Poses(ItemsMixin):
    """People found in one image, best first, in original-image pixels.

    ``keypoints`` (P, 18, 3) float32 as x, y, score in COCO-18 order (``names``); a missing part has
    score 0 (and x = y = 0). ``scores`` (P,) is each person's total score.
    """

    keypoints: np.ndarray
    scores: np.ndarray

    @property
    def names(self) -> Tuple[str, ...]:
        return COCO18_NAMES

    def __getitem__(self, i: int) -> Pose:
        return Pose(self.keypoints[i], float(self.scores[i]))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: ``{"task": "openpose", "count": n, "people": [{"score", "keypoints": {name: [x, y, s]}}]}``
        (found parts only)."""
        people = []
        for pose in self:
            kps = {name: [round(float(x), 2), round(float(y), 2), round(float(s), 4)]
                   for name, (x, y, s) in zip(self.names, pose.keypoints) if s > 0}
            people.append({"score": round(pose.score, 4), "keypoints": kps})
        return {"task": "openpose", "count": len(people), "people": people}

    def draw(self, image: np.ndarray, copy: bool = True) -> np.ndarray:
        """Draw each person's skeleton on a BGR image (a copy unless ``copy=False``)."""
        from .draw import draw_poses

        return draw_poses(image, self, copy=copy)
