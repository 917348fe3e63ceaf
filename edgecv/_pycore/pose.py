"""OpenPose grouping in numpy, as csrc/edgecv/pose.cpp does it: heatmap peaks (window maxima with a raster-order tie
rule, quadratic sub-pixel refinement), PAF line integrals sampled bilinearly, one-to-one limb matching best first,
and assembly into people."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

from ._checks import as_array, checked, f32, require
from ..errors import InvalidInputError

PEAK_RADIUS_CELLS = 1.5


class PoseParams:
    """Thresholds of OpenPose peak finding and grouping (the C++ PoseParams defaults)."""

    def __init__(self) -> None:
        self.peak_threshold = f32(0.1)
        self.peak_radius = 0
        self.subpixel = True
        self.max_peaks_per_part = 128
        self.paf_samples = 10
        self.paf_sample_threshold = f32(0.05)
        self.paf_success_ratio = f32(0.8)
        self.limb_length_prior = f32(0.5)
        self.paf_scale = 1.0
        self.min_parts = 5
        self.min_mean_score = f32(0.2)

    def effective_peak_radius(self) -> int:
        """The peak window radius used: peak_radius, or round(1.5 / paf_scale) when it is 0."""
        if self.peak_radius != 0:
            return int(self.peak_radius)
        r = np.round(np.float32(PEAK_RADIUS_CELLS) / np.float32(self.paf_scale))
        return int(min(16.0, max(1.0, float(r)))) if np.isfinite(r) else 1


def _maps(obj: Any, name: str) -> np.ndarray:
    a, _ = checked(obj, name, np.float32, [[-1, -1, -1]])
    require(all(0 < d <= (1 << 20) for d in a.shape), f"{name}: empty or oversized dimension")
    return a


def _limbs(obj: Any) -> np.ndarray:
    a = as_array(obj, "limbs")
    if a.dtype not in (np.int32, np.int64):
        raise InvalidInputError("limbs: expected an integer array (int32 or int64)")
    if a.ndim != 2 or a.shape[1] not in (4, 5):
        raise InvalidInputError("limbs: expected shape (L, 4) [part_a, part_b, paf_x, paf_y] or (L, 5) [..., seed]")
    t = a.astype(np.int64)
    if t.size and (t.min() < -(1 << 30) or t.max() > (1 << 30)):
        raise InvalidInputError("limbs: index out of range")
    seed = t[:, 4] != 0 if t.shape[1] == 5 else np.ones(len(t), bool)
    return np.column_stack([t[:, :4], seed.astype(np.int64)])


def _check_peaks(hm: np.ndarray, p: PoseParams) -> None:
    require(np.isfinite(p.peak_threshold), "peak_threshold must be finite")
    require(0 <= p.peak_radius <= 16, "peak_radius must be in [0, 16] (0 = automatic)")
    require(np.isfinite(p.paf_scale) and p.paf_scale > 0, "paf_scale must be > 0")
    require(1 <= p.max_peaks_per_part <= 4096, "max_peaks_per_part must be in [1, 4096]")
    require(bool(np.isfinite(hm).all()), "heatmaps contain NaN or infinite values")


def _check_pose(hm: np.ndarray, paf: np.ndarray, limbs: np.ndarray, p: PoseParams) -> None:
    _check_peaks(hm, p)
    require(len(limbs) > 0, "the limb table is empty")
    parts, chans = hm.shape[0], paf.shape[0]
    for i, (a, b, px, py, _) in enumerate(limbs):
        if not (0 <= a < parts and 0 <= b < parts):
            raise InvalidInputError(f"limb {i}: part index out of range [0, {parts})")
        if a == b:
            raise InvalidInputError(f"limb {i}: joins a part to itself")
        if not (0 <= px < chans and 0 <= py < chans):
            raise InvalidInputError(f"limb {i}: PAF channel out of range [0, {chans})")
    require(2 <= p.paf_samples <= 1000, "paf_samples must be in [2, 1000]")
    require(np.isfinite(p.paf_sample_threshold), "paf_sample_threshold must be finite")
    require(0 <= p.paf_success_ratio <= 1, "paf_success_ratio must be in [0, 1]")
    require(np.isfinite(p.limb_length_prior) and p.limb_length_prior > 0, "limb_length_prior must be > 0")
    require(p.min_parts >= 1, "min_parts must be >= 1")
    require(np.isfinite(p.min_mean_score), "min_mean_score must be finite")
    slack = 1.0 / p.paf_scale + 1.0
    require(abs(paf.shape[2] / p.paf_scale - hm.shape[2]) <= slack
            and abs(paf.shape[1] / p.paf_scale - hm.shape[1]) <= slack,
            f"pafs ({paf.shape[1]}x{paf.shape[2]}) do not match heatmaps ({hm.shape[1]}x{hm.shape[2]}) at paf_scale "
            f"{p.paf_scale:f}")
    require(bool(np.isfinite(paf).all()), "pafs contain NaN or infinite values")


def _parabola(lo: np.ndarray, c: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sub-pixel offset of a peak ``c`` between its neighbours ``lo`` and ``hi`` (a parabola's vertex, in [-0.5, 0.5];
    0 where the three do not curve down)."""
    d = lo - np.float32(2) * c + hi
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.clip(np.float32(0.5) * (lo - hi) / d, np.float32(-0.5), np.float32(0.5))
    return np.where(d >= 0, np.float32(0), off).astype(np.float32)


