"""Camera-native frames: pixel formats, rotation, and the geometry between a frame as given and the upright
picture the network sees.

Formats (``format=``): ``bgr`` (default), ``rgb``, ``bgra``, ``rgba`` (H, W, 3|4); ``gray`` (H, W); YUV 4:2:0
``nv21``, ``nv12``, ``i420`` as OpenCV lays them out, a (H * 3 / 2, W) uint8 array (even H and W); ``yuyv``
(H, W, 2), pairs Y0 U Y1 V (even W). ``rotation`` in {0, 90, 180, 270} is how many degrees the frame must be
turned clockwise to be upright: Android's ``ImageInfo.rotationDegrees`` (CameraX) and MediaPipe's
``rotation_degrees`` mean the same, so pass them as they are. edgecv turns the frame upright before inference,
and results come back in the coordinates of the frame as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .errors import InvalidImageError, InvalidInputError

FORMATS = ("bgr", "rgb", "bgra", "rgba", "gray", "nv21", "nv12", "i420", "yuyv")
ROTATIONS = (0, 90, 180, 270)
YUV420 = ("nv21", "nv12", "i420")
#: cv2.cvtColor codes that turn each format into BGR (None: already BGR)
_TO_BGR = {"bgr": None, "rgb": "COLOR_RGB2BGR", "bgra": "COLOR_BGRA2BGR", "rgba": "COLOR_RGBA2BGR",
           "gray": "COLOR_GRAY2BGR", "nv21": "COLOR_YUV2BGR_NV21", "nv12": "COLOR_YUV2BGR_NV12",
           "i420": "COLOR_YUV2BGR_I420", "yuyv": "COLOR_YUV2BGR_YUYV"}


def check_format(format: str) -> str:
    if format not in FORMATS:
        raise InvalidInputError(f"format must be one of {list(FORMATS)}, got {format!r:.40}")
    return format


def frame_shape(format: str, height: int, width: int) -> Tuple[int, ...]:
    """The array shape of a ``format`` frame holding a ``height`` x ``width`` picture (what ``stored_size``
    reads back), e.g. to lay out raw bytes from a camera."""
    check_format(format)
    if format in YUV420:
        return (height * 3 // 2, width)
    if format == "gray":
        return (height, width)
    return (height, width, {"bgr": 3, "rgb": 3, "bgra": 4, "rgba": 4, "yuyv": 2}[format])


def stored_size(frame: np.ndarray, format: str) -> Tuple[int, int]:
    """(height, width) of the picture a frame array holds; InvalidImageError when the array does not fit."""
    if not isinstance(frame, np.ndarray):
        raise InvalidImageError(f"a {format} frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise InvalidImageError(f"frame dtype is {frame.dtype}; expected uint8")
    shape = frame.shape
    if format in YUV420:
        if frame.ndim != 2 or shape[0] % 3 or shape[0] == 0 or shape[1] == 0:
            raise InvalidImageError(f"{format} frames are (H * 3 / 2, W) uint8 arrays (OpenCV's layout); got {shape}")
        h, w = shape[0] * 2 // 3, shape[1]
        if h % 2 or w % 2:
            raise InvalidImageError(f"{format} frames need an even width and height (4:2:0 chroma); got {w}x{h}")
        return h, w
    want = {"bgr": 3, "rgb": 3, "bgra": 4, "rgba": 4, "yuyv": 2}.get(format)
    if format == "gray":
        if not (frame.ndim == 2 or (frame.ndim == 3 and shape[2] == 1)):
            raise InvalidImageError(f"gray frames are (H, W) arrays; got {shape}")
    elif frame.ndim != 3 or shape[2] != want:
        raise InvalidImageError(f"{format} frames are (H, W, {want}) arrays; got {shape}")
    if shape[0] == 0 or shape[1] == 0:
        raise InvalidImageError(f"frame is empty: shape {shape}")
    if format == "yuyv" and shape[1] % 2:
        raise InvalidImageError(f"yuyv frames need an even width; got {shape[1]}")
    return shape[0], shape[1]


def layout_for_core(frame: np.ndarray, format: str) -> np.ndarray:
    """The frame in a layout the C++ core reads: any strides for packed formats; packed rows for YUV."""
    if format in YUV420 or format == "yuyv":
        if frame.strides[-1] != 1 or (format == "yuyv" and frame.strides[1] != 2):
            return np.ascontiguousarray(frame)
    if format == "gray" and frame.ndim == 3:
        return frame[..., 0]
    return frame


def to_bgr(frame: np.ndarray, format: str) -> np.ndarray:
    """The frame as a BGR (H, W, 3) image, in its stored orientation (for drawing and display)."""
    import cv2

    stored_size(frame, format)
    code = _TO_BGR[format]
    if code is None:
        return frame
    src = frame[..., 0] if format == "gray" and frame.ndim == 3 else frame
    return cv2.cvtColor(np.ascontiguousarray(src), getattr(cv2, code))


@dataclass(frozen=True)
class FrameGeometry:
    """How a frame as given relates to the upright picture: its format, rotation and stored size (H, W)."""

    format: str = "bgr"
    rotation: int = 0
    size: Tuple[int, int] = (0, 0)

    @property
    def upright_size(self) -> Tuple[int, int]:
        h, w = self.size
        return (w, h) if self.rotation in (90, 270) else (h, w)

    def to_frame(self, points: np.ndarray, centres: bool = False) -> np.ndarray:
        """Upright coordinates (..., 2) -> coordinates in the frame as given. ``centres``: pixel-centre
        coordinates (pixel i at i) instead of continuous ones (pixel i spans [i, i + 1])."""
        return _turn(points, (360 - self.rotation) % 360, self.upright_size, centres)

    def to_upright(self, points: np.ndarray, centres: bool = False) -> np.ndarray:
        """Frame coordinates (..., 2) -> upright coordinates (the inverse of :meth:`to_frame`)."""
        return _turn(points, self.rotation, self.size, centres)


def _turn(points: np.ndarray, rotation: int, hw: Tuple[int, int], centres: bool) -> np.ndarray:
    """Points of a picture of size ``hw`` (H, W) after turning it ``rotation`` degrees clockwise."""
    p = np.asarray(points, np.float32)
    if rotation == 0 or p.size == 0:
        return p.copy()
    h, w = hw
    e = 1.0 if centres else 0.0
    x, y = p[..., 0], p[..., 1]
    if rotation == 90:
        out = (h - e - y, x)
    elif rotation == 180:
        out = (w - e - x, h - e - y)
    else:  # 270
        out = (y, w - e - x)
    return np.stack(out, axis=-1).astype(np.float32)
