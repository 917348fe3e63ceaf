"""Multi-view stereo data: MVSNet-format scenes (``images/``, ``cams/%08d_cam.txt``, ``pair.txt``),
calibrated cameras, and view selection.

Cam file: a line ``extrinsic`` and 4 rows (world -> camera, 4x4); a blank line; ``intrinsic`` and 3 rows
(pixels, at the stored image size); a blank line; then ``DEPTH_MIN DEPTH_MAX`` (PatchmatchNet) or
``DEPTH_MIN DEPTH_INTERVAL [N [DEPTH_MAX]]`` (MVSNet family; the maximum is then
``DEPTH_MAX`` when given, else ``DEPTH_MIN + INTERVAL * (N - 1)`` with N defaulting to 192). With
exactly two values the second is DEPTH_MAX when it exceeds the first (DTU's ``425 2.5`` is an interval).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from ...errors import InvalidInputError, SceneError
from ...image import read_image

#: Depth planes assumed by MVSNet-style cam files that give only DEPTH_MIN DEPTH_INTERVAL.
DEFAULT_DEPTH_PLANES = 192


@dataclass(frozen=True)
class MvsCamera:
    """A calibrated view: intrinsics ``K`` (3x3, pixels at ``size`` (H, W)), ``extrinsic`` (4x4,
    world -> camera) and the scene's depth range in scene units."""

    K: np.ndarray
    extrinsic: np.ndarray
    depth_min: float
    depth_max: float
    size: Tuple[int, int]

    def __post_init__(self):
        K = np.asarray(self.K, np.float64)
        E = np.asarray(self.extrinsic, np.float64)
        if K.shape != (3, 3) or E.shape != (4, 4) or not (np.all(np.isfinite(K)) and np.all(np.isfinite(E))):
            raise InvalidInputError("camera: K must be finite 3x3 and extrinsic finite 4x4")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise InvalidInputError("camera: focal lengths must be positive")
        if not (np.isfinite(self.depth_min) and np.isfinite(self.depth_max) and 0 < self.depth_min < self.depth_max):
            raise InvalidInputError(f"camera: need 0 < depth_min < depth_max, got {self.depth_min}, {self.depth_max}")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "extrinsic", E)

    def scaled(self, size: Tuple[int, int]) -> "MvsCamera":
        """The camera for the image resized to ``size`` (H, W): K row 0 *= W/w, row 1 *= H/h."""
        h, w = self.size
        K = self.K.copy()
        K[0, :] *= size[1] / w
        K[1, :] *= size[0] / h
        return replace(self, K=K, size=(int(size[0]), int(size[1])))


def read_cam_file(path: Union[str, os.PathLike], size: Optional[Tuple[int, int]] = None) -> MvsCamera:
    """Parse a cam file; ``size`` (H, W) is the size of the image the intrinsics refer to."""
    p = Path(path)
    if not p.is_file():
        raise SceneError(f"cam file not found: {p}")
    lines = [ln.strip() for ln in p.read_text().splitlines()]
    try:
        e_at = lines.index("extrinsic")
        k_at = lines.index("intrinsic")
        E = np.array([[float(v) for v in lines[e_at + 1 + r].split()] for r in range(4)])
        K = np.array([[float(v) for v in lines[k_at + 1 + r].split()] for r in range(3)])
        tail = [ln for ln in lines[k_at + 4:] if ln]
        values = [float(v) for v in tail[0].split()]
    except (ValueError, IndexError) as exc:
        raise SceneError(f"malformed cam file {p}: {exc}") from None
    if E.shape != (4, 4) or K.shape != (3, 3) or len(values) < 2:
        raise SceneError(f"malformed cam file {p}: expected a 4x4 extrinsic, 3x3 intrinsic and a depth line")
    d_min = values[0]
    if len(values) == 2 and values[1] > d_min:
        d_max = values[1]  # DEPTH_MIN DEPTH_MAX: a maximum exceeds the minimum, an interval does not
    else:
        interval = values[1]
        planes = int(values[2]) if len(values) > 2 else DEFAULT_DEPTH_PLANES
        d_max = values[3] if len(values) > 3 else d_min + interval * (planes - 1)
    if size is None:
        size = (int(round(2 * K[1, 2])), int(round(2 * K[0, 2])))
    try:
        return MvsCamera(K=K, extrinsic=E, depth_min=d_min, depth_max=d_max, size=size)
    except InvalidInputError as exc:
        raise SceneError(f"{p}: {exc}") from None


