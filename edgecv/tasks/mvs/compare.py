"""Comparing depth maps (``edgecv validate`` and the quantisation gates): per-pixel relative depth
agreement with the reference over the pixels where the reference has depth."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from ..spec import Gate, weighted_mean
from .result import DepthMap

#: A pixel agrees when its depth is within this relative difference of the reference's.
AGREEMENT = 0.01


def compare_depth(reference: DepthMap, other: DepthMap) -> Dict[str, Any]:
    if reference.depth.shape != other.depth.shape:
        return {"pixels": int(reference.depth.size), "depth_agreement": 0.0, "max_rel_depth_diff": float("inf"),
                "mean_rel_depth_diff": float("inf"), "mean_confidence_diff": float("inf")}
    valid = (reference.depth > 0) & np.isfinite(reference.depth)
    ref = reference.depth[valid].astype(np.float64)
    got = other.depth[valid].astype(np.float64)
    rel = np.where(np.isfinite(got), np.abs(got - ref) / ref, np.inf)
    return {"pixels": int(valid.sum()),
            "depth_agreement": float((rel <= AGREEMENT).mean()) if rel.size else 1.0,
            "max_rel_depth_diff": float(rel.max()) if rel.size else 0.0,
            "mean_rel_depth_diff": float(rel[np.isfinite(rel)].mean()) if np.isfinite(rel).any() else float("inf"),
            "mean_confidence_diff": float(np.abs(reference.confidence - other.confidence).mean())}


def summarize_depth(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    if not rows:
        return {}
    return {"pixels": sum(r["pixels"] for r in rows),
            "depth_agreement": weighted_mean(rows, "depth_agreement", "pixels"),
            "max_rel_depth_diff": max(r["max_rel_depth_diff"] for r in rows),
            "mean_rel_depth_diff": weighted_mean(rows, "mean_rel_depth_diff", "pixels"),
            "mean_confidence_diff": float(np.mean([r["mean_confidence_diff"] for r in rows]))}


GATES = {
    "convert": (Gate("depth_agreement", "min", 0.99,
                     f"share of pixels within {AGREEMENT:.0%} of the reference depth"),),
    "quantize": (Gate("depth_agreement", "min", 0.90, f"share of pixels within {AGREEMENT:.0%} of the fp32 depth"),),
}
