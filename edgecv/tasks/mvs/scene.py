"""Multi-view stereo data: MVSNet-format scenes (``images/``, ``cams/%08d_cam.txt``, ``pair.txt``),
calibrated cameras, and view selection. Everything is checked when the scene is loaded, before any
inference: a bad camera, pair entry or image is a :class:`SceneError` naming the file.

Cam file: a line ``extrinsic`` and 4 rows (world -> camera, 4x4, a rotation and a translation); a blank
line; ``intrinsic`` and 3 rows (pixels, at the stored image size); a blank line; then the depth line:

- ``DEPTH_MIN DEPTH_MAX`` (min < max), or
- ``DEPTH_MIN DEPTH_INTERVAL N [DEPTH_MAX]`` (MVSNet family; the maximum is DEPTH_MAX when given, else
  ``DEPTH_MIN + INTERVAL * (N - 1)``).

Two values with the second not above the first are ambiguous (``425 2.5`` is DTU's min + interval, ``837 8.5``
may be a swapped min/max): they are refused unless ``depth_format="interval"`` (192 planes) says so.

The intrinsics must describe the stored image: a principal point far from the image centre in the same
proportion on both axes means the image was resized without its cam file; that is refused unless
``scale_intrinsics=True``, which scales K to the image (the size K describes: twice the principal point).
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from ...errors import ImageReadError, InvalidInputError, SceneError
from ...image import read_image

log = logging.getLogger(__name__)

#: Depth planes assumed by MVSNet-style cam files that give DEPTH_MIN DEPTH_INTERVAL only.
DEFAULT_DEPTH_PLANES = 192
DEPTH_FORMATS = ("auto", "interval")
#: The principal point may sit this far (share of the image size) from the centre before the intrinsics
#: are taken to describe another image size.
PRINCIPAL_POINT_SLACK = 0.25
#: Depths edgecv accepts (scene units) and the largest DEPTH_MAX / DEPTH_MIN: the network samples inverse depth in
#: float32, and a range like 1e-308..1e308 would give infinities, not depth.
DEPTH_LIMITS = (1e-6, 1e9)
MAX_DEPTH_RATIO = 1e6
#: A source view whose camera centre is within this share of the reference's DEPTH_MIN of the reference's centre
#: sees the scene from the same place: no stereo, and every pixel would look "consistent".
MIN_BASELINE = 1e-6
_CAM_NAME = re.compile(r"^(\d{1,9})_cam\.txt$")
MAX_CAM_BYTES = 1 << 16


def _check_rotation(E: np.ndarray) -> Optional[str]:
    R = E[:3, :3]
    if not np.allclose(E[3], [0, 0, 0, 1]):
        return "the extrinsic's last row must be 0 0 0 1"
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-3) or abs(np.linalg.det(R) - 1) > 1e-3:
        return "the extrinsic's 3x3 part is not a rotation (orthonormal, determinant 1)"
    return None


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
        try:
            K = np.asarray(self.K, np.float64)
            E = np.asarray(self.extrinsic, np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError("camera: K and extrinsic must be numeric arrays") from None
        if K.shape != (3, 3) or E.shape != (4, 4) or not (np.all(np.isfinite(K)) and np.all(np.isfinite(E))):
            raise InvalidInputError("camera: K must be finite 3x3 and extrinsic finite 4x4")
        if K[0, 0] <= 0 or K[1, 1] <= 0 or K[1, 0] != 0 or K[2, 0] != 0 or K[2, 1] != 0 or K[2, 2] != 1:
            raise InvalidInputError("camera: K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with positive fx, fy")
        problem = _check_rotation(E)
        if problem:
            raise InvalidInputError(f"camera: {problem}")
        try:
            d_min, d_max = float(self.depth_min), float(self.depth_max)
            h, w = (int(v) for v in self.size)
        except (TypeError, ValueError):
            raise InvalidInputError("camera: depth range must be numbers and size (H, W) integers") from None
        if not (math.isfinite(d_min) and math.isfinite(d_max) and 0 < d_min < d_max):
            raise InvalidInputError(f"camera: need 0 < depth_min < depth_max, got {d_min}, {d_max}")
        low, high = DEPTH_LIMITS
        if not (low <= d_min and d_max <= high and d_max / d_min <= MAX_DEPTH_RATIO):
            raise InvalidInputError(f"camera: depth range {d_min:g}..{d_max:g} is outside {low:g}..{high:g} "
                                    f"scene units or spans more than a factor {MAX_DEPTH_RATIO:g}")
        if not (0 < h <= 1 << 16 and 0 < w <= 1 << 16):
            raise InvalidInputError(f"camera: size must be (H, W) in 1..65536, got {self.size}")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "extrinsic", E)
        object.__setattr__(self, "depth_min", d_min)
        object.__setattr__(self, "depth_max", d_max)
        object.__setattr__(self, "size", (h, w))

    def scaled(self, size: Tuple[int, int]) -> "MvsCamera":
        """The camera for the image resized to ``size`` (H, W): K row 0 *= W/w, row 1 *= H/h."""
        h, w = self.size
        K = self.K.copy()
        K[0, :] *= size[1] / w
        K[1, :] *= size[0] / h
        return replace(self, K=K, size=(int(size[0]), int(size[1])))

    @property
    def centre(self) -> np.ndarray:
        """The camera centre in world coordinates, (3,) float64: ``-R^T t``."""
        return -self.extrinsic[:3, :3].T @ self.extrinsic[:3, 3]

    def implied_size(self) -> Tuple[int, int]:
        """The image size (H, W) the intrinsics suggest: twice the principal point."""
        return max(1, int(round(2 * self.K[1, 2]))), max(1, int(round(2 * self.K[0, 2])))


def _depth_range(values: List[float], depth_format: str, where: str) -> Tuple[float, float]:
    if len(values) < 2 or len(values) > 4 or not all(math.isfinite(v) for v in values):
        raise SceneError(f"{where}: the depth line needs 2 to 4 finite numbers, got {values}")
    d_min = values[0]
    if len(values) == 2 and depth_format == "auto":
        if values[1] <= d_min:
            raise SceneError(
                f"{where}: depth line '{values[0]:g} {values[1]:g}' is ambiguous: DEPTH_MIN DEPTH_MAX needs min < max; "
                f"for MVSNet's DEPTH_MIN DEPTH_INTERVAL give the plane count ('{values[0]:g} {values[1]:g} "
                f"{DEFAULT_DEPTH_PLANES}') or load the scene with depth_format='interval' (--depth-format interval)")
        return d_min, values[1]
    interval = values[1]
    planes = values[2] if len(values) > 2 else DEFAULT_DEPTH_PLANES
    if not (interval > 0 and float(planes).is_integer() and 2 <= planes <= 100_000):
        raise SceneError(f"{where}: DEPTH_INTERVAL must be > 0 and N an integer in [2, 100000], got {values}")
    d_max = values[3] if len(values) > 3 else d_min + interval * (planes - 1)
    return d_min, d_max


def read_cam_file(path: Union[str, os.PathLike], size: Optional[Tuple[int, int]] = None,
                  depth_format: str = "auto") -> MvsCamera:
    """Parse and check a cam file; ``size`` (H, W) is the size of the image the intrinsics refer to
    (default: twice the principal point)."""
    p = Path(path)
    if not p.is_file():
        raise SceneError(f"cam file not found: {p}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise SceneError(f"{p}: cannot read ({exc.strerror or exc})") from None
    return parse_cam(data, str(p), size, depth_format)


def parse_cam(data: bytes, where: str, size: Optional[Tuple[int, int]] = None, depth_format: str = "auto"
              ) -> MvsCamera:
    """Parse and check the bytes of a cam file (``where`` names it in errors); see :func:`read_cam_file`."""
    if depth_format not in DEPTH_FORMATS:
        raise InvalidInputError(f"depth_format must be one of {DEPTH_FORMATS}, got {depth_format!r}")
    try:
        if len(data) > MAX_CAM_BYTES:
            raise SceneError(f"{where}: {len(data)} bytes is too large for a cam file")
        lines = [ln.strip() for ln in data.decode("utf-8").splitlines()]
    except UnicodeDecodeError:
        raise SceneError(f"{where}: not a text cam file (bad UTF-8)") from None
    try:
        e_at = lines.index("extrinsic")
        k_at = lines.index("intrinsic")
        E = np.array([[float(v) for v in lines[e_at + 1 + r].split()] for r in range(4)])
        K = np.array([[float(v) for v in lines[k_at + 1 + r].split()] for r in range(3)])
        tail = [ln for ln in lines[max(e_at + 5, k_at + 4):] if ln]
        values = [float(v) for v in tail[0].split()]
    except (ValueError, IndexError) as exc:
        raise SceneError(f"malformed cam file {where}: {exc}") from None
    if E.shape != (4, 4) or K.shape != (3, 3):
        raise SceneError(f"malformed cam file {where}: expected a 4x4 extrinsic and a 3x3 intrinsic")
    d_min, d_max = _depth_range(values, depth_format, where)
    try:
        camera = MvsCamera(K=K, extrinsic=E, depth_min=d_min, depth_max=d_max, size=size or (1, 1))
        return camera if size else replace(camera, size=camera.implied_size())
    except InvalidInputError as exc:
        raise SceneError(f"{where}: {exc}") from None


def read_pair_file(path: Union[str, os.PathLike]) -> Dict[int, List[int]]:
    """``pair.txt``: reference view -> its source views, best first. A view listed as its own source, or a source
    with score 0 or less (tools that list every view write both), is dropped with a warning; a source listed twice,
    a reference listed twice, non-finite scores or extra tokens are SceneErrors."""
    p = Path(path)
    if not p.is_file():
        raise SceneError(f"pair file not found: {p}")
    try:
        tokens = p.read_bytes().decode("utf-8").split()
    except (UnicodeDecodeError, OSError):
        raise SceneError(f"{p}: not a readable text pair file") from None
    pairs: Dict[int, List[int]] = {}
    dropped: List[int] = []
    try:
        count = int(tokens[0])
        if not 1 <= count <= 100_000:
            raise ValueError(f"view count {count}")
        at = 1
        for _ in range(count):
            ref, n = int(tokens[at]), int(tokens[at + 1])
            if ref < 0 or not 0 <= n <= 10_000:
                raise ValueError(f"entry of view {ref}: {n} sources")
            if ref in pairs:
                raise ValueError(f"view {ref} is listed twice")
            sources = [int(tokens[at + 2 + 2 * k]) for k in range(n)]
            scores = [float(tokens[at + 3 + 2 * k]) for k in range(n)]
            if len(set(sources)) != len(sources) or any(s < 0 for s in sources):
                raise ValueError(f"view {ref} lists a source twice or a negative view")
            if not all(math.isfinite(s) for s in scores):
                raise ValueError(f"view {ref} has non-finite scores")
            kept = [v for v, score in zip(sources, scores) if v != ref and score > 0]
            if len(kept) != len(sources):
                dropped.append(ref)
            pairs[ref] = kept
            at += 2 + 2 * n
        if at != len(tokens):
            raise ValueError(f"{len(tokens) - at} extra tokens after {count} entries")
    except (ValueError, IndexError) as exc:
        raise SceneError(f"malformed pair file {p}: {exc}") from None
    if dropped:
        log.warning("%s: dropped self-references and sources with score 0 from the entries of %d view(s) (%s%s)", p,
                    len(dropped), ", ".join(map(str, dropped[:8])), " ..." if len(dropped) > 8 else "")
    return pairs


def check_baselines(views: List["View"]) -> None:
    """InvalidInputError when a source view has the reference's camera centre (the same view twice, or a
    pure rotation): such a set has no stereo baseline and any depth would look consistent."""
    ref = views[0].camera
    for i, v in enumerate(views[1:], 1):
        if np.linalg.norm(v.camera.centre - ref.centre) <= MIN_BASELINE * ref.depth_min:
            raise InvalidInputError(
                f"source view {v.index if v.index >= 0 else i} has the reference's camera centre: "
                "multi-view stereo needs views from other positions (the same view sent twice?)")


@dataclass
class View:
    """One image (BGR uint8) with its camera."""

    image: np.ndarray
    camera: MvsCamera
    index: int = -1


@dataclass
class Scene:
    """An MVSNet-format scene folder: image paths, cameras (at their image's size) and view pairs (images
    load lazily)."""

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
        if image.shape[:2] != camera.size:
            raise SceneError(f"view {index}: {self.image_paths[index].name} is {image.shape[1]}x{image.shape[0]} now "
                             f"but was {camera.size[1]}x{camera.size[0]} when the scene was loaded")
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


def _image_size(path: Path) -> Tuple[int, int]:
    try:
        return read_image(path).shape[:2]
    except ImageReadError as exc:
        raise SceneError(str(exc)) from None


def _fit_to_image(camera: MvsCamera, image_hw: Tuple[int, int], scale_intrinsics: bool, where: str) -> MvsCamera:
    """The camera at its image's size, checking that the intrinsics describe that image."""
    h, w = image_hw
    implied = camera.implied_size()
    rx, ry = implied[1] / w, implied[0] / h
    if abs(rx - 1) <= PRINCIPAL_POINT_SLACK and abs(ry - 1) <= PRINCIPAL_POINT_SLACK:
        return replace(camera, size=(h, w))
    if scale_intrinsics:
        return replace(camera, size=implied).scaled((h, w))
    raise SceneError(
        f"{where}: the intrinsics describe a ~{implied[1]}x{implied[0]} image (principal point "
        f"{camera.K[0, 2]:g}, {camera.K[1, 2]:g}) but the image is {w}x{h}: resized without its cam file? Scale K's "
        f"first row by {w / implied[1]:.4g} and its second by {h / implied[0]:.4g}, or load the scene with "
        "scale_intrinsics=True (--scale-intrinsics)")