def _window_peaks(m: np.ndarray, threshold: float, r: int) -> Tuple[np.ndarray, np.ndarray]:
    """(ys, xs) of the pixels above ``threshold`` that beat every neighbour within radius ``r`` (>= all, > the
    earlier ones in raster order), in raster order."""
    import cv2

    h, w = m.shape
    kernel = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    dilated = cv2.dilate(m, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=-np.inf)
    ys, xs = np.nonzero((m > np.float32(threshold)) & (m >= dilated))
    keep = np.ones(len(ys), bool)
    for k, (y, x) in enumerate(zip(ys, xs)):  # the rare ties: an earlier neighbour with the same value wins
        y0, y1, x0, x1 = max(0, y - r), min(h, y + r + 1), max(0, x - r), min(w, x + r + 1)
        window = m[y0:y1, x0:x1]
        same = np.argwhere(window == m[y, x])
        if len(same) > 1:
            first = same[0] + (y0, x0)
            keep[k] = first[0] == y and first[1] == x
    return ys[keep], xs[keep]


def _find(hm: np.ndarray, p: PoseParams) -> np.ndarray:
    """Peaks (K, 4) as part, x, y, score (float32), part by part, as the C++ find_peaks orders them."""
    r = p.effective_peak_radius()
    out: List[np.ndarray] = []
    _, h, w = hm.shape
    for c in range(hm.shape[0]):
        m = hm[c]
        ys, xs = _window_peaks(m, p.peak_threshold, r)
        v = m[ys, xs]
        px, py = xs.astype(np.float32), ys.astype(np.float32)
        if p.subpixel and len(ys):
            inner_x, inner_y = (xs > 0) & (xs + 1 < w), (ys > 0) & (ys + 1 < h)
            xl, xr = m[ys, np.maximum(xs - 1, 0)], m[ys, np.minimum(xs + 1, w - 1)]
            yu, yd = m[np.maximum(ys - 1, 0), xs], m[np.minimum(ys + 1, h - 1), xs]
            px = px + np.where(inner_x, _parabola(xl, v, xr), np.float32(0))
            py = py + np.where(inner_y, _parabola(yu, v, yd), np.float32(0))
        rows = np.column_stack([np.full(len(v), c, np.float32), px, py, v]).astype(np.float32)
        if len(rows) > p.max_peaks_per_part:
            rows = rows[np.argsort(-rows[:, 3], kind="stable")[: p.max_peaks_per_part]]
        out.append(rows)
    return np.concatenate(out) if out else np.zeros((0, 4), np.float32)


def find_peaks(heatmaps: Any, params: Optional[PoseParams] = None) -> np.ndarray:
    """Heatmap peaks (K, 4) as part, x, y, score (heatmap pixels)."""
    p = params or PoseParams()
    hm = _maps(heatmaps, "heatmaps")
    _check_peaks(hm, p)
    return _find(hm, p)


