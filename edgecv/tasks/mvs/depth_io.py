"""Depth maps and point clouds on disk: ``.npy`` / ``.pfm`` depth, binary little-endian PLY.
Writes are atomic (:mod:`edgecv.fileio`); reading a missing, truncated or foreign file raises
:class:`InvalidInputError` (missing: :class:`ImageReadError`, an OSError too)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, List, Optional, Tuple, Union

import numpy as np

from ...errors import ImageReadError, InvalidInputError
from ...fileio import write_with

PathLike = Union[str, "os.PathLike[str]"]
#: Largest side of a depth map read from disk.
MAX_SIDE = 1 << 15


def write_depth(path: PathLike, depth: np.ndarray) -> None:
    p = Path(path)
    d = np.asarray(depth, np.float32)
    if d.ndim != 2:
        raise InvalidInputError(f"depth must be (H, W), got {d.shape}")
    if p.suffix == ".npy":
        write_with(p, lambda f: np.save(f, d))
    elif p.suffix == ".pfm":
        def pfm(f: BinaryIO) -> None:
            f.write(f"Pf\n{d.shape[1]} {d.shape[0]}\n-1.0\n".encode())  # grey, little-endian
            f.write(np.flipud(d).astype("<f4").tobytes())  # PFM rows run bottom to top
        write_with(p, pfm)
    else:
        raise InvalidInputError(f"depth files are .npy or .pfm, got {p.name}")


def _open(p: Path) -> BinaryIO:
    if not p.is_file():
        raise ImageReadError(f"depth file not found: {p}")
    return open(p, "rb")


def read_depth(path: PathLike) -> np.ndarray:
    """Read a depth map written as ``.npy`` or ``.pfm`` (grey) -> (H, W) float32."""
    p = Path(path)
    if p.suffix not in (".npy", ".pfm"):
        raise InvalidInputError(f"depth files are .npy or .pfm, got {p.name}")
    with _open(p) as f:
        if p.suffix == ".npy":
            try:
                d = np.load(f, allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                raise InvalidInputError(f"{p}: not a readable .npy depth map ({str(exc)[:100]})") from None
            if d.ndim != 2 or d.dtype.kind not in "fiu":
                raise InvalidInputError(f"{p}: a depth map is a 2-D numeric array, got {d.dtype} {d.shape}")
            return d.astype(np.float32)
        try:
            kind = f.readline(16).strip()
            if kind not in (b"Pf", b"PF"):
                raise ValueError("not a PFM file")
            w, h = (int(v) for v in f.readline(64).split())
            scale = float(f.readline(64))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"{p}: not a PFM depth map ({exc})") from None
        channels = 3 if kind == b"PF" else 1
        if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE) or scale == 0 or not np.isfinite(scale):
            raise InvalidInputError(f"{p}: bad PFM header ({w}x{h}, scale {scale})")
        data = np.frombuffer(f.read(w * h * channels * 4 + 1), dtype="<f4" if scale < 0 else ">f4")
    if data.size != w * h * channels:
        raise InvalidInputError(f"{p}: truncated or oversized PFM file")
    data = data.reshape(h, w, channels) if channels == 3 else data.reshape(h, w)
    return np.flipud(data).astype(np.float32)


def write_ply(path: PathLike, xyz: np.ndarray, rgb: Optional[np.ndarray] = None) -> None:
    """Binary little-endian PLY with float x, y, z and (optionally) uchar red, green, blue."""
    xyz = np.asarray(xyz, np.float32).reshape(-1, 3)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if rgb is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vertices = np.empty(len(xyz), dtype=fields)
    vertices["x"], vertices["y"], vertices["z"] = xyz.T
    if rgb is not None:
        rgb = np.asarray(rgb, np.uint8).reshape(-1, 3)
        if len(rgb) != len(xyz):
            raise InvalidInputError(f"write_ply: {len(rgb)} colours for {len(xyz)} points")
        vertices["red"], vertices["green"], vertices["blue"] = rgb.T
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(xyz)}",
              "property float x", "property float y", "property float z"]
    if rgb is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]

    def ply(f: BinaryIO) -> None:
        f.write(("\n".join(header + ["end_header"]) + "\n").encode())
        f.write(vertices.tobytes())
    write_with(path, ply)


def read_ply(path: PathLike) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Read a PLY written by :func:`write_ply`: (xyz (N, 3) float32, rgb (N, 3) uint8 or None)."""
    p = Path(path)
    with _open(p) as f:
        header: List[str] = []
        try:
            while len(header) < 64:
                raw = f.readline(256)
                if not raw:
                    raise ValueError("no end_header")
                line = raw.decode("ascii").strip()
                if line == "end_header":
                    break
                header.append(line)
            else:
                raise ValueError("header too long")
            if "format binary_little_endian 1.0" not in header:
                raise ValueError("only binary little-endian PLY is supported")
            count = int(next(h.split()[2] for h in header if h.startswith("element vertex")))
            props = [h.split()[2] for h in header if h.startswith("property")]
            if props[:3] != ["x", "y", "z"] or props[3:] not in ([], ["red", "green", "blue"]):
                raise ValueError(f"unexpected properties {props}")
            fields = [(n, "<f4" if n in "xyz" else "u1") for n in props]
            data = np.frombuffer(f.read(), dtype=fields, count=count)
        except (ValueError, UnicodeDecodeError, StopIteration, IndexError) as exc:
            raise InvalidInputError(f"{p}: not a PLY written by edgecv ({str(exc)[:100]})") from None
    xyz = np.stack([data["x"], data["y"], data["z"]], axis=1)
    rgb = np.stack([data["red"], data["green"], data["blue"]], axis=1) if "red" in props else None
    return xyz, rgb
