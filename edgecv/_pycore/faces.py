"""Face decoding in numpy, as the C++ core (csrc/edgecv/{faces,scrfd,yunet,nms}.cpp) does it: threshold and
per-level top-k, decoding of the candidates only, greedy NMS across levels, mapping to original pixels. Box and
landmark arithmetic is float32, in the C++ order, so the results agree to the last bit or nearly."""

from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np

from ._checks import as_array, checked, f32, leading_dim, pair, require
from ..errors import InvalidInputError

MAX_ANCHORS = 1 << 22


class _Params:
    """Read-only defaults, as the C++ parameter structs expose them."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__}.{name} is read-only")


class ScrfdParams(_Params):
    """Defaults of SCRFD decoding (read by the Python options)."""

    def __init__(self) -> None:
        for k, v in (("num_anchors", 2), ("score_threshold", f32(0.5)), ("iou_threshold", f32(0.4)),
                     ("pre_nms_top_k", 5000), ("max_detections", 1000)):
            object.__setattr__(self, k, v)


class YunetParams(_Params):
    """Defaults of YuNet decoding (read by the Python options)."""

    def __init__(self) -> None:
        for k, v in (("score_threshold", f32(0.6)), ("iou_threshold", f32(0.3)), ("pre_nms_top_k", 5000),
                     ("max_detections", 1000), ("num_landmarks", 5)):
            object.__setattr__(self, k, v)


def feature_size(side: int, stride: int) -> int:
    require(side > 0 and stride > 0, "input size and stride must be positive")
    return (side + stride - 1) // stride


def anchor_centres(feature_h: int, feature_w: int, stride: int, num_anchors: int) -> np.ndarray:
    """Anchor centres (x, y) of one SCRFD feature map in input pixels, shape (H*W*A, 2)."""
    require(feature_h > 0 and feature_w > 0 and stride > 0 and num_anchors > 0,
            "anchor grid dimensions must be positive")
    anchors = feature_h * feature_w * num_anchors
    require(feature_h <= (1 << 20) and feature_w <= (1 << 20) and num_anchors <= 64 and anchors <= MAX_ANCHORS
            and max(feature_h, feature_w) * stride <= (1 << 30), "anchor grid too large")
    ys, xs = np.mgrid[:feature_h, :feature_w]
    grid = np.stack([xs * stride, ys * stride], axis=-1).reshape(-1, 2).astype(np.float32)
    return np.repeat(grid, num_anchors, axis=0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box ``a`` (4,) with boxes ``b`` (N, 4), float32 arithmetic as the C++ box_iou."""
    iw = np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0])
    ih = np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1])
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, np.float32(0))
    return np.where((iw > 0) & (ih > 0), iou, np.float32(0)).astype(np.float32)


def _nms_indices(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int) -> List[int]:
    order = np.argsort(-scores, kind="stable")
    limit = max_keep if max_keep > 0 else len(order)
    kept: List[int] = []
    suppressed = np.zeros(len(order), bool)
    thr = np.float32(iou_threshold)
    for oi in range(len(order)):
        if len(kept) >= limit:
            break
        i = order[oi]
        if suppressed[i]:
            continue
        kept.append(int(i))
        rest = order[oi + 1:]
        rest = rest[~suppressed[rest]]
        if rest.size:
            suppressed[rest[box_iou(boxes[i], boxes[rest]) > thr]] = True
    return kept


def nms(boxes: Any, scores: Any, iou_threshold: float, max_keep: int = 0) -> np.ndarray:
    """Greedy IoU NMS on float32 boxes (N,4) xyxy and scores (N,); returns kept indices (int64) by descending
    score."""
    n = leading_dim(scores, "scores")
    s, _ = checked(scores, "scores", np.float32, [[-1]])
    b, _ = checked(boxes, "boxes", np.float32, [[n, 4]])
    require(np.isfinite(iou_threshold) and 0 <= iou_threshold <= 1, "iou_threshold must be in [0, 1]")
    return np.asarray(_nms_indices(b, s, iou_threshold, int(max_keep)), np.int64)


def _check_output(score_threshold: float, iou_threshold: float, scale: Tuple[float, float],
                  clip: Tuple[float, float], num_landmarks: int) -> None:
    require(0 < num_landmarks <= 1024, "num_landmarks must be in [1, 1024]")
    require(np.isfinite(score_threshold), "score_threshold must be finite")
    require(np.isfinite(iou_threshold) and 0 <= iou_threshold <= 1, "iou_threshold must be in [0, 1]")
    require(all(np.isfinite(v) and v > 0 for v in scale), "scale_x and scale_y must be positive and finite")
    require(all(np.isfinite(v) for v in clip), "clip size must be finite")


