"""Vectorised numpy version of edgecv's geometric consistency check and back-projection (same rules:
bilinear source depth needing four valid neighbours, forward-backward reprojection), for the tests
and as the benchmark baseline."""

from __future__ import annotations

import numpy as np


def _transfer(K_from, E_from, E_to):
    R_f, t_f = E_from[:3, :3], E_from[:3, 3]
    R_t, t_t = E_to[:3, :3], E_to[:3, 3]
    rel = R_t @ R_f.T
    return rel @ np.linalg.inv(K_from), t_t - rel @ t_f


def _sample(depth, u, v):
    h, w = depth.shape
    inside = (u >= 0) & (v >= 0) & (u <= w - 1) & (v <= h - 1)
    u0 = np.clip(np.floor(u), 0, w - 1).astype(int)
    v0 = np.clip(np.floor(v), 0, h - 1).astype(int)
    u1, v1 = np.minimum(u0 + 1, w - 1), np.minimum(v0 + 1, h - 1)
    a, b, c, d = depth[v0, u0], depth[v0, u1], depth[v1, u0], depth[v1, u1]
    fu, fv = u - u0, v - v0
    value = (a * (1 - fu) + b * fu) * (1 - fv) + (c * (1 - fu) + d * fu) * fv
    ok = inside & (a > 0) & (b > 0) & (c > 0) & (d > 0)
    return np.where(ok, value, 0.0)


def check_consistency(depth, K, E, sources, confidence=None, max_px=1.0, max_rel=0.01, min_views=2, min_conf=0.0):
    h, w = depth.shape
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    d = depth.astype(np.float64)
    pix = np.stack([xs, ys, np.ones_like(xs)], axis=-1)
    counts = np.zeros((h, w), np.int32)
    total = d.copy()
    valid = d > 0
    for sd, sK, sE in sources:
        A, b = _transfer(K, E, sE)
        xs_cam = d[..., None] * (pix @ A.T) + b
        front = xs_cam[..., 2] > 0
        us = xs_cam @ sK.T
        with np.errstate(divide="ignore", invalid="ignore"):
            u, v = us[..., 0] / us[..., 2], us[..., 1] / us[..., 2]
        u, v = np.where(front, u, -1), np.where(front, v, -1)
        ds = _sample(sd.astype(np.float64), u, v)
        A2, b2 = _transfer(sK, sE, E)
        back = ds[..., None] * (np.stack([u, v, np.ones_like(u)], -1) @ A2.T) + b2
        ur = back @ K.T
        with np.errstate(divide="ignore", invalid="ignore"):
            rx, ry = ur[..., 0] / ur[..., 2] - xs, ur[..., 1] / ur[..., 2] - ys
            rel = np.abs(back[..., 2] - d) / d
        ok = valid & front & (ds > 0) & (back[..., 2] > 0) & (np.hypot(rx, ry) < max_px) & (rel < max_rel)
        counts += ok
        total += np.where(ok, back[..., 2], 0)
    fused = np.where(valid, total / (counts + 1), 0).astype(np.float32)
    confident = np.ones((h, w), bool) if confidence is None else confidence >= min_conf
    return ((counts >= min_views) & confident & valid).astype(np.uint8), counts, fused


def backproject(depth, K, E, mask=None):
    h, w = depth.shape
    ys, xs = np.mgrid[:h, :w]
    keep = depth > 0 if mask is None else (depth > 0) & (mask > 0)
    rays = np.stack([xs[keep], ys[keep], np.ones(keep.sum())], axis=1) @ np.linalg.inv(K).T
    cam = rays * depth[keep][:, None]
    return ((cam - E[:3, 3]) @ E[:3, :3]).astype(np.float32)