def _sample(paf: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h, w = paf.shape
    x = np.clip(x, np.float32(0), np.float32(w - 1))
    y = np.clip(y, np.float32(0), np.float32(h - 1))
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0.astype(np.float32), y - y0.astype(np.float32)
    one = np.float32(1)
    top = paf[y0, x0] * (one - fx) + paf[y0, x1] * fx
    bottom = paf[y1, x0] * (one - fx) + paf[y1, x1] * fx
    return top * (one - fy) + bottom * fy


def _connect(peaks: np.ndarray, paf: np.ndarray, limb: np.ndarray, map_height: int,
             p: PoseParams) -> List[Tuple[int, int, float]]:
    part_a, part_b, cx, cy = (int(v) for v in limb[:4])
    ia = np.flatnonzero(peaks[:, 0] == part_a)
    ib = np.flatnonzero(peaks[:, 0] == part_b)
    if not len(ia) or not len(ib):
        return []
    A, B = np.repeat(ia, len(ib)), np.tile(ib, len(ia))
    ax, ay, bx, by = peaks[A, 1], peaks[A, 2], peaks[B, 1], peaks[B, 2]
    dx, dy = bx - ax, by - ay
    length = np.sqrt(dx * dx + dy * dy)
    ok = length >= np.float32(1e-6)
    A, B, ax, ay, dx, dy, length = A[ok], B[ok], ax[ok], ay[ok], dx[ok], dy[ok], length[ok]
    if not len(A):
        return []
    ux, uy = dx / length, dy / length
    n = int(p.paf_samples)
    t = (np.arange(n, dtype=np.float32) / np.float32(n - 1))[None, :]
    half, scale = np.float32(0.5), np.float32(p.paf_scale)
    sx = (ax[:, None] + t * dx[:, None] + half) * scale - half
    sy = (ay[:, None] + t * dy[:, None] + half) * scale - half
    v = _sample(paf[cx], sx, sy) * ux[:, None] + _sample(paf[cy], sx, sy) * uy[:, None]
    total = np.zeros(len(A), np.float32)
    for i in range(n):  # sequential float sums, as the C++ loop adds them
        total = total + v[:, i]
    success = (v > np.float32(p.paf_sample_threshold)).sum(axis=1)
    prior = np.minimum(np.float32(p.limb_length_prior) * np.float32(map_height) / length - np.float32(1), np.float32(0))
    score = total / np.float32(n) + prior
    good = (success.astype(np.float32) >= np.float32(p.paf_success_ratio) * np.float32(n)) & (score > 0)
    cands = [(int(a), int(b), float(s)) for a, b, s in zip(A[good], B[good], score[good])]
    cands.sort(key=lambda c: -c[2])  # stable: ties keep the (a, b) order of the C++ loops
    used_a, used_b, chosen = set(), set(), []
    for a, b, s in cands:
        if a in used_a or b in used_b:
            continue
        used_a.add(a)
        used_b.add(b)
        chosen.append((a, b, s))
    return chosen


def group_poses(heatmaps: Any, pafs: Any, limbs: Any, params: Optional[PoseParams] = None):
    """People from part heatmaps (P, H, W) and PAFs (C, h, w), float32, with a limb table (L, 4|5). Returns
    keypoints (N, P, 3) as x, y, score in heatmap pixels (zeros for missing parts) and person scores (N,), best
    first."""
    p = params or PoseParams()
    hm, paf = _maps(heatmaps, "heatmaps"), _maps(pafs, "pafs")
    table = _limbs(limbs)
    _check_pose(hm, paf, table, p)
    peaks = _find(hm, p)
    parts = hm.shape[0]
    people: List[list] = []  # [peak ids per part, score (float32), parts]
    pscore = peaks[:, 3]
    for limb in table:
        a, b, seed = int(limb[0]), int(limb[1]), bool(limb[4])
        for ia, ib, s in _connect(peaks, paf, limb, hm.shape[1], p):
            s32 = np.float32(s)
            owners = [k for k, q in enumerate(people) if q[0][a] == ia or q[0][b] == ib][:2]
            if len(owners) == 1:
                q = people[owners[0]]
                if q[0][b] == -1 and q[0][a] == ia:
                    q[0][b] = ib
                    q[2] += 1
                    q[1] = np.float32(q[1] + (pscore[ib] + s32))
                elif q[0][a] == -1 and q[0][b] == ib:
                    q[0][a] = ia
                    q[2] += 1
                    q[1] = np.float32(q[1] + (pscore[ia] + s32))
            elif len(owners) == 2:
                q, r = people[owners[0]], people[owners[1]]
                if all(x < 0 or y < 0 for x, y in zip(q[0], r[0])):
                    q[0] = [y if y >= 0 else x for x, y in zip(q[0], r[0])]
                    q[2] += r[2]
                    q[1] = np.float32(q[1] + (r[1] + s32))
                    del people[owners[1]]
            elif seed:
                ids = [-1] * parts
                ids[a], ids[b] = ia, ib
                people.append([ids, np.float32(pscore[ia] + pscore[ib] + s32), 2])
    people = [q for q in people
              if q[2] >= p.min_parts and not (np.float32(q[1]) / np.float32(q[2]) < np.float32(p.min_mean_score))]
    people.sort(key=lambda q: -float(q[1]))
    keypoints = np.zeros((len(people), parts, 3), np.float32)
    for i, (ids, _, _) in enumerate(people):
        for part, pid in enumerate(ids):
            if pid >= 0:
                keypoints[i, part] = peaks[pid, 1:]
    return keypoints, np.array([q[1] for q in people], np.float32)