def _levels(levels: Any, heads: Tuple[Tuple[str, int], ...], landmarks_at: int) -> Tuple[list, int]:
    """Checked (stride, [arrays...], landmarks or None) per level and the landmark count (0 when none)."""
    if not isinstance(levels, list):
        raise InvalidInputError("levels: expected a list")
    out, landmark_cols = [], -1
    names = ", ".join(h for h, _ in heads)
    for i, item in enumerate(levels):
        where = f"level {i}"
        if not isinstance(item, tuple) or len(item) != len(heads) + 2:
            raise InvalidInputError(f"{where}: expected a (stride, {names}, landmarks) tuple")
        try:
            stride = int(item[0]) if not isinstance(item[0], (float, str, bytes)) else int("x")
        except (TypeError, ValueError):
            raise InvalidInputError(f"{where}: stride must be an int") from None
        rows = leading_dim(item[1], f"{where} {heads[0][0]}")
        arrays = [checked(item[k + 1], f"{where} {h}", np.float32, [[rows, cols]])[0]
                  for k, (h, cols) in enumerate(heads)]
        lm = None
        if item[landmarks_at] is not None:
            a = as_array(item[landmarks_at], f"{where} landmarks")
            if landmark_cols < 0 and a.ndim == 2:
                landmark_cols = a.shape[1]
            if landmark_cols <= 0 or landmark_cols % 2:
                raise InvalidInputError(f"{where} landmarks: expected (rows, 2*K) with K >= 1")
            lm, _ = checked(item[landmarks_at], f"{where} landmarks", np.float32, [[rows, landmark_cols]])
        out.append((stride, arrays, lm, rows))
    return out, max(landmark_cols, 0) // 2


def _check_levels(levels: list, input_wh: Tuple[int, int], per_cell: int, kind: str) -> None:
    require(len(levels) > 0, f"at least one {kind} level is required")
    require(input_wh[0] > 0 and input_wh[1] > 0, "input size must be positive")
    with_landmarks = levels[0][2] is not None
    for i, (stride, _, lm, rows) in enumerate(levels):
        def fail(what: str, i: int = i, stride: int = stride) -> None:
            raise InvalidInputError(f"level {i} (stride {stride}): {what}")
        if not 0 < stride <= 4096:
            fail("stride must be in [1, 4096]")
        if any(levels[j][0] == stride for j in range(i)):
            fail("duplicate stride")
        expected = feature_size(input_wh[1], stride) * feature_size(input_wh[0], stride) * per_cell
        if rows != expected:
            fail(f"expected {expected} rows for input {input_wh[0]}x{input_wh[1]}, got {rows}")
        if (lm is not None) != with_landmarks:
            fail("landmarks must be given for all levels or for none")


def _candidates(score: np.ndarray, threshold: float, top_k: int) -> np.ndarray:
    """Rows scoring >= threshold (finite), the best ``top_k`` of them (ties: lower row), in row order."""
    rows = np.flatnonzero((score >= np.float32(threshold)) & np.isfinite(score))
    if top_k > 0 and rows.size > top_k:
        best = np.lexsort((rows, -score[rows]))[:top_k]
        rows = np.sort(rows[best])
    return rows


def _finish(boxes: List[np.ndarray], scores: List[np.ndarray], marks: List[np.ndarray], k: int,
            iou_threshold: float, max_detections: int, scale: Tuple[float, float], clip: Tuple[float, float],
            with_landmarks: bool):
    b = np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32)
    s = np.concatenate(scores).astype(np.float32) if scores else np.zeros(0, np.float32)
    kept = _nms_indices(b, s, iou_threshold, int(max_detections))
    sx, sy = np.float32(scale[0]), np.float32(scale[1])
    cw, ch = np.float32(clip[0]), np.float32(clip[1])
    do_clip = cw > 0 and ch > 0

    def map_xy(xs: np.ndarray, ys: np.ndarray):
        xs, ys = xs / sx, ys / sy
        if do_clip:
            xs, ys = np.clip(xs, 0, cw), np.clip(ys, 0, ch)
        return xs.astype(np.float32), ys.astype(np.float32)

    out_b = b[kept]
    x1, y1 = map_xy(out_b[:, 0], out_b[:, 1])
    x2, y2 = map_xy(out_b[:, 2], out_b[:, 3])
    out_boxes = np.stack([x1, y1, x2, y2], axis=1).astype(np.float32).reshape(-1, 4)
    landmarks = None
    if with_landmarks:
        m = np.concatenate(marks).astype(np.float32) if marks else np.zeros((0, k, 2), np.float32)
        m = m[kept].reshape(-1, k, 2)
        lx, ly = map_xy(m[..., 0], m[..., 1])
        landmarks = np.stack([lx, ly], axis=-1).astype(np.float32)
    return out_boxes, s[kept].astype(np.float32), landmarks


