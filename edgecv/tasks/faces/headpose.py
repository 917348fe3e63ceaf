"""Head pose on top of face detection: a generic 3-D face model, a camera, C++ PnP, Euler angles.

It composes with any landmark source: ``head_pose(landmarks, image_size)`` for 5 points in SCRFD order or
dlib's 68, and :func:`attach_head_pose` for the faces a face model found (what
``detect(image, head_pose=True)`` calls).

Angle conventions (degrees; a face looking straight into the camera is (0, 0, 0)):

- yaw > 0: the face turns toward the image's right side (the person's left);
- pitch > 0: the chin goes up (the face looks up);
- roll > 0: the head tilts clockwise in the image (top of the head toward the image's right).

The object frame is the face model's with z negated (x toward the image's right, y down, z away from
the viewer: right-handed and equal to OpenCV's camera frame for a frontal face), and
``R = Ry(-yaw) @ Rx(-pitch) @ Rz(roll)``: a Y-X-Z decomposition, singular only at pitch = ±90°,
so yaw near ±90° (profile faces) stays well defined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

from ...errors import InvalidInputError
from ...native import core as _core
from ..spec import size_pair

if TYPE_CHECKING:
    from .result import Faces

#: Landmark indices (dlib 68) used by the 5-point model, in SCRFD's order: left-in-image eye
#: (mean of 36-41), right-in-image eye (42-47), nose tip (30), mouth corners (48, 54).
FIVE_POINT_SOURCES = (tuple(range(36, 42)), tuple(range(42, 48)), (30,), (48,), (54,))


@lru_cache(maxsize=None)
def face_model(kind: str = "5pt") -> np.ndarray:
    """Object points (N, 3) float64 of the generic face model in the right-handed object frame.
    ``kind``: ``"68pt"`` (dlib order) or ``"5pt"`` (SCRFD order)."""
    raw = np.loadtxt(Path(__file__).with_name("face_model_68.csv"), delimiter=",", comments="#")
    points = raw * np.array([1.0, 1.0, -1.0])  # z toward the viewer -> away from the viewer
    if kind == "68pt":
        model = points
    elif kind == "5pt":
        model = np.stack([points[list(idx)].mean(axis=0) for idx in FIVE_POINT_SOURCES])
    else:
        raise InvalidInputError(f"unknown face model '{kind}'; choose '5pt' or '68pt'")
    model = np.ascontiguousarray(model)
    model.setflags(write=False)
    return model


def _image_hw(image_size) -> Tuple[int, int]:
    """(height, width) from a size pair or an image array."""
    if isinstance(image_size, np.ndarray) and image_size.ndim >= 2:
        image_size = image_size.shape[:2]
    if image_size is None or isinstance(image_size, (int, np.integer)):
        raise InvalidInputError(f"image_size must be (height, width) or an image, got {image_size!r}")
    return size_pair(image_size, "image_size", 1, 1 << 20)


@dataclass(frozen=True)
class Camera:
    """Pinhole camera: ``matrix`` [[fx, s, cx], [0, fy, cy], [0, 0, 1]] and optional ``dist``
    (k1, k2, p1, p2[, k3], OpenCV order)."""

    matrix: np.ndarray
    dist: Optional[np.ndarray] = None

    def __post_init__(self):
        m = np.asarray(self.matrix, dtype=np.float64)
        if m.shape != (3, 3) or not np.all(np.isfinite(m)) or m[0, 0] <= 0 or m[1, 1] <= 0:
            raise InvalidInputError(f"camera matrix must be a finite 3x3 with positive fx, fy; got {m.tolist()}")
        object.__setattr__(self, "matrix", m)
        if self.dist is not None:
            d = np.asarray(self.dist, dtype=np.float64).ravel()
            if d.size not in (0, 4, 5) or not np.all(np.isfinite(d)):
                raise InvalidInputError("dist must hold 4 (k1 k2 p1 p2) or 5 (+ k3) finite coefficients")
            object.__setattr__(self, "dist", d if d.size else None)

    @classmethod
    def from_focal(cls, image_size, focal: Optional[float] = None) -> "Camera":
        """fx = fy = ``focal`` (default: the image width), principal point at the image centre."""
        h, w = _image_hw(image_size)
        f = float(w if focal is None else focal)
        return cls(np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]]))

    @classmethod
    def from_fov(cls, image_size, fov: float = 60.0) -> "Camera":
        """From the horizontal field of view in degrees: fx = (w / 2) / tan(fov / 2)."""
        h, w = _image_hw(image_size)
        if not 0 < fov < 180:
            raise InvalidInputError(f"fov must be in (0, 180) degrees, got {fov}")
        return cls.from_focal((h, w), (w / 2) / math.tan(math.radians(fov) / 2))

    @classmethod
    def from_diagonal_fov(cls, image_size, dfov: float) -> "Camera":
        """From the diagonal field of view in degrees: f = sqrt(w² + h²) / 2 / tan(dfov / 2)."""
        h, w = _image_hw(image_size)
        if not 0 < dfov < 180:
            raise InvalidInputError(f"dfov must be in (0, 180) degrees, got {dfov}")
        return cls.from_focal((h, w), math.hypot(w, h) / 2 / math.tan(math.radians(dfov) / 2))


def rotation_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation (object -> camera) for angles in degrees: Ry(-yaw) @ Rx(-pitch) @ Rz(roll)."""
    b, a, g = np.radians([-yaw, -pitch, roll])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(g), -np.sin(g), 0], [np.sin(g), np.cos(g), 0], [0, 0, 1]])
    return ry @ rx @ rz


