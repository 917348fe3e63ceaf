"""Depth maps against ground truth, on the pixels where the ground truth has a depth (finite, > 0).

Per view the sums are kept (so views add up exactly, and a resumed run gives the same numbers): valid pixels, sum of
|d - g|, sum of |d - g| / g, pixels with max(d/g, g/d) < 1.25 and pixels within 1 % of g. A pixel edgecv gives no
depth (0) is counted as missing: its error is the whole ground-truth depth, and it passes no threshold.
"""

from __future__ import annotations

from typing import Dict, Iterable

import numpy as np

SUMS = ("pixels", "abs_err", "abs_rel", "delta_125", "within_1pct")


def depth_sums(depth: np.ndarray, truth: np.ndarray) -> Dict[str, float]:
    """The sums of one view; ``truth`` is resized (nearest) to ``depth``'s size when they differ."""
    import cv2

    d = np.asarray(depth, np.float64)
    truth32 = np.asarray(truth, np.float32)
    if truth32.shape != d.shape:
        g = np.asarray(cv2.resize(truth32, (d.shape[1], d.shape[0]), interpolation=cv2.INTER_NEAREST), np.float64)
    else:
        g = truth32.astype(np.float64)
    valid = np.isfinite(g) & (g > 0)
    d, g = d[valid], g[valid]
    d = np.where(np.isfinite(d) & (d > 0), d, 0.0)
    err = np.abs(d - g)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d > 0, np.maximum(d / g, g / np.where(d > 0, d, 1)), np.inf)
    return {"pixels": float(valid.sum()), "abs_err": float(err.sum()), "abs_rel": float((err / g).sum()),
            "delta_125": float((ratio < 1.25).sum()), "within_1pct": float((err / g < 0.01).sum())}


def depth_metrics(views: Iterable[Dict[str, float]]) -> Dict[str, float]:
    """MAE (scene units), abs-rel, δ<1.25 and the share within 1 % over every view's valid pixels."""
    total = {k: 0.0 for k in SUMS}
    for v in views:
        for k in SUMS:
            total[k] += float(v.get(k, 0.0))
    n = total["pixels"]
    if n == 0:
        return {"mae": float("nan"), "abs_rel": float("nan"), "delta_1.25": float("nan"), "within_1pct": float("nan"),
                "pixels": 0.0}
    return {"mae": total["abs_err"] / n, "abs_rel": total["abs_rel"] / n, "delta_1.25": total["delta_125"] / n,
            "within_1pct": total["within_1pct"] / n, "pixels": n}


__all__ = ["depth_sums", "depth_metrics", "SUMS"]