def decode_scrfd(levels: Any, input_size: Any, num_anchors: int = 2, score_threshold: float = 0.5,
                 iou_threshold: float = 0.4, pre_nms_top_k: int = 5000, max_detections: int = 1000,
                 scale: Any = (1.0, 1.0), clip: Any = (0.0, 0.0)):
    """Decode SCRFD head outputs into faces (see edgecv._core.decode_scrfd)."""
    lv, k = _levels(levels, (("scores", 1), ("boxes", 4)), 3)
    w, h = pair(input_size, "input_size")
    scale, clip = pair(scale, "scale", float), pair(clip, "clip", float)
    require(0 < num_anchors <= 64, "num_anchors must be in [1, 64]")
    _check_output(score_threshold, iou_threshold, scale, clip, k or 5)
    _check_levels(lv, (w, h), num_anchors, "SCRFD")
    boxes, scores, marks = [], [], []
    for stride, (score, dist), lm, _ in lv:
        score = score.reshape(-1)
        rows = _candidates(score, score_threshold, int(pre_nms_top_k))
        d = dist[rows]
        ok = np.isfinite(d).all(axis=1)
        if lm is not None:
            ok &= np.isfinite(lm[rows]).all(axis=1)
        rows, d = rows[ok], d[ok]
        cells = rows // num_anchors
        fw = feature_size(w, stride)
        s = np.float32(stride)
        cx = ((cells % fw) * stride).astype(np.float32)
        cy = ((cells // fw) * stride).astype(np.float32)
        boxes.append(np.stack([cx - d[:, 0] * s, cy - d[:, 1] * s, cx + d[:, 2] * s, cy + d[:, 3] * s], axis=1))
        scores.append(score[rows])
        if lm is not None:
            r = lm[rows].reshape(-1, k, 2)
            marks.append(np.stack([cx[:, None] + r[..., 0] * s, cy[:, None] + r[..., 1] * s], axis=-1))
    return _finish(boxes, scores, marks, k, iou_threshold, max_detections, scale, clip, lv[0][2] is not None)


def decode_yunet(levels: Any, input_size: Any, score_threshold: float = 0.6, iou_threshold: float = 0.3,
                 pre_nms_top_k: int = 5000, max_detections: int = 1000, scale: Any = (1.0, 1.0),
                 clip: Any = (0.0, 0.0)):
    """Decode YuNet head outputs into faces (see edgecv._core.decode_yunet): score sqrt(clamp(cls) * clamp(obj)),
    centre (cell + boxes[:2]) * stride, size exp(boxes[2:]) * stride."""
    lv, k = _levels(levels, (("cls", 1), ("obj", 1), ("boxes", 4)), 4)
    w, h = pair(input_size, "input_size")
    scale, clip = pair(scale, "scale", float), pair(clip, "clip", float)
    _check_output(score_threshold, iou_threshold, scale, clip, k or 5)
    _check_levels(lv, (w, h), 1, "YuNet")
    boxes, scores, marks = [], [], []
    for stride, (cls, obj, d_all), lm, _ in lv:
        score = np.sqrt(np.clip(cls.reshape(-1), 0, 1) * np.clip(obj.reshape(-1), 0, 1)).astype(np.float32)
        rows = _candidates(score, score_threshold, int(pre_nms_top_k))
        d = d_all[rows]
        ok = np.isfinite(d).all(axis=1)
        if lm is not None:
            ok &= np.isfinite(lm[rows]).all(axis=1)
        rows, d = rows[ok], d[ok]
        fw = feature_size(w, stride)
        s = np.float32(stride)
        x0 = ((rows % fw).astype(np.float32) * s).astype(np.float32)
        y0 = ((rows // fw).astype(np.float32) * s).astype(np.float32)
        cx, cy = x0 + d[:, 0] * s, y0 + d[:, 1] * s
        with np.errstate(over="ignore"):
            half_w, half_h = np.exp(d[:, 2]) * s * np.float32(0.5), np.exp(d[:, 3]) * s * np.float32(0.5)
        ok = np.isfinite(half_w) & np.isfinite(half_h)
        rows, cx, cy, half_w, half_h, x0, y0 = rows[ok], cx[ok], cy[ok], half_w[ok], half_h[ok], x0[ok], y0[ok]
        boxes.append(np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1))
        scores.append(score[rows])
        if lm is not None:
            r = lm[rows].reshape(-1, k, 2)
            marks.append(np.stack([x0[:, None] + r[..., 0] * s, y0[:, None] + r[..., 1] * s], axis=-1))
    return _finish(boxes, scores, marks, k, iou_threshold, max_detections, scale, clip, lv[0][2] is not None)
