"""Camera-native test frames made from BGR photos with OpenCV (shared by the stream and core tests)."""

from __future__ import annotations

import cv2
import numpy as np


def to_format(bgr: np.ndarray, fmt: str) -> np.ndarray:
    """A BGR image as a frame of ``fmt`` (even size for YUV)."""
    h, w = bgr.shape[:2]
    bgr = bgr[: h - h % 2, : w - w % 2]
    h, w = bgr.shape[:2]
    if fmt == "bgr":
        return bgr
    if fmt in ("rgb", "bgra", "rgba", "gray"):
        return cv2.cvtColor(bgr, {"rgb": cv2.COLOR_BGR2RGB, "bgra": cv2.COLOR_BGR2BGRA, "rgba": cv2.COLOR_BGR2RGBA,
                                  "gray": cv2.COLOR_BGR2GRAY}[fmt])
    if fmt == "yuyv":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_YUYV)
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    if fmt == "i420":
        return i420
    flat = i420.reshape(-1)
    y, u, v = flat[: h * w], flat[h * w: h * w * 5 // 4], flat[h * w * 5 // 4:]
    chroma = np.stack([v, u] if fmt == "nv21" else [u, v], axis=1).reshape(-1)
    return np.concatenate([y, chroma]).reshape(h * 3 // 2, w)