def read_pair_file(path: Union[str, os.PathLike]) -> Dict[int, List[int]]:
    """``pair.txt``: reference view -> its source views, best first."""
    p = Path(path)
    if not p.is_file():
        raise SceneError(f"pair file not found: {p}")
    try:
        tokens = p.read_text().split()
        count = int(tokens[0])
        pairs, at = {}, 1
        for _ in range(count):
            ref, n = int(tokens[at]), int(tokens[at + 1])
            pairs[ref] = [int(tokens[at + 2 + 2 * k]) for k in range(n)]
            at += 2 + 2 * n
    except (ValueError, IndexError):
        raise SceneError(f"malformed pair file {p}") from None
    return pairs


@dataclass
class View:
    """One image (BGR uint8) with its camera."""

    image: np.ndarray
    camera: MvsCamera
    index: int = -1


@dataclass
class Scene:
    """An MVSNet-format scene folder: image paths, cameras and view pairs (images load lazily)."""

    root: Path
    image_paths: Dict[int, Path] = field(default_factory=dict)
    cameras: Dict[int, MvsCamera] = field(default_factory=dict)
    pairs: Dict[int, List[int]] = field(default_factory=dict)

    @property
    def views(self) -> List[int]:
        return sorted(self.cameras)

    def view(self, index: int) -> View:
        if index not in self.cameras:
            raise SceneError(f"view {index} is not in the scene (views: {self.views})")
        image = read_image(self.image_paths[index])
        camera = self.cameras[index]
        if image.shape[:2] != camera.size:  # intrinsics refer to the stored image
            camera = replace(camera, size=image.shape[:2])
        return View(image, camera, index)

    def sources(self, ref: int, count: int) -> List[int]:
        """The first ``count`` source views that pair.txt lists for ``ref``."""
        chosen = [v for v in self.pairs.get(ref, []) if v in self.cameras][:count]
        if len(chosen) < count:
            raise SceneError(f"pair.txt lists {len(chosen)} usable source views for view {ref}; {count} needed")
        return chosen

    def views_for(self, ref: int, num_views: int) -> List[View]:
        """The reference view then its best ``num_views - 1`` source views."""
        return [self.view(v) for v in [ref] + self.sources(ref, num_views - 1)]


def load_scene(root: Union[str, os.PathLike]) -> Scene:
    """Read a scene folder's cameras and pairs; every camera must have its image."""
    root = Path(root)
    if not root.is_dir():
        raise SceneError(f"scene folder not found: {root}")
    cams = sorted((root / "cams").glob("*_cam.txt"))
    if not cams:
        raise SceneError(f"no cam files in {root / 'cams'}")
    scene = Scene(root=root, pairs=read_pair_file(root / "pair.txt"))
    for cam_path in cams:
        index = int(cam_path.name.split("_")[0])
        image = next((root / "images" / f"{index:08d}{ext}" for ext in (".jpg", ".png", ".jpeg")
                      if (root / "images" / f"{index:08d}{ext}").is_file()), None)
        if image is None:
            raise SceneError(f"no image for view {index} in {root / 'images'}")
        scene.image_paths[index] = image
        scene.cameras[index] = read_cam_file(cam_path)
    missing = [v for v in scene.pairs if v not in scene.cameras]
    if missing:
        raise SceneError(f"pair.txt names views without cam files: {missing}")
    return scene
