"""MVS result: :class:`DepthMap`, the depth of one reference view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np


@dataclass
class DepthMap:
    """Depth of a reference view: ``depth`` (H, W) float32 in scene units (0 = none), ``confidence``
    (H, W) in 0..1, the reference ``camera`` scaled to the map, the reference ``image`` (BGR, same size)."""

    depth: np.ndarray
    confidence: np.ndarray
    camera: Any
    image: Optional[np.ndarray] = None
    index: int = -1

    def __len__(self) -> int:
        return int(np.count_nonzero(self.depth > 0))

    def to_points(self, mask: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """World-space points (M, 3) float32 and colours (M, 3) uint8 RGB (None without an image) of the
        pixels with depth > 0 (and ``mask`` true)."""
        from ...native import core

        m = None if mask is None else np.ascontiguousarray(mask, dtype=np.uint8)
        xyz, bgr = core.backproject(self.depth, self.camera.K, self.camera.extrinsic, m,
                                    None if self.image is None else np.ascontiguousarray(self.image))
        return xyz, (None if bgr is None else np.ascontiguousarray(bgr[:, ::-1]))

    def colorized(self) -> np.ndarray:
        """BGR visualisation of the depth within the camera's depth range (black = no depth)."""
        import cv2

        lo, hi = self.camera.depth_min, self.camera.depth_max
        scaled = np.clip((self.depth - lo) / (hi - lo), 0, 1)
        out = cv2.applyColorMap((255 * (1 - scaled)).astype(np.uint8), cv2.COLORMAP_TURBO)
        out[~(self.depth > 0)] = 0
        return out

    def draw(self, image: Optional[np.ndarray] = None, copy: bool = True) -> np.ndarray:
        """The reference image (or ``image``, resized) next to the colourised depth (always a new image)."""
        import cv2

        base = self.image if image is None else cv2.resize(image, self.depth.shape[::-1])
        colour = self.colorized()
        return colour if base is None else np.hstack([base, colour])

    def save(self, path) -> None:
        """Write the depth as ``.npy`` or ``.pfm`` (by suffix); read back with ``edgecv.read_depth``."""
        from .depth_io import write_depth

        write_depth(path, self.depth)

    def to_dict(self) -> Dict[str, Any]:
        valid = self.depth[np.isfinite(self.depth) & (self.depth > 0)]
        return {"task": "mvs", "view": self.index,
                "height": int(self.depth.shape[0]), "width": int(self.depth.shape[1]),
                "count": int(valid.size), "valid_pixels": int(valid.size),
                "depth_range": [round(float(valid.min()), 4), round(float(valid.max()), 4)] if valid.size else None,
                "mean_confidence": round(float(self.confidence.mean()), 4)}
