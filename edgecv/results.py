"""Typed task results: dataclasses of numpy arrays with ``draw()`` and ``to_dict()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np

LANDMARK_NAMES_5 = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")


class _Items:
    """Sequence behaviour of a result whose items are indexed by ``scores``."""

    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


@dataclass(frozen=True)
class Face:
    """One detected face: ``box`` (4,) xyxy, ``score``, ``landmarks`` (5, 2) or None, and
    ``head_pose`` (yaw, pitch, roll in degrees, rvec, tvec, rms_px) when it was estimated."""

    box: np.ndarray
    score: float
    landmarks: Optional[np.ndarray]
    head_pose: Optional[Dict[str, Any]] = None


@dataclass
class Faces(_Items):
    """Faces found in one image, sorted by descending score, in original-image pixels.

    ``boxes`` (N, 4) float32 xyxy; ``scores`` (N,) float32; ``landmarks`` (N, 5, 2) float32 in the
    order left eye (in the image), right eye, nose tip, left mouth corner, right mouth corner,
    or None for models without landmarks.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: Optional[np.ndarray] = None
    #: edgecv.headpose.HeadPoses of the faces, when detect(..., head_pose=True)
    head_pose: Optional[Any] = None

    def __getitem__(self, i: int) -> Face:
        lm = None if self.landmarks is None else self.landmarks[i]
        pose = None if self.head_pose is None else self.head_pose.to_dict(i)
        return Face(self.boxes[i], float(self.scores[i]), lm, pose)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: ``{"faces": [{"box": [...], "score": s, "landmarks": [[x, y], ...]}]}``."""
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
class Poses(_Items):
    """People found in one image, best first, in original-image pixels.

    ``keypoints`` (P, 18, 3) float32 as x, y, score in COCO-18 order (``names``); a missing part has
    score 0 (and x = y = 0). ``scores`` (P,) is each person's total score.
    """

    keypoints: np.ndarray
    scores: np.ndarray

    @property
    def names(self) -> tuple:
        from .pose_layouts import COCO18_NAMES

        return COCO18_NAMES

    def __getitem__(self, i: int) -> Pose:
        return Pose(self.keypoints[i], float(self.scores[i]))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: ``{"people": [{"score": s, "keypoints": {name: [x, y, score]}}]}`` (found parts only)."""
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


@dataclass
class DepthMap:
    """Depth of a reference view: ``depth`` (H, W) float32 in scene units (0 = none), ``confidence``
    (H, W) in 0..1, the reference ``camera`` scaled to the map, the reference ``image`` (BGR, same size)."""

    depth: np.ndarray
    confidence: np.ndarray
    camera: Any
    image: Optional[np.ndarray] = None
    index: int = -1

    def __len__(self) -> int:
        return int(np.count_nonzero(self.depth > 0))

    def to_points(self, mask: Optional[np.ndarray] = None):
        """World-space points (M, 3) float32 and colours (M, 3) uint8 RGB (None without an image) of the
        pixels with depth > 0 (and ``mask`` true)."""
        from .native import core

        m = None if mask is None else np.ascontiguousarray(mask, dtype=np.uint8)
        xyz, bgr = core.backproject(self.depth, self.camera.K, self.camera.extrinsic, m,
                                    None if self.image is None else np.ascontiguousarray(self.image))
        return xyz, (None if bgr is None else np.ascontiguousarray(bgr[:, ::-1]))

    def colorized(self) -> np.ndarray:
        """BGR visualisation of the depth within the camera's depth range (black = no depth)."""
        import cv2

        lo, hi = self.camera.depth_min, self.camera.depth_max
        scaled = np.clip((self.depth - lo) / (hi - lo), 0, 1)
        out = cv2.applyColorMap((255 * (1 - scaled)).astype(np.uint8), cv2.COLORMAP_TURBO)
        out[~(self.depth > 0)] = 0
        return out

    def draw(self, image: Optional[np.ndarray] = None) -> np.ndarray:
        """The reference image (or ``image``, resized) next to the colourised depth."""
        import cv2

        base = self.image if image is None else cv2.resize(image, self.depth.shape[::-1])
        colour = self.colorized()
        return colour if base is None else np.hstack([base, colour])

    def save(self, path) -> None:
        """Write the depth as ``.npy`` or ``.pfm`` (by suffix); read back with ``edgecv.read_depth``."""
        from .depth_io import write_depth

        write_depth(path, self.depth)

    def to_dict(self) -> Dict[str, Any]:
        valid = self.depth[self.depth > 0]
        return {"task": "mvs", "view": self.index, "height": int(self.depth.shape[0]), "width": int(self.depth.shape[1]),
                "valid_pixels": int(valid.size),
                "depth_range": [round(float(valid.min()), 4), round(float(valid.max()), 4)] if valid.size else None,
                "mean_confidence": round(float(self.confidence.mean()), 4)}
