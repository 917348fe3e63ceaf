"""Drawing helpers for results (OpenCV, BGR images)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .image import as_bgr_image

if TYPE_CHECKING:
    from .results import Faces

# One colour per SCRFD landmark: eyes, nose, mouth corners (BGR).
LANDMARK_COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 0, 255), (0, 255, 255))
BOX_COLOUR = (0, 200, 0)


def _line_width(image: np.ndarray) -> int:
    return max(1, round(max(image.shape[:2]) / 500))


def draw_faces(image: np.ndarray, faces: "Faces", copy: bool = True) -> np.ndarray:
    """Draw face boxes with scores and 5-point landmarks."""
    import cv2

    canvas = as_bgr_image(image)
    if copy:
        canvas = canvas.copy()
    lw = _line_width(canvas)
    for face in faces:
        x1, y1, x2, y2 = (int(round(float(v))) for v in face.box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), BOX_COLOUR, lw)
        cv2.putText(canvas, f"{face.score:.2f}", (x1, max(0, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * lw, BOX_COLOUR, max(1, lw // 2), cv2.LINE_AA)
        if face.landmarks is not None:
            for j, (x, y) in enumerate(face.landmarks):
                colour = LANDMARK_COLOURS[j % len(LANDMARK_COLOURS)]
                cv2.circle(canvas, (int(round(float(x))), int(round(float(y)))), lw + 1, colour, -1)
    if faces.head_pose is not None and len(faces):
        # Axes of the face model: x (toward the person's left) red, up green, out of the face blue.
        for axes in faces.head_pose.axes():
            origin = tuple(int(round(v)) for v in axes[0])
            for end, colour in zip(axes[1:], ((0, 0, 255), (0, 255, 0), (255, 0, 0))):
                cv2.line(canvas, origin, tuple(int(round(v)) for v in end), colour, lw + 1, cv2.LINE_AA)
    return canvas


def draw_poses(image: np.ndarray, poses, copy: bool = True) -> np.ndarray:
    """Draw skeletons (bones between found parts) and keypoints, one colour per person."""
    import cv2

    from .pose_layouts import SKELETON

    canvas = as_bgr_image(image)
    if copy:
        canvas = canvas.copy()
    lw = _line_width(canvas)
    for p, pose in enumerate(poses):
        hue = int(37 * p) % 180
        colour = tuple(int(c) for c in cv2.cvtColor(np.uint8([[[hue, 220, 255]]]), cv2.COLOR_HSV2BGR)[0, 0])
        kp = pose.keypoints
        for a, b in SKELETON:
            if kp[a, 2] > 0 and kp[b, 2] > 0:
                cv2.line(canvas, (int(round(float(kp[a, 0]))), int(round(float(kp[a, 1])))),
                         (int(round(float(kp[b, 0]))), int(round(float(kp[b, 1])))), colour, lw + 1, cv2.LINE_AA)
        for x, y, s in kp:
            if s > 0:
                cv2.circle(canvas, (int(round(float(x))), int(round(float(y)))), lw + 2, colour, -1, cv2.LINE_AA)
    return canvas
