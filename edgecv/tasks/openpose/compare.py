"""Comparing pose results (``edgecv validate`` and the quantisation gates): people are matched one to
one by the mean distance of the parts both found; metrics per image and over many images."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from ..spec import Gate, match_counts, summarize_counts, weighted_mean
from .result import Poses

#: People further apart than this (mean pixel distance over common parts) are not the same person.
MATCH_MEAN_PX = 10.0


def match_people(a: np.ndarray, b: np.ndarray, max_mean_px: float = MATCH_MEAN_PX) -> List[Tuple[int, int, float]]:
    """Greedy one-to-one matching of people (keypoints (P, K, 3)) by the mean distance of the parts
    both found; pairs (i, j, mean_px) with mean_px <= max_mean_px."""
    costs = []
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            common = (a[i, :, 2] > 0) & (b[j, :, 2] > 0)
            if common.any():
                d = np.linalg.norm(a[i, common, :2] - b[j, common, :2], axis=1).mean()
                if d <= max_mean_px:
                    costs.append((float(d), i, j))
    pairs, used_a, used_b = [], set(), set()
    for d, i, j in sorted(costs):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j, d))
    return sorted(pairs)


def compare_poses(reference: Poses, other: Poses) -> Dict[str, Any]:
    """Counts, recall, precision, worst and mean keypoint error (px) over parts both found, and how many
    parts only one side found."""
    pairs = match_people(reference.keypoints, other.keypoints)
    worst, one_sided, errors = 0.0, 0, []
    for i, j, _ in pairs:
        fa, fb = reference.keypoints[i, :, 2] > 0, other.keypoints[j, :, 2] > 0
        common = fa & fb
        one_sided += int((fa ^ fb).sum())
        if common.any():
            d = np.linalg.norm(reference.keypoints[i, common, :2] - other.keypoints[j, common, :2], axis=1)
            worst = max(worst, float(d.max()))
            errors.append(float(d.mean()))
    return {**match_counts(len(reference), len(other), len(pairs)), "max_keypoint_px": worst,
            "mean_keypoint_px": float(np.mean(errors)) if errors else 0.0, "one_sided_parts": one_sided}


def summarize_poses(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    if not rows:
        return {}
    out = summarize_counts(rows)
    out["one_sided_parts"] = sum(r["one_sided_parts"] for r in rows)
    out["max_keypoint_px"] = max(r["max_keypoint_px"] for r in rows)
    out["mean_keypoint_px"] = 0.0 if out["matched"] == 0 else weighted_mean(rows, "mean_keypoint_px", "matched")
    return out


GATES = {
    "convert": (
        Gate("recall", "min", 1.0, "share of reference people found"),
        Gate("precision", "min", 1.0, "share of found people that are reference people"),
        Gate("max_keypoint_px", "max", 2.0, "worst keypoint difference in pixels"),
    ),
    "quantize": (
        Gate("recall", "min", 0.9, "share of the fp32 model's people found"),
        Gate("precision", "min", 0.9, "share of found people the fp32 model also finds"),
        Gate("mean_keypoint_px", "max", 4.0, "mean keypoint difference in pixels"),
    ),
}
