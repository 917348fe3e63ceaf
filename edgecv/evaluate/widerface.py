"""The WIDER FACE evaluation protocol, as the official evaluation computes it (``eval_tools/evaluation.m``, and the
Python ports of it): written here from the protocol, vectorised per image.

1. Scores are normalised over the whole dataset to [0, 1]: (s - min) / (max - min).
2. Per image, predictions sorted by score (best first) are matched in turn to the ground-truth box they overlap
   most (IoU with the +1 pixel convention of the official code); at IoU >= 0.5:
   - a box outside the subset (its keep flag off) is ignored: the prediction counts neither as right nor wrong;
   - otherwise the box is recalled (a second prediction on it is a false positive).
3. For 1000 thresholds t = 1 - k/1000 (k = 1..1000) the predictions scoring >= t give (proposals, recalled boxes)
   per image; sums over the images give precision = recalled / proposals and recall = recalled / faces in the subset
   (every image counts its faces, even with no prediction).
4. AP is the area under the precision envelope (VOC all-point interpolation). Where no prediction counts yet
   (0 / 0), the official MATLAB code's ``max`` skips the NaN: so does this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

THRESHOLDS = 1000
IOU = 0.5


@dataclass
class Curve:
    """A precision-recall curve: (THRESHOLDS,) precision and recall, and its AP."""

    precision: np.ndarray
    recall: np.ndarray
    ap: float


def iou_plus_one(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(P, G) IoU of xyxy boxes with the official code's +1 pixel widths."""
    if len(pred) == 0 or len(gt) == 0:
        return np.zeros((len(pred), len(gt)))
    x1 = np.maximum(pred[:, None, 0], gt[None, :, 0])
    y1 = np.maximum(pred[:, None, 1], gt[None, :, 1])
    x2 = np.minimum(pred[:, None, 2], gt[None, :, 2])
    y2 = np.minimum(pred[:, None, 3], gt[None, :, 3])
    iw, ih = x2 - x1 + 1, y2 - y1 + 1
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    area_p = (pred[:, 2] - pred[:, 0] + 1) * (pred[:, 3] - pred[:, 1] + 1)
    area_g = (gt[:, 2] - gt[:, 0] + 1) * (gt[:, 3] - gt[:, 1] + 1)
    union = area_p[:, None] + area_g[None, :] - inter
    return np.where(inter > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_image(boxes: np.ndarray, scores: np.ndarray, gt: np.ndarray, keep: np.ndarray,
                iou: float = IOU) -> Tuple[np.ndarray, np.ndarray]:
    """For predictions sorted best first: (recalled boxes after each prediction, whether each prediction counts as a
    proposal), as the official ``image_eval``."""
    n = len(boxes)
    overlaps = iou_plus_one(boxes, gt)
    state = np.zeros(len(gt), np.int8)  # 0 untouched, 1 recalled, -1 ignored
    recalled = np.zeros(n)
    proposal = np.ones(n, bool)
    count = 0
    if len(gt):
        best = overlaps.argmax(axis=1)
        best_iou = overlaps[np.arange(n), best]
        for h in range(n):
            if best_iou[h] >= iou:
                g = best[h]
                if not keep[g]:
                    if state[g] == 1:
                        count -= 1
                    state[g] = -1
                    proposal[h] = False
                elif state[g] == 0:
                    state[g] = 1
                    count += 1
            recalled[h] = count
    return recalled, proposal


def image_pr(scores: np.ndarray, recalled: np.ndarray, proposal: np.ndarray) -> np.ndarray:
    """(THRESHOLDS, 2): proposals and recalled boxes among the predictions scoring >= each threshold."""
    thresholds = 1 - np.arange(1, THRESHOLDS + 1) / THRESHOLDS
    out = np.zeros((THRESHOLDS, 2))
    if len(scores) == 0:
        return out
    # scores are sorted best first: the predictions at or above t are a prefix
    last = np.searchsorted(-scores, -thresholds, side="right") - 1
    has = last >= 0
    proposals = np.cumsum(proposal)
    out[has, 0] = proposals[last[has]]
    out[has, 1] = recalled[last[has]]
    return out


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP; NaN precisions (0 / 0) are skipped by the envelope, as MATLAB's max does."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.fmax.accumulate(mpre[::-1])[::-1]
    mpre = np.nan_to_num(mpre, nan=0.0)
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def normalise_scores(predictions: Sequence[Tuple[np.ndarray, np.ndarray]]) -> List[np.ndarray]:
    """Scores over the whole dataset mapped to [0, 1] (the official ``norm_score``)."""
    every = [s for _, s in predictions if len(s)]
    if not every:
        return [s.astype(np.float64) for _, s in predictions]
    low = min(float(s.min()) for s in every)
    high = max(float(s.max()) for s in every)
    span = high - low
    return [(s.astype(np.float64) - low) / span if span > 0 else np.ones(len(s)) for _, s in predictions]


def evaluate_boxes(predictions: Sequence[Tuple[np.ndarray, np.ndarray]], ground_truth: Sequence[np.ndarray],
                   keeps: Sequence[Dict[str, np.ndarray]], subsets: Sequence[str], iou: float = IOU
                   ) -> Dict[str, Curve]:
    """AP per subset. ``predictions``: per image (boxes (P, 4) xyxy, scores (P,)); ``ground_truth``: per image (G, 4)
    xyxy; ``keeps``: per image, subset -> (G,) bool."""
    scores = normalise_scores(predictions)
    curves = {}
    for subset in subsets:
        total = np.zeros((THRESHOLDS, 2))
        faces = 0
        for (boxes, _), s, gt, keep in zip(predictions, scores, ground_truth, keeps):
            mask = keep[subset]
            faces += int(mask.sum())
            if len(gt) == 0 or len(boxes) == 0:
                continue
            order = np.argsort(-s, kind="stable")
            b, sc = np.asarray(boxes, np.float64)[order], s[order]
            recalled, proposal = match_image(b, sc, np.asarray(gt, np.float64), mask, iou)
            total += image_pr(sc, recalled, proposal)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = total[:, 1] / total[:, 0]
        recall = total[:, 1] / faces if faces else np.zeros(THRESHOLDS)
        curves[subset] = Curve(precision, recall, voc_ap(recall, precision))
    return curves


__all__ = ["evaluate_boxes", "voc_ap", "iou_plus_one", "match_image", "image_pr", "normalise_scores", "Curve",
           "THRESHOLDS", "IOU"]
