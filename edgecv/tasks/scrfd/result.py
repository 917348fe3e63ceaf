"""SCRFD results: :class:`Faces` (all faces of one image) and :class:`Face` (one of them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np

from ..base import ItemsMixin

LANDMARK_NAMES_5 = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")


@dataclass(frozen=True)
class Face:
    """One detected face: ``box`` (4,) xyxy, ``score``, ``landmarks`` (5, 2) or None, and
    ``head_pose`` (yaw, pitch, roll in degrees, rvec, tvec, rms_px) when it was estimated."""

    box: np.ndarray
    score: float
    landmarks: Optional[np.ndarray]
    head_pose: Optional[Dict[str, Any]] = None


@dataclass
class Faces(ItemsMixin):
    """Faces found in one image, sorted by descending score, in original-image pixels.

    ``boxes`` (N, 4) float32 xyxy; ``scores`` (N,) float32; ``landmarks`` (N, 5, 2) float32 in the
    order left eye (in the image), right eye, nose tip, left mouth corner, right mouth corner,
    or None for models without landmarks.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: Optional[np.ndarray] = None
    #: edgecv.tasks.scrfd.headpose.HeadPoses of the faces, when detect(..., head_pose=True)
    head_pose: Optional[Any] = None

    def __getitem__(self, i: int) -> Face:
        lm = None if self.landmarks is None else self.landmarks[i]
        pose = None if self.head_pose is None else self.head_pose.to_dict(i)
        return Face(self.boxes[i], float(self.scores[i]), lm, pose)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: ``{"task": "scrfd", "count": n, "faces": [{"box", "score", "landmarks"}]}``."""
        faces = []
        for f in self:
            item: Dict[str, Any] = {"box": [round(float(v), 2) for v in f.box], "score": round(f.score, 5)}
            if f.landmarks is not None:
                item["landmarks"] = [[round(float(x), 2), round(float(y), 2)] for x, y in f.landmarks]
            if f.head_pose is not None:
                item["head_pose"] = f.head_pose
            faces.append(item)
        return {"task": "scrfd", "count": len(faces), "faces": faces}

    def draw(self, image: np.ndarray, copy: bool = True) -> np.ndarray:
        """Draw boxes, scores, landmarks and head-pose axes on a BGR image (a copy unless ``copy=False``)."""
        from .draw import draw_faces

        return draw_faces(image, self, copy=copy)
