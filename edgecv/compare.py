"""Comparing task results between engines or models (used by ``edgecv validate`` and the tests)."""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from .results import Faces


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in ``a`` (N, 4) with every box in ``b`` (M, 4) -> (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_boxes(a: np.ndarray, b: np.ndarray, min_iou: float) -> List[Tuple[int, int, float]]:
    """Greedy one-to-one matching, best IoU first; pairs (i, j, iou) with iou >= min_iou."""
    m = iou_matrix(a, b)
    pairs = []
    while m.size and m.max() >= min_iou:
        i, j = np.unravel_index(int(np.argmax(m)), m.shape)
        pairs.append((int(i), int(j), float(m[i, j])))
        m[i, :] = -1
        m[:, j] = -1
    return sorted(pairs)


def compare_faces(reference: Faces, other: Faces, min_iou: float = 0.5) -> Dict[str, float]:
    """Match faces 1:1 by IoU; report counts, worst IoU and worst landmark error in pixels."""
    pairs = match_boxes(reference.boxes, other.boxes, min_iou)
    lm = 0.0
    if pairs and reference.landmarks is not None and other.landmarks is not None:
        lm = max(float(np.abs(reference.landmarks[i] - other.landmarks[j]).max()) for i, j, _ in pairs)
    return {"reference": len(reference), "other": len(other), "matched": len(pairs),
            "missing": len(reference) - len(pairs), "extra": len(other) - len(pairs),
            "min_iou": min((p[2] for p in pairs), default=1.0), "max_landmark_px": lm,
            "max_score_diff": max((abs(float(reference.scores[i] - other.scores[j])) for i, j, _ in pairs), default=0.0)}


def match_people(a: np.ndarray, b: np.ndarray, max_mean_px: float) -> List[Tuple[int, int, float]]:
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


def compare_poses(reference, other, max_mean_px: float = 10.0) -> Dict[str, float]:
    """Match people 1:1; report counts, worst keypoint error (px) over parts both found, and how many
    parts only one side found."""
    pairs = match_people(reference.keypoints, other.keypoints, max_mean_px)
    worst, one_sided = 0.0, 0
    for i, j, _ in pairs:
        fa, fb = reference.keypoints[i, :, 2] > 0, other.keypoints[j, :, 2] > 0
        common = fa & fb
        one_sided += int((fa ^ fb).sum())
        if common.any():
            d = np.linalg.norm(reference.keypoints[i, common, :2] - other.keypoints[j, common, :2], axis=1)
            worst = max(worst, float(d.max()))
    return {"reference": len(reference), "other": len(other), "matched": len(pairs),
            "missing": len(reference) - len(pairs), "extra": len(other) - len(pairs),
            "max_keypoint_px": worst, "one_sided_parts": one_sided}
