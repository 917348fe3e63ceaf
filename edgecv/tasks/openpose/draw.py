"""Drawing people: skeletons (bones between found parts) and keypoints, one colour per person (or track)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...drawing import canvas_for, colour_for, label, line_width, point
from .layouts import SKELETON

if TYPE_CHECKING:
    from .result import Poses


def draw_poses(image: np.ndarray, poses: "Poses", copy: bool = True) -> np.ndarray:
    import cv2

    canvas = canvas_for(image, copy, poses.frame)
    lw = line_width(canvas)
    for p, pose in enumerate(poses):
        tracked = pose.track_id is not None and pose.track_id >= 0
        colour = colour_for(pose.track_id if tracked else p)
        kp = pose.keypoints
        for a, b in SKELETON:
            if kp[a, 2] > 0 and kp[b, 2] > 0:
                cv2.line(canvas, point(kp[a, 0], kp[a, 1]), point(kp[b, 0], kp[b, 1]), colour, lw + 1, cv2.LINE_AA)
        for x, y, s in kp:
            if s > 0:
                cv2.circle(canvas, point(x, y), lw + 2, colour, -1, cv2.LINE_AA)
        if tracked and pose.visible.any():
            top = kp[pose.visible]
            label(canvas, f"#{pose.track_id}", float(top[:, 0].min()), float(top[:, 1].min()), colour, lw)
    return canvas
