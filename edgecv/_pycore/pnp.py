"""Perspective-n-point in numpy, as csrc/edgecv/pnp.cpp: the same input checks, an initial pose (OpenCV's SQPnP on
undistorted normalised coordinates, where the C++ core uses its own EPnP), then the same Levenberg-Marquardt on the
pixel reprojection error (distortion and skew included), so both converge to the same minimum."""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from ._checks import as_array, checked, require
from ..errors import InvalidInputError


def rotation_from_vector(r: np.ndarray) -> np.ndarray:
    theta = float(np.sqrt(r @ r))
    if theta < 1e-12:
        return np.array([[1, -r[2], r[1]], [r[2], 1, -r[0]], [-r[1], r[0], 1]], float)
    x, y, z = r / theta
    c, s = np.cos(theta), np.sin(theta)
    C = 1 - c
    return np.array([[c + x * x * C, x * y * C - z * s, x * z * C + y * s],
                     [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
                     [z * x * C - y * s, z * y * C + x * s, c + z * z * C]])


def vector_from_rotation(m: np.ndarray) -> np.ndarray:
    m = m.reshape(-1)
    trace = m[0] + m[4] + m[8]
    if trace > 0:
        s = np.sqrt(trace + 1.0) * 2
        w, x, y, z = 0.25 * s, (m[7] - m[5]) / s, (m[2] - m[6]) / s, (m[3] - m[1]) / s
    elif m[0] > m[4] and m[0] > m[8]:
        s = np.sqrt(1.0 + m[0] - m[4] - m[8]) * 2
        w, x, y, z = (m[7] - m[5]) / s, 0.25 * s, (m[1] + m[3]) / s, (m[2] + m[6]) / s
    elif m[4] > m[8]:
        s = np.sqrt(1.0 + m[4] - m[0] - m[8]) * 2
        w, x, y, z = (m[2] - m[6]) / s, (m[1] + m[3]) / s, 0.25 * s, (m[5] + m[7]) / s
    else:
        s = np.sqrt(1.0 + m[8] - m[0] - m[4]) * 2
        w, x, y, z = (m[3] - m[1]) / s, (m[2] + m[6]) / s, (m[5] + m[7]) / s, 0.25 * s
    if w < 0:
        w, x, y, z = -w, -x, -y, -z
    sin_half = np.sqrt(x * x + y * y + z * z)
    if sin_half < 1e-15:
        return np.zeros(3)
    angle = 2.0 * np.arctan2(sin_half, w)
    return np.array([x, y, z]) / sin_half * angle


class _Camera:
    def __init__(self, K: np.ndarray, dist: np.ndarray) -> None:
        self.fx, self.skew, self.cx, self.fy, self.cy = K[0, 0], K[0, 1], K[0, 2], K[1, 1], K[1, 2]
        self.dist = np.zeros(5)
        self.dist[: len(dist)] = dist
        self.n_dist = len(dist)

    def distort(self, x: np.ndarray, y: np.ndarray, jac: bool = False):
        if self.n_dist == 0:
            one, zero = np.ones_like(x), np.zeros_like(x)
            return x, y, (one, zero, zero, one) if jac else None
        k1, k2, p1, p2, k3 = self.dist
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        j = None
        if jac:
            dr = k1 + r2 * (2 * k2 + 3 * k3 * r2)
            drx, dry = dr * 2 * x, dr * 2 * y
            j = (radial + x * drx + 2 * p1 * y + 6 * p2 * x, x * dry + 2 * p1 * x + 2 * p2 * y,
                 y * drx + 2 * p1 * x + 2 * p2 * y, radial + y * dry + 6 * p1 * y + 2 * p2 * x)
        return xd, yd, j

    def normalise(self, uv: np.ndarray) -> np.ndarray:
        """Pixels -> undistorted normalised coordinates (fixed-point iteration, as OpenCV does)."""
        yd = (uv[:, 1] - self.cy) / self.fy
        xd = (uv[:, 0] - self.cx - self.skew * yd) / self.fx
        if self.n_dist == 0:
            return np.column_stack([xd, yd])
        k1, k2, p1, p2, k3 = self.dist
        x, y = xd.copy(), yd.copy()
        for _ in range(20):
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            ok = np.abs(radial) > 1e-12
            x = np.where(ok, (xd - dx) / np.where(ok, radial, 1), x)
            y = np.where(ok, (yd - dy) / np.where(ok, radial, 1), y)
        return np.column_stack([x, y])

    def project(self, pc: np.ndarray) -> np.ndarray:
        xd, yd, _ = self.distort(pc[:, 0] / pc[:, 2], pc[:, 1] / pc[:, 2])
        return np.column_stack([self.fx * xd + self.skew * yd + self.cx, self.fy * yd + self.cy])


def _cost(cam: _Camera, R: np.ndarray, t: np.ndarray, obj: np.ndarray, img: np.ndarray) -> float:
    p = obj @ R.T + t
    if not np.all(p[:, 2] > 1e-12):
        return float("inf")
    return float(((cam.project(p) - img) ** 2).sum())


def _refine(cam: _Camera, R: np.ndarray, t: np.ndarray, obj: np.ndarray, img: np.ndarray, max_iterations: int):
    cost = _cost(cam, R, t, obj, img)
    lam = 1e-3
    it = 0
    while it < max_iterations and np.isfinite(cost):
        rx = obj @ R.T
        p = rx + t
        iz = 1.0 / p[:, 2]
        x, y = p[:, 0] * iz, p[:, 1] * iz
        xd, yd, (j0, j1, j2, j3) = cam.distort(x, y, jac=True)
        res = np.column_stack([cam.fx * xd + cam.skew * yd + cam.cx - img[:, 0], cam.fy * yd + cam.cy - img[:, 1]])
        a = np.stack([cam.fx * j0 + cam.skew * j2, cam.fx * j1 + cam.skew * j3, cam.fy * j2, cam.fy * j3], axis=1)
        J = np.zeros((len(obj), 2, 6))
        for r in range(2):
            d0, d1 = a[:, 2 * r] * iz, a[:, 2 * r + 1] * iz
            d2 = -(a[:, 2 * r] * x + a[:, 2 * r + 1] * y) * iz
            J[:, r, 0] = d2 * rx[:, 1] - d1 * rx[:, 2]
            J[:, r, 1] = d0 * rx[:, 2] - d2 * rx[:, 0]
            J[:, r, 2] = d1 * rx[:, 0] - d0 * rx[:, 1]
            J[:, r, 3], J[:, r, 4], J[:, r, 5] = d0, d1, d2
        Jf = J.reshape(-1, 6)
        H, g = Jf.T @ Jf, Jf.T @ res.reshape(-1)
        improved = False
        for _ in range(10):
            A = H + np.diag(lam * np.maximum(np.diag(H), 1e-12))
            try:
                if np.abs(A).max() <= 0 or np.linalg.cond(A) > 1e14:
                    raise np.linalg.LinAlgError
                step = np.linalg.solve(A, -g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            R2, t2 = rotation_from_vector(step[:3]) @ R, t + step[3:]
            trial = _cost(cam, R2, t2, obj, img)
            if trial < cost:
                gain = cost - trial
                R, t, cost = R2, t2, trial
                lam = max(lam / 10, 1e-12)
                improved = True
                if float(step @ step) < 1e-20 or gain < 1e-14 * (cost + 1e-300):
                    return R, t, it + 1
                break
            lam *= 10
        if not improved:
            break
        it += 1
    return R, t, it


def _check(obj: np.ndarray, img: np.ndarray, K: np.ndarray, dist: np.ndarray) -> None:
    n = len(obj)
    require(n >= 4, f"PnP needs at least 4 points, got {n}")
    require(bool(np.isfinite(obj).all()), "object points contain NaN or inf")
    require(bool(np.isfinite(img).all()), "image points contain NaN or inf")
    fx, fy = K[0, 0], K[1, 1]
    require(bool(np.isfinite(fx) and np.isfinite(fy) and fx > 0 and fy > 0),
            "focal lengths must be positive and finite")
    require(bool(np.isfinite([K[0, 2], K[1, 2], K[0, 1]]).all()), "principal point must be finite")
    require(bool(np.isfinite(dist).all()), "distortion coefficients must be finite")
    centred = obj - obj.mean(axis=0)
    values = np.linalg.eigvalsh(centred.T @ centred)
    require(values[2] > 0, "object points are all identical")
    require(values[1] > 1e-10 * values[2], "object points are collinear")
    require(float(np.abs(img - img[0]).sum()) > 0, "image points are all identical")


def _initial(cam: _Camera, obj: np.ndarray, img: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    import cv2

    uv = cam.normalise(img)
    ok, rvec, tvec = cv2.solvePnP(obj.reshape(-1, 1, 3), uv.reshape(-1, 1, 2), np.eye(3), None,
                                  flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        ok, rvec, tvec = cv2.solvePnP(obj.reshape(-1, 1, 3), uv.reshape(-1, 1, 2), np.eye(3), None,
                                      flags=cv2.SOLVEPNP_EPNP)
    return rotation_from_vector(rvec.reshape(3)), tvec.reshape(3).astype(float)


def solve_pnp(object_points: Any, image_points: Any, camera_matrix: Any, dist_coeffs: Any = None,
              rvecs: Any = None, tvecs: Any = None, max_iterations: int = 50):
    """Batch PnP, float64 (see edgecv._core.solve_pnp). Returns rvecs (B,3), rotations (B,3,3), tvecs (B,3), rms
    reprojection error (B,) in pixels."""
    a = as_array(image_points, "image_points")
    if a.ndim != 3 or a.shape[2] != 2:
        raise InvalidInputError("image_points: expected shape (faces, points, 2)")
    b, n = a.shape[0], a.shape[1]
    img, _ = checked(image_points, "image_points", np.float64, [[b, n, 2]])
    obj, obj_kind = checked(object_points, "object_points", np.float64, [[n, 3], [b, n, 3]])
    Ks, k_kind = checked(camera_matrix, "camera_matrix", np.float64, [[3, 3], [b, 3, 3]])
    Ks = Ks.reshape(-1, 3, 3)
    for m in Ks:
        if m[1, 0] != 0 or m[2, 0] != 0 or m[2, 1] != 0 or m[2, 2] != 1:
            raise InvalidInputError("camera_matrix: expected [[fx, s, cx], [0, fy, cy], [0, 0, 1]]")
    dist = np.zeros(0)
    if dist_coeffs is not None:
        dist, _ = checked(dist_coeffs, "dist_coeffs", np.float64, [[0], [4], [5]])
    if (rvecs is None) != (tvecs is None):
        raise InvalidInputError("give both rvecs and tvecs as the initial guess, or neither")
    if rvecs is not None:
        rv, _ = checked(rvecs, "rvecs", np.float64, [[b, 3]])
        tv, _ = checked(tvecs, "tvecs", np.float64, [[b, 3]])
    out_r, out_m, out_t, out_rms = np.zeros((b, 3)), np.zeros((b, 3, 3)), np.zeros((b, 3)), np.zeros(b)
    for f in range(b):
        o = obj if obj_kind == 0 else obj[f]
        K = Ks[0] if k_kind == 0 else Ks[f]
        try:
            _check(o, img[f], K, dist)
            require(0 <= max_iterations <= 10000, "max_iterations must be in [0, 10000]")
            cam = _Camera(K, dist)
            if rvecs is not None:
                require(bool(np.isfinite(rv[f]).all() and np.isfinite(tv[f]).all()), "initial guess must be finite")
                R, t = rotation_from_vector(rv[f]), tv[f].astype(float).copy()
            else:
                R, t = _initial(cam, o, img[f])
        except InvalidInputError as exc:
            raise InvalidInputError(f"face {f}: {exc}") from None
        R, t, _ = _refine(cam, R, t, o, img[f], int(max_iterations))
        cost = _cost(cam, R, t, o, img[f])
        out_r[f], out_m[f], out_t[f] = vector_from_rotation(R), R, t
        out_rms[f] = np.sqrt(cost / n) if np.isfinite(cost) else np.inf
    return out_r, out_m, out_t, out_rms
