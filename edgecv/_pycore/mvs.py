"""Multi-view stereo geometry in numpy, as csrc/edgecv/mvs.cpp: geometric consistency of a reference depth map with
its sources (forward-backward reprojection, bilinear source depth needing four valid neighbours) and back-projection
to world points."""

from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np

from ._checks import checked, f32, require
from ..errors import InvalidInputError


class ConsistencyParams:
    """Defaults of depth-map filtering (read by FusionParams)."""

    def __init__(self) -> None:
        object.__setattr__(self, "max_reprojection_px", f32(1.0))
        object.__setattr__(self, "max_relative_depth", f32(0.01))
        object.__setattr__(self, "min_views", 2)
        object.__setattr__(self, "min_confidence", f32(0.5))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"ConsistencyParams.{name} is read-only")


def _view(depth: Any, K: Any, E: Any, name: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    d, _ = checked(depth, f"{name} depth", np.float32, [[-1, -1]])
    k, _ = checked(K, f"{name} K", np.float64, [[3, 3]])
    e, _ = checked(E, f"{name} extrinsic", np.float64, [[4, 4]])
    require(d.shape[0] > 0 and d.shape[1] > 0, f"{name}: depth map must be a non-empty (H, W) array")
    require(bool(np.isfinite(k).all()), f"{name}: K must be finite")
    require(bool(np.isfinite(e).all()), f"{name}: extrinsic must be finite")
    require(k[0, 0] > 0 and k[1, 1] > 0 and k[1, 0] == 0 and k[2, 0] == 0 and k[2, 1] == 0 and k[2, 2] == 1,
            f"{name}: K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with positive focal lengths")
    require(bool((e[3] == [0, 0, 0, 1]).all()), f"{name}: extrinsic's last row must be 0 0 0 1")
    require(abs(np.linalg.det(e[:3, :3]) - 1.0) < 1e-3, f"{name}: extrinsic rotation must be a rotation (det 1)")
    return d, k, e


def _k_inverse(k: np.ndarray) -> np.ndarray:
    fx, s, cx, fy, cy = k[0, 0], k[0, 1], k[0, 2], k[1, 1], k[1, 2]
    return np.array([[1 / fx, -s / (fx * fy), (s * cy - cx * fy) / (fx * fy)], [0, 1 / fy, -cy / fy], [0, 0, 1]])


def _transfer(k_from: np.ndarray, e_from: np.ndarray, e_to: np.ndarray, k_to: np.ndarray):
    """(A, b) with homogeneous target pixels = d * A [x, y, 1] + b (intrinsics of the target folded in)."""
    rel = e_to[:3, :3] @ e_from[:3, :3].T
    a = rel @ _k_inverse(k_from)
    b = e_to[:3, 3] - rel @ e_from[:3, 3]
    return k_to @ a, k_to @ b


def _sample(depth: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h, w = depth.shape
    inside = (x >= 0) & (y >= 0) & (x <= w - 1.0) & (y <= h - 1.0)
    xs, ys = np.where(inside, x, 0), np.where(inside, y, 0)
    x0, y0 = xs.astype(np.int64), ys.astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    a, b, c, e = depth[y0, x0], depth[y0, x1], depth[y1, x0], depth[y1, x1]
    fx, fy = xs - x0, ys - y0
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite source depths: refused by the > 0 tests below
        value = ((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + e * fx) * fy).astype(np.float32)
    ok = inside & (a > 0) & (b > 0) & (c > 0) & (e > 0)
    return np.where(ok, value, np.float32(0))


def check_consistency(depth: Any, K: Any, extrinsic: Any, sources: Any, confidence: Any = None,
                      max_reprojection_px: float = 1.0, max_relative_depth: float = 0.01, min_views: int = 2,
                      min_confidence: float = 0.5, threads: int = 0):
    """Geometric consistency of a reference depth map with its sources (see edgecv._core.check_consistency).
    Returns mask uint8 (H,W), consistent-view counts int32 (H,W) and the fused depth float32 (H,W)."""
    ref, k, e = _view(depth, K, extrinsic, "reference")
    if not isinstance(sources, list):
        raise InvalidInputError("sources: expected a list of (depth, K, extrinsic) tuples")
    views: List[Tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for i, item in enumerate(sources):
        if not isinstance(item, tuple) or len(item) != 3:
            raise InvalidInputError(f"source {i}: expected a (depth, K, extrinsic) tuple")
        views.append(_view(*item, f"source {i}"))
    h, w = ref.shape
    conf = None
    if confidence is not None:
        conf, _ = checked(confidence, "confidence", np.float32, [[h, w]])
    require(0 <= threads <= 1024, "threads must be in [0, 1024] (0 = all cores)")
    require(len(views) > 0, "at least one source depth map is required")
    max_px, max_rel = np.float32(max_reprojection_px), np.float32(max_relative_depth)
    require(bool(np.isfinite(max_px) and max_px > 0), "max_reprojection_px must be > 0")
    require(bool(np.isfinite(max_rel) and max_rel > 0), "max_relative_depth must be > 0")
    require(1 <= min_views <= len(views), "min_views must be in [1, number of sources]")
    require(bool(np.isfinite(min_confidence)), "min_confidence must be finite")
    ys, xs = np.mgrid[:h, :w]
    d32 = ref
    valid = (d32 > 0) & np.isfinite(d32)
    x, y, d = xs[valid].astype(np.float64), ys[valid].astype(np.float64), d32[valid].astype(np.float64)
    counts = np.zeros(d.shape, np.int32)
    total = d.copy()
    pix = np.stack([x, y, np.ones_like(x)], axis=1)
    max_px2 = float(max_px) * float(max_px)
    for sd, sk, se in views:
        fa, fb = _transfer(k, e, se, sk)
        ba, bb = _transfer(sk, se, e, k)
        us = d[:, None] * (pix @ fa.T) + fb
        front = us[:, 2] > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            u, v = us[:, 0] / us[:, 2], us[:, 1] / us[:, 2]
        u, v = np.where(front, u, -1.0), np.where(front, v, -1.0)
        ds = _sample(sd, u, v).astype(np.float64)
        ok = front & (ds > 0)
        ur = ds[:, None] * (np.stack([u, v, np.ones_like(u)], axis=1) @ ba.T) + bb
        ok &= ur[:, 2] > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            rx, ry = ur[:, 0] / ur[:, 2] - x, ur[:, 1] / ur[:, 2] - y
            rel = np.abs(ur[:, 2] - d) / d
        ok &= (rx * rx + ry * ry < max_px2) & (rel < float(max_rel))
        counts += ok
        total += np.where(ok, ur[:, 2], 0.0)
    out_counts = np.zeros((h, w), np.int32)
    out_fused = np.zeros((h, w), np.float32)
    out_mask = np.zeros((h, w), np.uint8)
    out_counts[valid] = counts
    out_fused[valid] = (total / (counts + 1)).astype(np.float32)
    confident = np.ones(d.shape, bool) if conf is None else conf[valid] >= np.float32(min_confidence)
    out_mask[valid] = ((counts >= min_views) & confident).astype(np.uint8)
    return out_mask, out_counts, out_fused


def backproject(depth: Any, K: Any, extrinsic: Any, mask: Any = None, image: Any = None):
    """World points (M,3) float32 of the pixels with depth > 0 (and mask != 0), with their colours (M,3) uint8 from
    image (H,W,3) when given (else None)."""
    d, k, e = _view(depth, K, extrinsic, "depth map")
    h, w = d.shape
    keep = (d > 0) & np.isfinite(d)
    if mask is not None:
        m, _ = checked(mask, "mask", np.uint8, [[h, w]])
        keep &= m != 0
    img = None
    if image is not None:
        img, _ = checked(image, "image", np.uint8, [[h, w, 3]])
    ys, xs = np.nonzero(keep)
    rays = np.stack([xs, ys, np.ones_like(xs)], axis=1).astype(np.float64) @ _k_inverse(k).T
    cam = rays * d[ys, xs].astype(np.float64)[:, None] - e[:3, 3]
    xyz = (cam @ e[:3, :3]).astype(np.float32)
    return xyz, (None if img is None else np.ascontiguousarray(img[ys, xs]))
