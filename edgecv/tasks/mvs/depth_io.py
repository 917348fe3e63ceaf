"""Depth maps and point clouds on disk: ``.npy`` / ``.pfm`` depth, binary little-endian PLY."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from .errors import InvalidInputError

PathLike = Union[str, "os.PathLike[str]"]


def write_depth(path: PathLike, depth: np.ndarray) -> None:
    p = Path(path)
    d = np.asarray(depth, np.float32)
    if d.ndim != 2:
        raise InvalidInputError(f"depth must be (H, W), got {d.shape}")
    if p.suffix == ".npy":
        np.save(p, d)
    elif p.suffix == ".pfm":
        with open(p, "wb") as f:
            f.write(f"Pf\n{d.shape[1]} {d.shape[0]}\n-1.0\n".encode())  # grey, little-endian
            f.write(np.flipud(d).astype("<f4").tobytes())  # PFM rows run bottom to top
    else:
        raise InvalidInputError(f"depth files are .npy or .pfm, got {p.name}")


def read_depth(path: PathLike) -> np.ndarray:
    """Read a depth map written as ``.npy`` or ``.pfm`` (grey)."""
    p = Path(path)
    if p.suffix == ".npy":
        return np.load(p).astype(np.float32)
    if p.suffix != ".pfm":
        raise InvalidInputError(f"depth files are .npy or .pfm, got {p.name}")
    with open(p, "rb") as f:
        kind = f.readline().strip()
        if kind not in (b"Pf", b"PF"):
            raise InvalidInputError(f"{p}: not a PFM file")
        w, h = (int(v) for v in f.readline().split())
        scale = float(f.readline())
        data = np.frombuffer(f.read(), dtype="<f4" if scale < 0 else ">f4")
    channels = 3 if kind == b"PF" else 1
    if data.size != w * h * channels:
        raise InvalidInputError(f"{p}: truncated PFM file")
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
        vertices["red"], vertices["green"], vertices["blue"] = rgb.T
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(xyz)}",
              "property float x", "property float y", "property float z"]
    if rgb is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    with open(path, "wb") as f:
        f.write(("\n".join(header + ["end_header"]) + "\n").encode())
        f.write(vertices.tobytes())


def read_ply(path: PathLike) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Read a PLY written by :func:`write_ply`: (xyz (N, 3) float32, rgb (N, 3) uint8 or None)."""
    with open(path, "rb") as f:
        header = []
        while True:
            line = f.readline()
            if not line:
                raise InvalidInputError(f"{path}: PLY header has no end_header")
            line = line.decode("ascii").strip()
            if line == "end_header":
                break
            header.append(line)
        if "format binary_little_endian 1.0" not in header:
            raise InvalidInputError(f"{path}: only binary little-endian PLY is supported")
        count = int(next(h.split()[2] for h in header if h.startswith("element vertex")))
        props = [h.split()[2] for h in header if h.startswith("property")]
        fields = [(n, "<f4" if n in "xyz" else "u1") for n in props]
        data = np.frombuffer(f.read(), dtype=fields, count=count)
    xyz = np.stack([data["x"], data["y"], data["z"]], axis=1)
    rgb = np.stack([data["red"], data["green"], data["blue"]], axis=1) if "red" in props else None
    return xyz, rgb
