"""Camera frames -> network input in numpy and OpenCV, as csrc/edgecv/frame.cpp: the frame as BGR floats (YUV through
the same BT.601 tables), turned upright, resized with OpenCV's bilinear sampling (upright BGR/RGB pictures with
OpenCV's 8-bit arithmetic, as the C++ core), normalised and packed with padding."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import as_array, checked, pair, require
from ..errors import InvalidInputError

#: prepare_frame has no SIMD resize of its own here: callers resize BGR pictures with OpenCV first (same values)
FUSED_LINEAR_RESIZE = False

FORMATS = ("bgr", "rgb", "bgra", "rgba", "gray", "nv21", "nv12", "i420", "yuyv")
_YUV420 = ("nv21", "nv12", "i420")


def _tables():
    i = np.arange(256, dtype=np.float32)
    y = np.float32(1.164) * np.maximum(i - 16, 0).astype(np.float32)
    return (y, np.float32(2.018) * (i - 128), np.float32(-0.391) * (i - 128), np.float32(-0.813) * (i - 128),
            np.float32(1.596) * (i - 128))


_Y, _UB, _UG, _VG, _VR = _tables()


def _yuv_to_bgr(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    yy = _Y[y]
    b = np.clip(yy + _UB[u], 0, 255)
    g = np.clip(yy + _VG[v] + _UG[u], 0, 255)
    r = np.clip(yy + _VR[v], 0, 255)
    return np.stack([b, g, r], axis=-1).astype(np.float32)


def _to_bgr_float(a: np.ndarray, fmt: str) -> np.ndarray:
    """The stored frame as (H, W, 3) float32 BGR."""
    if fmt in ("bgr", "bgra"):
        return a[..., :3].astype(np.float32)
    if fmt in ("rgb", "rgba"):
        return a[..., 2::-1].astype(np.float32)
    if fmt == "gray":
        g = (a if a.ndim == 2 else a[..., 0]).astype(np.float32)
        return np.repeat(g[..., None], 3, axis=2)
    if fmt == "yuyv":
        y = a[..., 0]
        u = np.repeat(a[:, 0::2, 1], 2, axis=1)
        v = np.repeat(a[:, 1::2, 1], 2, axis=1)
        return _yuv_to_bgr(y, u, v)
    h, w = a.shape[0] * 2 // 3, a.shape[1]
    y = a[:h]
    chroma = a[h:]
    if fmt == "i420":
        flat = chroma.reshape(-1)
        quarter = (h // 2) * (w // 2)
        u = flat[:quarter].reshape(h // 2, w // 2)
        v = flat[quarter:2 * quarter].reshape(h // 2, w // 2)
    else:
        pairs = chroma.reshape(h // 2, w // 2, 2)
        u, v = (pairs[..., 0], pairs[..., 1]) if fmt == "nv12" else (pairs[..., 1], pairs[..., 0])
    u = np.repeat(np.repeat(u, 2, axis=0), 2, axis=1)
    v = np.repeat(np.repeat(v, 2, axis=0), 2, axis=1)
    return _yuv_to_bgr(y, u, v)


def _check(a: np.ndarray, fmt: str) -> None:
    if a.dtype != np.uint8:
        raise InvalidInputError(f"frame: expected dtype uint8, got {a.dtype}")
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown pixel format '{fmt}'; formats: {' '.join(FORMATS)}")
    if fmt in ("bgr", "rgb", "bgra", "rgba"):
        channels = 3 if fmt in ("bgr", "rgb") else 4
        if a.ndim != 3 or a.shape[2] != channels:
            raise InvalidInputError(f"frame: {fmt} frames are (H, W, {channels}) arrays")
    elif fmt == "gray":
        if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1)):
            raise InvalidInputError("frame: gray frames are (H, W) arrays")
    elif fmt == "yuyv":
        if a.ndim != 3 or a.shape[2] != 2 or a.strides[2] != 1 or a.strides[1] != 2:
            raise InvalidInputError("frame: yuyv frames are (H, W, 2) arrays with packed rows (OpenCV's layout)")
    elif a.ndim != 2 or a.shape[0] % 3 != 0 or a.strides[1] != 1:
        shape = (a.shape[0] if a.ndim > 0 else 0, a.shape[1] if a.ndim > 1 else 0)
        raise InvalidInputError(f"frame: {fmt} frames are (H * 3 / 2, W) uint8 arrays with packed rows (OpenCV's "
                                f"layout); got shape {shape}")
    if a.shape[0] <= 0 or a.shape[1] <= 0 or a.shape[0] > (1 << 16) or a.shape[1] > (1 << 15):
        raise InvalidInputError("frame: empty or oversized (at most 32768 pixels per side)")


def prepare_frame(frame: Any, format: str, rotation: int, size: Any, resized: Any, mean: Any, std: Any,
                  rgb: bool = False, pad_pixel: int = 0, out: Any = None, pad_written: bool = False) -> np.ndarray:
    """Camera frame -> (1, 3, size[1], size[0]) float32 network input (see edgecv._core.prepare_frame), written
    into ``out`` when given (``pad_written`` is accepted and ignored: the padding is written again)."""
    import cv2

    a = as_array(frame, "frame")
    _check(a, format)
    require(0 <= pad_pixel <= 255, "pad_pixel must be in [0, 255]")
    out_w, out_h = pair(size, "size")
    rw, rh = pair(resized, "resized")
    with np.errstate(over="ignore"):  # a double beyond float32 becomes inf, refused below as the C++ refuses it
        mean = np.asarray([np.float32(v) for v in mean], np.float32)
        std = np.asarray([np.float32(v) for v in std], np.float32)
    height = a.shape[0] * 2 // 3 if format in _YUV420 else a.shape[0]
    width = a.shape[1]
    require(0 < width <= (1 << 15) and 0 < height <= (1 << 15), "frame: width and height must be in [1, 32768]")
    if format in _YUV420 or format == "yuyv":
        require(width % 2 == 0 and (format == "yuyv" or height % 2 == 0),
                "frame: YUV frames need an even width (and an even height for 4:2:0)")
    require(rotation in (0, 90, 180, 270), "rotation must be 0, 90, 180 or 270")
    require(0 < out_w <= 65536 and 0 < out_h <= 65536 and out_w * out_h <= (1 << 27),
            "output size must be in [1, 65536] per side and at most 2^27 pixels")
    require(1 <= rw <= out_w and 1 <= rh <= out_h, "the resized picture must fit the output")
    require(bool(np.isfinite(mean).all() and np.isfinite(std).all() and (std != 0).all()),
            "mean must be finite and std finite and non-zero")
    if format in ("bgr", "rgb") and rotation == 0 and (rh, rw) != (height, width) and a.strides[2] == 1 and \
            (a.strides[1] == 3 or width == 1):  # as the C++ core: OpenCV's 8-bit INTER_LINEAR, bit for bit
        a = cv2.resize(a, (rw, rh), interpolation=cv2.INTER_LINEAR).reshape(rh, rw, 3)
    bgr = _to_bgr_float(a, format)
    if rotation:
        bgr = np.ascontiguousarray(np.rot90(bgr, -(rotation // 90)))  # clockwise
    up_h, up_w = bgr.shape[:2]
    if (rh, rw) != (up_h, up_w):
        bgr = cv2.resize(bgr, (rw, rh), interpolation=cv2.INTER_LINEAR)
    scale = (np.float32(1) / std).astype(np.float32)
    shift = (-mean / std).astype(np.float32)
    pad = np.float32(pad_pixel) * scale + shift
    order = [2, 1, 0] if rgb else [0, 1, 2]
    if out is None:
        require(not pad_written, "pad_written needs an out array that holds the padding")
        out = np.empty((1, 3, out_h, out_w), np.float32)
    else:
        out, _ = checked(out, "out", np.float32, [(1, 3, out_h, out_w)])
        require(out.flags.writeable, "out: array is read-only")
        require(not np.may_share_memory(out, a), "out: shares memory with the frame")
    for c in range(3):
        out[0, c] = pad[c]
        out[0, c, :rh, :rw] = bgr[..., order[c]] * scale[c] + shift[c]
    return out
