"""Drawing faces: boxes with scores or track ids, 5-point landmarks, head-pose axes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...drawing import canvas_for, colour_for, label, line_width, point

if TYPE_CHECKING:
    from .result import Faces

# One colour per SCRFD landmark: eyes, nose, mouth corners (BGR).
LANDMARK_COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 0, 255), (0, 255, 255))
BOX_COLOUR = (0, 200, 0)
#: Head-pose axes: x (toward the person's left) red, up green, out of the face blue.
AXIS_COLOURS = ((0, 0, 255), (0, 255, 0), (255, 0, 0))


def draw_faces(image: np.ndarray, faces: "Faces", copy: bool = True) -> np.ndarray:
    import cv2

    canvas = canvas_for(image, copy, faces.frame)
    lw = line_width(canvas)
    for face in faces:
        x1, y1, x2, y2 = face.box
        tracked = face.track_id is not None and face.track_id >= 0
        colour = colour_for(face.track_id) if tracked else BOX_COLOUR
        cv2.rectangle(canvas, point(x1, y1), point(x2, y2), colour, lw)
        label(canvas, f"#{face.track_id} {face.score:.2f}" if tracked else f"{face.score:.2f}", x1, y1, colour, lw)
        if face.landmarks is not None:
            for j, (x, y) in enumerate(face.landmarks):
                cv2.circle(canvas, point(x, y), lw + 1, LANDMARK_COLOURS[j % len(LANDMARK_COLOURS)], -1)
    if faces.head_pose is not None and len(faces):
        all_axes = faces.head_pose.axes()  # upright coordinates
        if faces.frame is not None and faces.frame.rotation:
            all_axes = faces.frame.to_frame(all_axes)
        for axes in all_axes:
            for end, colour in zip(axes[1:], AXIS_COLOURS):
                cv2.line(canvas, point(*axes[0]), point(*end), colour, lw + 1, cv2.LINE_AA)
    return canvas
