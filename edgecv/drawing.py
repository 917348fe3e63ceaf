"""Drawing primitives shared by the tasks' ``draw`` functions (OpenCV, BGR images)."""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from .image import as_bgr_image


def canvas_for(image: np.ndarray, copy: bool, frame: Any = None) -> np.ndarray:
    """The BGR image to draw on: a copy unless ``copy=False`` (then drawn in place). A camera frame in the
    result's own format (NV21, ...) is converted to BGR first (always a new image)."""
    fmt = getattr(frame, "format", "bgr")
    if fmt != "bgr" and isinstance(image, np.ndarray) and not (image.ndim == 3 and image.shape[2] == 3):
        from .frames import to_bgr

        return np.ascontiguousarray(to_bgr(image, fmt))
    canvas = as_bgr_image(image)
    return canvas.copy() if copy else canvas


def line_width(image: np.ndarray) -> int:
    """Stroke width for an image: 1 px up to 500 px, growing with the image."""
    return max(1, round(max(image.shape[:2]) / 500))


def colour_for(index: int) -> Tuple[int, int, int]:
    """A distinct, saturated BGR colour for an index (person, track id)."""
    import cv2

    hue = int(37 * int(index)) % 180
    b, g, r = cv2.cvtColor(np.array([[[hue, 220, 255]]], np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def point(x: float, y: float) -> Tuple[int, int]:
    return int(round(float(x))), int(round(float(y)))


def label(canvas: np.ndarray, text: str, x: float, y: float, colour, width: int) -> None:
    """Text above (x, y), kept inside the image."""
    import cv2

    cv2.putText(canvas, text, (int(round(x)), max(0, int(round(y)) - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                0.4 * width, colour, max(1, width // 2), cv2.LINE_AA)
