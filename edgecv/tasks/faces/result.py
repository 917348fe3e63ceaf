"""Face detection results (every face model: SCRFD, YuNet): :class:`Faces` (all faces of one image) and
:class:`Face` (one of them)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from ..base import FrameResultMixin, ItemsMixin

LANDMARK_NAMES_5 = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")


@dataclass(frozen=True)
class Face:
    """One detected face: ``box`` (4,) xyxy, ``score``, ``landmarks`` (5, 2) or None, ``head_pose`` (yaw, pitch,
    roll in degrees, rvec, tvec, rms_px) when it was estimated, ``track_id`` when tracked (-1: not yet)."""

    box: np.ndarray
    score: float
    landmarks: Optional[np.ndarray]
    head_pose: Optional[Dict[str, Any]] = None
    track_id: Optional[int] = None


@dataclass
class Faces(ItemsMixin, FrameResultMixin):
    """Faces found in one image or frame, best first, in the coordinates of the frame as given.

    ``boxes`` (N, 4) float32 xyxy; ``scores`` (N,) float32; ``landmarks`` (N, 5, 2) float32 in the order left eye
    (in the upright image), right eye, nose tip, left mouth corner, right mouth corner, or None for models without
    landmarks; ``track_ids`` (N,) int64 in streams with ``track=True``; ``frame``: the frame's format, rotation and
    size (``upright()`` maps everything to the upright picture).
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: Optional[np.ndarray] = None
    #: edgecv.tasks.faces.headpose.HeadPoses of the faces (upright coordinates), when detect(..., head_pose=True)
    head_pose: Optional[Any] = None
    track_ids: Optional[np.ndarray] = None
    frame: Optional[Any] = None
    #: the task of the model that found them ("scrfd", "yunet")
    task: str = "faces"

    def __getitem__(self, i: int) -> Face:
        lm = None if self.landmarks is None else self.landmarks[i]
        pose = None if self.head_pose is None else self.head_pose.to_dict(i)
        track = None if self.track_ids is None else int(self.track_ids[i])
        return Face(self.boxes[i], float(self.scores[i]), lm, pose, track)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: ``{"task": "scrfd", "count": n, "faces": [{"box", "score", "landmarks", "track_id"}]}``."""
        faces = []
        for f in self:
            item: Dict[str, Any] = {"box": [round(float(v), 2) for v in f.box], "score": round(f.score, 5)}
            if f.landmarks is not None:
                item["landmarks"] = [[round(float(x), 2), round(float(y), 2)] for x, y in f.landmarks]
            if f.head_pose is not None:
                item["head_pose"] = f.head_pose
            if f.track_id is not None:
                item["track_id"] = f.track_id
            faces.append(item)
        return {"task": self.task, "count": len(faces), "faces": faces}

    def draw(self, image: np.ndarray, copy: bool = True) -> np.ndarray:
        """Draw boxes, scores (or track ids), landmarks and head-pose axes on the frame (BGR, or the frame's own
        format: it is converted); a copy unless ``copy=False``."""
        from .draw import draw_faces

        return draw_faces(image, self, copy=copy)

    # -- geometry and tracking -----------------------------------------------------------------
    def mapped(self, fn: Callable[..., np.ndarray]) -> "Faces":
        """The faces with every point mapped by ``fn`` (continuous coordinates); boxes stay xyxy."""
        corners = fn(self.boxes.reshape(-1, 2, 2))
        boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1).astype(np.float32)
        landmarks = None if self.landmarks is None else fn(self.landmarks).astype(np.float32)
        return replace(self, boxes=boxes.reshape(-1, 4), landmarks=landmarks)

    def track_boxes(self) -> Tuple[np.ndarray, np.ndarray]:
        return self.boxes, self.scores

    def subset(self, index: np.ndarray) -> "Faces":
        """The faces at ``index`` (head poses are kept for them too)."""
        head = None if self.head_pose is None else self.head_pose.subset(index)
        return replace(self, boxes=self.boxes[index], scores=self.scores[index],
                       landmarks=None if self.landmarks is None else self.landmarks[index], head_pose=head,
                       track_ids=None if self.track_ids is None else self.track_ids[index])
