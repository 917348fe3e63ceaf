"""Independent numpy SCRFD decoder, written from the paper's/insightface's description, used to
check the C++ core (tests) and as the baseline in benchmarks/bench_scrfd.py."""

from __future__ import annotations

import numpy as np


def anchor_centres(feature_h: int, feature_w: int, stride: int, num_anchors: int) -> np.ndarray:
    ys, xs = np.mgrid[:feature_h, :feature_w]
    centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
    return np.repeat(centres, num_anchors, axis=0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list:
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return keep


def decode(outputs: dict, input_hw, scale_xy, image_hw, strides=(8, 16, 32), num_anchors=2,
           score_threshold=0.5, iou_threshold=0.4):
    """Raw outputs by name (score_s, bbox_s, kps_s) -> boxes (N,4), scores (N,), landmarks (N,5,2)."""
    all_boxes, all_scores, all_kps = [], [], []
    for s in strides:
        fh, fw = -(-input_hw[0] // s), -(-input_hw[1] // s)
        centres = anchor_centres(fh, fw, s, num_anchors)
        scores = outputs[f"score_{s}"].reshape(-1)
        dist = outputs[f"bbox_{s}"].reshape(-1, 4) * s
        keep = np.where(scores >= score_threshold)[0]
        c = centres[keep]
        all_boxes.append(np.concatenate([c - dist[keep, :2], c + dist[keep, 2:]], axis=1))
        all_scores.append(scores[keep])
        if f"kps_{s}" in outputs:
            kps = outputs[f"kps_{s}"].reshape(-1, 5, 2)[keep] * s + c[:, None, :]
            all_kps.append(kps)
    boxes = np.concatenate(all_boxes)
    scores = np.concatenate(all_scores)
    keep = nms(boxes, scores, iou_threshold)
    sx, sy = scale_xy
    boxes = boxes[keep] / np.array([sx, sy, sx, sy], np.float32)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, image_hw[1])
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, image_hw[0])
    landmarks = None
    if all_kps:
        landmarks = np.concatenate(all_kps)[keep] / np.array([sx, sy], np.float32)
        landmarks[..., 0] = landmarks[..., 0].clip(0, image_hw[1])
        landmarks[..., 1] = landmarks[..., 1].clip(0, image_hw[0])
    return boxes, scores[keep], landmarks
