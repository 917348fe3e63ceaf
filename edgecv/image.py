"""Reading and checking input images (BGR ``uint8`` arrays, as OpenCV returns them)."""

from __future__ import annotations

import os
from typing import Union

import numpy as np

from .errors import ImageReadError, InvalidImageError

ImageLike = Union[np.ndarray, str, "os.PathLike[str]"]


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as a BGR uint8 ``(H, W, 3)`` array; raises :class:`ImageReadError`."""
    import cv2

    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ImageReadError(f"image file not found: {p}")
    data = np.fromfile(p, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageReadError(f"cannot decode image file: {p}")
    return image


def as_bgr_image(image: ImageLike) -> np.ndarray:
    """Return ``image`` as a checked BGR uint8 ``(H, W, 3)`` array (reading it if it is a path)."""
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    if image is None:
        raise InvalidImageError("image is None (did cv2.imread fail to read the file?)")
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"image must be a numpy array or a path, got {type(image).__name__}")
    if image.ndim == 2:
        raise InvalidImageError(
            f"image is 2-D {image.shape} (grayscale); expected (H, W, 3) BGR: "
            "convert with cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        hint = " (BGRA? use cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))" if image.ndim == 3 and image.shape[2] == 4 else ""
        raise InvalidImageError(f"image has shape {image.shape}; expected (H, W, 3) BGR{hint}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImageError(f"image is empty: shape {image.shape}")
    if image.dtype != np.uint8:
        raise InvalidImageError(f"image dtype is {image.dtype}; expected uint8 (0..255)")
    return image
