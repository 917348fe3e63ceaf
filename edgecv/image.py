"""Reading and checking input images (BGR ``uint8`` arrays, as OpenCV returns them)."""

from __future__ import annotations

import os
from typing import Union

import numpy as np

from .errors import ImageReadError, InvalidImageError

ImageLike = Union[np.ndarray, str, "os.PathLike[str]"]


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as a BGR uint8 ``(H, W, 3)`` array; raises :class:`ImageReadError`."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ImageReadError(f"image file not found: {p}")
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"cannot read image file {p}: {exc.strerror or exc}") from exc
    return decode_image(data, f"image file {p}")


def _truncated(data: np.ndarray) -> bool:
    """A JPEG without its end marker or a PNG without its IEND chunk: the decoder would fill the missing
    part with grey and only warn."""
    head = data[:8].tobytes()
    tail = data[-64:].tobytes().rstrip(b"\0\r\n ")
    if head[:3] == b"\xff\xd8\xff":
        return not tail.endswith(b"\xff\xd9")
    if head == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-32:].tobytes()
    return False


def decode_image(data: "bytes | np.ndarray", where: str = "image") -> np.ndarray:
    """Decode an encoded image (JPEG, PNG, WebP, BMP...) to BGR uint8 ``(H, W, 3)``; ImageReadError for empty,
    undecodable or truncated data (``where`` names the source in the message)."""
    import cv2

    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buf.size == 0:
        raise ImageReadError(f"cannot decode {where}: it is empty (0 bytes)")
    if _truncated(buf):
        raise ImageReadError(f"cannot decode {where}: the file is truncated (no end marker)")
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageReadError(f"cannot decode {where}: not an image, or a damaged one")
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