def load_scene(root: Union[str, os.PathLike], *, depth_format: str = "auto", scale_intrinsics: bool = False) -> Scene:
    """Read and check a scene folder: every cam file (named ``<index>_cam.txt``, one per index) with a
    decodable image whose size its intrinsics describe, and pair.txt's views and sources."""
    root = Path(root)
    if not root.is_dir():
        raise SceneError(f"scene folder not found: {root}")
    cam_dir = root / "cams"
    cams = sorted(cam_dir.glob("*_cam.txt")) if cam_dir.is_dir() else []
    if not cams:
        raise SceneError(f"no cam files in {cam_dir}")
    scene = Scene(root=root, pairs=read_pair_file(root / "pair.txt"))
    seen: Dict[int, Path] = {}
    for cam_path in cams:
        m = _CAM_NAME.match(cam_path.name)
        if not m:
            raise SceneError(f"{cam_path}: cam files are named <view number>_cam.txt (e.g. 00000003_cam.txt)")
        index = int(m.group(1))
        if index in seen:
            raise SceneError(f"two cam files for view {index}: {seen[index].name} and {cam_path.name}")
        seen[index] = cam_path
        image = next((root / "images" / f"{index:08d}{ext}" for ext in (".jpg", ".png", ".jpeg")
                      if (root / "images" / f"{index:08d}{ext}").is_file()), None)
        if image is None:
            raise SceneError(f"no image for view {index} in {root / 'images'} (expected {index:08d}.jpg or .png)")
        camera = read_cam_file(cam_path, depth_format=depth_format)
        scene.image_paths[index] = image
        scene.cameras[index] = _fit_to_image(camera, _image_size(image), scale_intrinsics, str(cam_path))
    missing = sorted({v for ref, srcs in scene.pairs.items() for v in [ref, *srcs]} - set(scene.cameras))
    if missing:
        raise SceneError(f"pair.txt names views without cam files: {missing}")
    return scene
