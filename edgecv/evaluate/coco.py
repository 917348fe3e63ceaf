"""COCO-style AP through pycocotools (the reference implementation, not a rewrite): boxes (AP@[.5:.95], AP@0.5) and
person keypoints (OKS AP). edgecv's COCO-18 keypoints (with a neck) map to COCO's 17 by name.

pycocotools prints its progress and summary on stdout; that output is captured here so it never mixes with the
caller's.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from ..errors import FeatureNotInstalledError

#: COCO's 17 keypoints in its order.
COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
          "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
          "right_ankle")


def coco18_to_coco17() -> np.ndarray:
    """Indices into edgecv's COCO-18 keypoints (``edgecv.tasks.openpose.COCO18_NAMES``) in COCO-17 order."""
    from ..tasks.openpose import COCO18_NAMES

    index = {name: i for i, name in enumerate(COCO18_NAMES)}
    return np.array([index[name] for name in COCO17])


def _pycocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:
        raise FeatureNotInstalledError("COCO AP needs pycocotools: pip install 'edgecv[eval]'") from exc
    return COCO, COCOeval


def run_cocoeval(ground_truth: Dict[str, Any], results: List[Dict[str, Any]], iou_type: str
                 ) -> Tuple[Dict[str, float], Any]:
    """pycocotools' COCOeval on an in-memory ground-truth document and result list; (metrics, the COCOeval object
    for curves). ``iou_type``: ``bbox`` or ``keypoints``."""
    COCO, COCOeval = _pycocotools()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        gt = COCO()
        gt.dataset = copy.deepcopy(ground_truth)
        gt.dataset.setdefault("info", {})
        gt.dataset.setdefault("licenses", [])
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(results)) if results else COCO()
        if not results:  # pycocotools cannot load an empty result list: nothing found scores 0
            return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}, None
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(v) for v in ev.stats]
    metrics = {"AP": max(stats[0], 0.0), "AP50": max(stats[1], 0.0), "AP75": max(stats[2], 0.0)}
    return metrics, ev


def box_results(predictions: Sequence[Tuple[np.ndarray, np.ndarray]], image_ids: Sequence[Any], category: int
                ) -> List[Dict[str, Any]]:
    """COCO result entries (``bbox`` x, y, w, h) of per-image (boxes xyxy, scores)."""
    out = []
    for (boxes, scores), image_id in zip(predictions, image_ids):
        for b, s in zip(np.asarray(boxes, np.float64).reshape(-1, 4), scores):
            out.append({"image_id": image_id, "category_id": category, "score": round(float(s), 5),
                        "bbox": [round(float(b[0]), 2), round(float(b[1]), 2), round(float(b[2] - b[0]), 2),
                                 round(float(b[3] - b[1]), 2)]})
    return out


def keypoint_results(predictions: Sequence[Tuple[np.ndarray, np.ndarray]], image_ids: Sequence[Any],
                     category: int = 1) -> List[Dict[str, Any]]:
    """COCO keypoint result entries of per-image (keypoints (P, 18, 3) COCO-18, person scores (P,)). A part edgecv did
    not find (score 0) is written as (0, 0, 0)."""
    order = coco18_to_coco17()
    out = []
    for (keypoints, scores), image_id in zip(predictions, image_ids):
        for kp, s in zip(np.asarray(keypoints, np.float64).reshape(-1, 18, 3), scores):
            k17 = kp[order].copy()
            k17[k17[:, 2] <= 0] = 0.0
            k17[:, 2] = np.where(k17[:, 2] > 0, 1.0, 0.0)  # visibility flag: pycocotools ignores it for results
            out.append({"image_id": image_id, "category_id": category, "score": round(float(s), 5),
                        "keypoints": [round(float(v), 2) for v in k17.reshape(-1)]})
    return out


def pr_curve(ev: Any, iou: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at one IoU threshold, all areas, most detections, from an accumulated COCOeval."""
    if ev is None:
        return np.zeros(0), np.zeros(0)
    t = int(np.argmin(np.abs(ev.params.iouThrs - iou)))
    precision = ev.eval["precision"][t, :, 0, 0, -1]
    recall = ev.params.recThrs
    valid = precision > -1
    return recall[valid], precision[valid]


__all__ = ["run_cocoeval", "box_results", "keypoint_results", "coco18_to_coco17", "pr_curve", "COCO17"]
