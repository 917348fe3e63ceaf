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
    return canvas
