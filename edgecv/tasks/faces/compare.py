"""Comparing face results (``edgecv validate`` and the quantisation gates): faces are matched one to
one by IoU (>= 0.5, best first); metrics per image and over many images."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from ..spec import Gate, match_counts, summarize_counts, weighted_mean
from .result import Faces

MATCH_IOU = 0.5


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in ``a`` (N, 4) with every box in ``b`` (M, 4) -> (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    union = area_a + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_boxes(a: np.ndarray, b: np.ndarray, min_iou: float = MATCH_IOU) -> List[Tuple[int, int, float]]:
    """Greedy one-to-one matching, best IoU first; pairs (i, j, iou) with iou >= min_iou."""
    m = iou_matrix(a, b)
    pairs = []
    while m.size and m.max() >= min_iou:
        i, j = np.unravel_index(int(np.argmax(m)), m.shape)
        pairs.append((int(i), int(j), float(m[i, j])))
        m[i, :] = -1
        m[:, j] = -1
    return sorted(pairs)


def compare_faces(reference: Faces, other: Faces) -> Dict[str, Any]:
    """Counts (reference, other, matched, missing, extra), recall, precision, mean/min IoU of matched faces,
    worst landmark error in pixels, mean landmark error normalised by the face size (sqrt of the reference
    box area) and the worst score difference."""
    pairs = match_boxes(reference.boxes, other.boxes)
    ious = [p[2] for p in pairs]
    lm_px, nme = 0.0, []
    if pairs and reference.landmarks is not None and other.landmarks is not None:
        for i, j, _ in pairs:
            d = np.linalg.norm(reference.landmarks[i].astype(np.float64) - other.landmarks[j], axis=1)
            x1, y1, x2, y2 = reference.boxes[i].astype(np.float64)
            lm_px = max(lm_px, float(np.abs(reference.landmarks[i] - other.landmarks[j]).max()))
            nme.append(float(d.mean()) / max(1e-6, float(np.sqrt(max(0.0, (x2 - x1) * (y2 - y1))))))
    return {**match_counts(len(reference), len(other), len(pairs)),
            "mean_iou": float(np.mean(ious)) if ious else 1.0, "min_iou": min(ious, default=1.0),
            "max_landmark_px": lm_px, "landmark_nme": float(np.mean(nme)) if nme else 0.0,
            "max_score_diff": max((abs(float(reference.scores[i] - other.scores[j])) for i, j, _ in pairs),
                                  default=0.0)}


def summarize_faces(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Metrics over many images: counts summed, recall/precision over all faces, IoU and landmark error
    averaged over matched faces, worst values kept."""
    if not rows:
        return {}
    out = summarize_counts(rows)
    out["mean_iou"] = weighted_mean(rows, "mean_iou", "matched")
    out["min_iou"] = min(r["min_iou"] for r in rows)
    out["max_landmark_px"] = max(r["max_landmark_px"] for r in rows)
    nme = weighted_mean(rows, "landmark_nme", "matched")
    out["landmark_nme"] = 0.0 if out["matched"] == 0 else nme
    out["max_score_diff"] = max(r["max_score_diff"] for r in rows)
    return out


GATES = {
    "convert": (
        Gate("recall", "min", 1.0, "share of reference faces found (IoU >= 0.5)"),
        Gate("precision", "min", 1.0, "share of found faces that are reference faces"),
        Gate("min_iou", "min", 0.98, "worst IoU of matched faces"),
        Gate("max_landmark_px", "max", 1.0, "worst landmark difference in pixels"),
    ),
    "quantize": (
        Gate("recall", "min", 0.98, "share of the fp32 model's faces found"),
        Gate("precision", "min", 0.95, "share of found faces the fp32 model also finds"),
        Gate("mean_iou", "min", 0.90, "mean IoU of matched faces"),
        Gate("landmark_nme", "max", 0.05, "mean landmark error / face size"),
    ),
}
