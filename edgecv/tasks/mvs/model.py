"""Learned multi-view stereo (PatchmatchNet): views + cameras -> engine -> DepthMap.

Two input contracts (``../shared/README.md``):

- A: ``images`` [N,3,H,W] (0 = reference), ``intrinsics`` [N,3,3], ``extrinsics`` [N,4,4],
  ``depth_min`` [1], ``depth_max`` [1];
- B (portable: runs on ncnn too): ``img0``..``img{N-1}`` [1,3,H,W], ``rel_proj`` [1,3(N-1),3,4] computed on
  the host, ``depth_min``/``depth_max`` [1,1,1,1].

The contract is read from the model's input names; the view count N and the static size come from
the input shapes (or the metadata) and are checked against what ``detect`` is given.
Preprocessing: BGR->RGB, INTER_AREA resize to W x H (the aspect ratio may change), /255, no
mean/std; intrinsics scaled to the new size; depth range from the reference camera.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..engines import Engine
from ..errors import InvalidInputError, ModelContractError
from ..mvs import MvsCamera, Scene, View, load_scene
from ..results import DepthMap
from .base import ModelConfig, TaskModel

CONTRACT_A = ("images", "intrinsics", "extrinsics", "depth_min", "depth_max")
#: Downscale factors of the PatchmatchNet stages whose projections contract B takes (coarse first).
STAGE_SCALES = (1 / 8, 1 / 4, 1 / 2)

ViewsLike = Union[Sequence[View], Sequence[Tuple[np.ndarray, MvsCamera]], Scene, str, "os.PathLike[str]"]


def relative_projections(cameras: Sequence[MvsCamera]) -> np.ndarray:
    """Contract B's ``rel_proj`` [1, 3(N-1), 3, 4]: for stage scale s (index k) and source i,
    ``(P_i,s @ inv(P_0,s))[:3, :4]`` at index ``k * (N-1) + (i-1)``, ``P_s = [[diag(s,s,1) K E[:3,:4]], [0,0,0,1]]``."""
    out = np.empty((1, len(STAGE_SCALES) * (len(cameras) - 1), 3, 4), np.float32)
    for k, s in enumerate(STAGE_SCALES):
        scaled = []
        for cam in cameras:
            P = np.eye(4)
            P[:3, :4] = np.diag([s, s, 1.0]) @ cam.K @ cam.extrinsic[:3, :4]
            scaled.append(P)
        ref_inv = np.linalg.inv(scaled[0])
        for i in range(1, len(cameras)):
            out[0, k * (len(cameras) - 1) + i - 1] = (scaled[i] @ ref_inv)[:3, :4]
    return out


class PatchmatchNet(TaskModel):
    """Depth of a reference view from itself and N-1 source views (PatchmatchNet, contracts A and B)."""

    task = "mvs"

    def __init__(self, engine: Engine, config: Optional[ModelConfig] = None) -> None:
        super().__init__(engine, config or ModelConfig(task=self.task))
        names = set(engine.input_names)
        # Static shapes: from the engine, else as the converter recorded them, else the manifest's size.
        shapes = {**{k: tuple(v) for k, v in self.config.input_shapes.items()},
                  **{t.name: t.shape for t in engine.inputs if t.shape and None not in t.shape}}
        size = self.config.input.get("size")
        if set(CONTRACT_A) <= names:
            self.contract = "A"
            shape = shapes.get("images")
            if not shape or None in shape:
                raise ModelContractError("contract A model needs a static 'images' input [N,3,H,W]")
            self.num_views, self.size = int(shape[0]), (int(shape[2]), int(shape[3]))
        elif "rel_proj" in names and "img0" in names:
            self.contract = "B"
            self.num_views = sum(1 for n in names if n.startswith("img") and n[3:].isdigit())
            shape = shapes.get("img0") or ((1, 3, *size) if size else None)
            if not shape or None in shape:
                raise ModelContractError("contract B model needs a static 'img0' input [1,3,H,W]")
            self.size = (int(shape[2]), int(shape[3]))
        else:
            raise ModelContractError(
                f"not a PatchmatchNet model: inputs {sorted(names)} match neither contract A {list(CONTRACT_A)} "
                "nor B (img0.., rel_proj, depth_min, depth_max)")
        missing = [n for n in ("depth", "confidence") if n not in engine.output_names]
        if missing:
            raise ModelContractError(f"model is missing output(s) {missing}; its outputs are {engine.output_names}")

    def _bind_input(self) -> str:
        return ""  # several inputs, bound by name in preprocess()

    @classmethod
    def matches(cls, output_names: Sequence[str]) -> bool:
        return "depth" in output_names and "confidence" in output_names

    # -- pipeline --------------------------------------------------------------------------------
    def _views(self, views: ViewsLike, ref: Optional[int]) -> List[View]:
        if isinstance(views, (str, os.PathLike)):
            views = load_scene(views)
        if isinstance(views, Scene):
            if ref is None:
                raise InvalidInputError("give ref=<view index> with a scene")
            return views.views_for(ref, self.num_views)
        out = []
        for v in views:
            if isinstance(v, View):
                out.append(v)
            elif isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], MvsCamera):
                from ..image import as_bgr_image

                out.append(View(as_bgr_image(v[0]), v[1]))
            else:
                raise InvalidInputError("views must be View objects or (image, MvsCamera) pairs")
        if len(out) != self.num_views:
            raise InvalidInputError(f"this model takes {self.num_views} views (reference first), got {len(out)}")
        return out

    def preprocess(self, views: Sequence[View]) -> Tuple[Dict[str, np.ndarray], List[MvsCamera], np.ndarray]:
        """Feeds for the engine, the cameras scaled to the network size, and the resized reference image."""
        import cv2

        h, w = self.size
        images, cameras = [], []
        for v in views:
            if v.image.shape[:2] != v.camera.size:
                raise InvalidInputError(f"view {v.index}: image {v.image.shape[:2]} does not match its camera {v.camera.size}")
            images.append(cv2.resize(v.image, (w, h), interpolation=cv2.INTER_AREA))
            cameras.append(v.camera.scaled((h, w)))
        ref = cameras[0]
        blobs = [(img[..., ::-1].astype(np.float32) / 255.0).transpose(2, 0, 1) for img in images]
        if self.contract == "A":
            feeds = {"images": np.ascontiguousarray(np.stack(blobs)),
                     "intrinsics": np.stack([c.K for c in cameras]).astype(np.float32),
                     "extrinsics": np.stack([c.extrinsic for c in cameras]).astype(np.float32),
                     "depth_min": np.array([ref.depth_min], np.float32),
                     "depth_max": np.array([ref.depth_max], np.float32)}
        else:
            feeds = {f"img{i}": np.ascontiguousarray(b[None]) for i, b in enumerate(blobs)}
            feeds["rel_proj"] = relative_projections(cameras)
            feeds["depth_min"] = np.full((1, 1, 1, 1), ref.depth_min, np.float32)
            feeds["depth_max"] = np.full((1, 1, 1, 1), ref.depth_max, np.float32)
        return feeds, cameras, images[0]

    def infer(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return self.engine.run(feeds, ["depth", "confidence"])

    def detect(self, views: ViewsLike, ref: Optional[int] = None) -> DepthMap:
        """Depth of the reference view. ``views``: reference + source views (``View`` or
        ``(image, MvsCamera)``), or a ``Scene``/scene folder with ``ref`` (sources from pair.txt)."""
        chosen = self._views(views, ref)
        feeds, cameras, ref_image = self.preprocess(chosen)
        out = self.infer(feeds)
        h, w = self.size
        depth = np.ascontiguousarray(out["depth"].reshape(h, w), dtype=np.float32)
        confidence = np.ascontiguousarray(out["confidence"].reshape(h, w), dtype=np.float32)
        return DepthMap(depth=depth, confidence=confidence, camera=cameras[0], image=ref_image,
                        index=chosen[0].index)