def euler_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 3) yaw, pitch, roll in degrees (inverse of rotation_from_euler)."""
    r = np.asarray(rotation, dtype=np.float64)
    cos_a = np.hypot(r[..., 1, 0], r[..., 1, 1])
    a = np.arctan2(-r[..., 1, 2], cos_a)
    regular = cos_a > 1e-9
    b = np.where(regular, np.arctan2(r[..., 0, 2], r[..., 2, 2]), np.arctan2(-r[..., 2, 0], r[..., 0, 0]))
    g = np.where(regular, np.arctan2(r[..., 1, 0], r[..., 1, 1]), 0.0)
    return np.degrees(np.stack([-b, -a, g], axis=-1))


def quaternion_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) unit quaternions (w, x, y, z) with w >= 0."""
    r = np.asarray(rotation, dtype=np.float64).reshape(-1, 3, 3)
    out = np.empty((len(r), 4))
    for i, m in enumerate(r):
        k = np.array([[m[0, 0] - m[1, 1] - m[2, 2], m[1, 0] + m[0, 1], m[2, 0] + m[0, 2], m[2, 1] - m[1, 2]],
                      [m[1, 0] + m[0, 1], m[1, 1] - m[0, 0] - m[2, 2], m[2, 1] + m[1, 2], m[0, 2] - m[2, 0]],
                      [m[2, 0] + m[0, 2], m[2, 1] + m[1, 2], m[2, 2] - m[0, 0] - m[1, 1], m[1, 0] - m[0, 1]],
                      [m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1], m[0, 0] + m[1, 1] + m[2, 2]]]) / 3
        values, vectors = np.linalg.eigh(k)
        x, y, z, w = vectors[:, np.argmax(values)]
        q = np.array([w, x, y, z])
        out[i] = q if w >= 0 else -q
    return out.reshape(np.asarray(rotation).shape[:-2] + (4,))


