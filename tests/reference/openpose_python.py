"""Straightforward Python/numpy implementation of edgecv's OpenPose grouping (peaks with the same
window and tie rule, quadratic sub-pixel refinement, PAF line integral with bilinear sampling,
one-to-one limb matching, assembly), used to check the C++ core and as the benchmark baseline."""

from __future__ import annotations

import math

import numpy as np


def find_peaks(heatmaps, threshold=0.1, radius=1, subpixel=True, max_per_part=128):
    peaks = []  # (part, x, y, score)
    parts, h, w = heatmaps.shape
    for c in range(parts):
        m = heatmaps[c]
        padded = np.pad(m, radius, constant_values=-np.inf)
        ok = m > threshold
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                if dy == 0 and dx == 0:
                    continue
                n = padded[radius + dy:radius + dy + h, radius + dx:radius + dx + w]
                earlier = dy < 0 or (dy == 0 and dx < 0)
                ok &= (m > n) if earlier else (m >= n)
        found = []
        for y, x in zip(*np.nonzero(ok)):
            v = m[y, x]
            px, py = float(x), float(y)
            if subpixel:
                if 0 < x < w - 1:
                    px += _offset(m[y, x - 1], v, m[y, x + 1])
                if 0 < y < h - 1:
                    py += _offset(m[y - 1, x], v, m[y + 1, x])
            found.append((c, px, py, float(v)))
        if len(found) > max_per_part:
            found = sorted(found, key=lambda p: -p[3])[:max_per_part]
        peaks += found
    return peaks


def _offset(l, c, r):
    d = l - 2 * c + r
    if d >= 0:
        return 0.0
    return float(min(0.5, max(-0.5, 0.5 * (l - r) / d)))


def _sample(paf, x, y):
    h, w = paf.shape
    x = min(max(x, 0.0), w - 1.0)
    y = min(max(y, 0.0), h - 1.0)
    x0, y0 = int(x), int(y)
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    top = paf[y0, x0] * (1 - fx) + paf[y0, x1] * fx
    bottom = paf[y1, x0] * (1 - fx) + paf[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def connect(peaks, pafs, limb, map_height, samples=10, sample_threshold=0.05, success_ratio=0.8,
            length_prior=0.5, paf_scale=1.0):
    a_part, b_part, cx, cy = limb[:4]
    a_ids = [i for i, p in enumerate(peaks) if p[0] == a_part]
    b_ids = [i for i, p in enumerate(peaks) if p[0] == b_part]
    candidates = []
    for ia in a_ids:
        for ib in b_ids:
            _, ax, ay, _ = peaks[ia]
            _, bx, by, _ = peaks[ib]
            dx, dy = bx - ax, by - ay
            length = math.hypot(dx, dy)
            if length < 1e-6:
                continue
            ux, uy = dx / length, dy / length
            values = []
            for s in range(samples):
                t = s / (samples - 1)
                sx = (ax + t * dx + 0.5) * paf_scale - 0.5
                sy = (ay + t * dy + 0.5) * paf_scale - 0.5
                values.append(_sample(pafs[cx], sx, sy) * ux + _sample(pafs[cy], sx, sy) * uy)
            score = sum(values) / samples + min(length_prior * map_height / length - 1, 0)
            if sum(v > sample_threshold for v in values) >= success_ratio * samples and score > 0:
                candidates.append((ia, ib, score))
    candidates.sort(key=lambda c: -c[2])
    used_a, used_b, chosen = set(), set(), []
    for ia, ib, score in candidates:
        if ia in used_a or ib in used_b:
            continue
        used_a.add(ia)
        used_b.add(ib)
        chosen.append((ia, ib, score))
    return chosen


def group(heatmaps, pafs, limbs, threshold=0.1, radius=1, subpixel=True, samples=10, sample_threshold=0.05,
          success_ratio=0.8, length_prior=0.5, paf_scale=1.0, min_parts=3, min_mean_score=0.2):
    """Returns keypoints (P, parts, 3) and scores (P,), best first, like edgecv._core.group_poses."""
    parts = heatmaps.shape[0]
    peaks = find_peaks(heatmaps, threshold, radius, subpixel)
    people = []  # [peak ids per part, score, count]
    for limb in limbs:
        a, b = int(limb[0]), int(limb[1])
        seed = len(limb) < 5 or bool(limb[4])
        for ia, ib, s in connect(peaks, pafs, limb, heatmaps.shape[1], samples, sample_threshold,
                                 success_ratio, length_prior, paf_scale):
            owners = [k for k, p in enumerate(people) if p[0][a] == ia or p[0][b] == ib][:2]
            if len(owners) == 1:
                p = people[owners[0]]
                if p[0][b] == -1 and p[0][a] == ia:
                    p[0][b] = ib
                    p[2] += 1
                    p[1] += peaks[ib][3] + s
                elif p[0][a] == -1 and p[0][b] == ib:
                    p[0][a] = ia
                    p[2] += 1
                    p[1] += peaks[ia][3] + s
            elif len(owners) == 2:
                p, q = people[owners[0]], people[owners[1]]
                if all(x < 0 or y < 0 for x, y in zip(p[0], q[0])):
                    p[0] = [y if y >= 0 else x for x, y in zip(p[0], q[0])]
                    p[2] += q[2]
                    p[1] += q[1] + s
                    del people[owners[1]]
            elif seed:
                ids = [-1] * parts
                ids[a], ids[b] = ia, ib
                people.append([ids, peaks[ia][3] + peaks[ib][3] + s, 2])
    people = [p for p in people if p[2] >= min_parts and p[1] / p[2] >= min_mean_score]
    people.sort(key=lambda p: -p[1])
    keypoints = np.zeros((len(people), parts, 3), np.float32)
    for i, (ids, _, _) in enumerate(people):
        for part, pid in enumerate(ids):
            if pid >= 0:
                keypoints[i, part] = peaks[pid][1:]
    return keypoints, np.array([p[1] for p in people], np.float32)