@dataclass
class HeadPoses:
    """Head poses of N faces. Angles in degrees (see module docs); ``rvecs``/``tvecs`` map the face
    model (object frame) to the camera; ``rms`` is the reprojection error in pixels."""

    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    rvecs: np.ndarray
    tvecs: np.ndarray
    rotations: np.ndarray
    rms: np.ndarray
    camera: Camera
    model: str = "5pt"

    def __len__(self) -> int:
        return int(self.yaw.shape[0])

    @property
    def angles(self) -> np.ndarray:
        """(N, 3): yaw, pitch, roll in degrees."""
        return np.stack([self.yaw, self.pitch, self.roll], axis=-1)

    @property
    def quaternions(self) -> np.ndarray:
        """(N, 4) unit quaternions (w, x, y, z) of the rotations."""
        return quaternion_from_rotation(self.rotations)

    def to_dict(self, i: int) -> dict:
        return {"yaw": round(float(self.yaw[i]), 2), "pitch": round(float(self.pitch[i]), 2),
                "roll": round(float(self.roll[i]), 2), "rvec": [round(float(v), 5) for v in self.rvecs[i]],
                "tvec": [round(float(v), 3) for v in self.tvecs[i]], "rms_px": round(float(self.rms[i]), 3)}

    def subset(self, index: np.ndarray) -> "HeadPoses":
        """The poses at ``index``."""
        from dataclasses import replace

        return replace(self, yaw=self.yaw[index], pitch=self.pitch[index], roll=self.roll[index],
                       rvecs=self.rvecs[index], tvecs=self.tvecs[index], rotations=self.rotations[index],
                       rms=self.rms[index])

    def axes(self, length: float = 60.0) -> np.ndarray:
        """(N, 4, 2) image points of the model origin and the ends of its x (face's left-right,
        toward the image's right), y (up) and z (out of the face, toward the viewer) axes."""
        import cv2

        pts = np.array([[0, 0, 0], [length, 0, 0], [0, -length, 0], [0, 0, -length]], np.float64)
        out = np.empty((len(self), 4, 2))
        for i in range(len(self)):
            projected, _ = cv2.projectPoints(pts, self.rvecs[i], self.tvecs[i], self.camera.matrix, self.camera.dist)
            out[i] = projected.reshape(4, 2)
        return out


def head_pose(landmarks: np.ndarray, image_size, model: str = "5pt", camera: Optional[Camera] = None,
              max_iterations: int = 50) -> HeadPoses:
    """Head pose of one face ``(K, 2)`` or many ``(N, K, 2)`` from landmarks in pixels.

    ``model``: ``"5pt"`` (SCRFD order: left-in-image eye, right eye, nose tip, left and right mouth
    corners) or ``"68pt"`` (dlib order). ``image_size``: (height, width) or the image itself; used for
    the default camera, focal length = image width with the principal point at the centre (pass
    ``camera=Camera.from_fov(...)`` or a calibrated ``Camera`` for better angles).
    """
    points = face_model(model)
    if landmarks is None:
        raise InvalidInputError("landmarks is None")
    try:
        lm = np.asarray(landmarks, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"landmarks must be numeric (K, 2) or (N, K, 2) pixels, got {landmarks!r:.60}") from None
    if lm.ndim == 2:
        lm = lm[None]
    if lm.ndim != 3 or lm.shape[1:] != (len(points), 2):
        raise InvalidInputError(f"landmarks for the {model} model must be ({len(points)}, 2) or "
                                f"(N, {len(points)}, 2); got {np.asarray(landmarks).shape}")
    camera = camera or Camera.from_focal(image_size)
    n = lm.shape[0]
    if n == 0:
        empty = np.zeros((0,))
        return HeadPoses(empty, empty, empty, np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3, 3)), empty,
                         camera, model)
    rvecs, rotations, tvecs, rms = _core.solve_pnp(points, np.ascontiguousarray(lm), camera.matrix, camera.dist,
                                                   max_iterations=max_iterations)
    angles = euler_from_rotation(rotations)
    return HeadPoses(angles[:, 0], angles[:, 1], angles[:, 2], rvecs, tvecs, rotations, rms, camera, model)


def attach_head_pose(faces: "Faces", image_hw: Tuple[int, int], camera: Optional[Camera] = None) -> "Faces":
    """Estimate the head pose of every face from its 5 landmarks and store it in ``faces.head_pose``."""
    if faces.landmarks is None:
        raise InvalidInputError("head_pose needs landmarks, and this model has no kps outputs")
    if camera is not None and not isinstance(camera, Camera):
        raise InvalidInputError(f"camera must be an edgecv.Camera, got {type(camera).__name__}")
    faces.head_pose = head_pose(faces.landmarks, image_hw, model="5pt", camera=camera)
    return faces


__all__ = ["Camera", "HeadPoses", "head_pose", "attach_head_pose", "face_model", "euler_from_rotation",
           "rotation_from_euler", "quaternion_from_rotation"]
