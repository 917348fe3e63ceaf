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
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ...engines import Engine
from ...errors import InvalidInputError, ModelContractError
from ...image import as_bgr_image
from ...store.metadata import ModelConfig
from ...streams.sources import DEFAULT_TIMEOUT
from ..base import Prepared, TaskModel, check_input_budget
from ..spec import VIEWS, Option
from .result import DepthMap
from .scene import MvsCamera, Scene, View, check_baselines, load_scene

CONTRACT_A = ("images", "intrinsics", "extrinsics", "depth_min", "depth_max")
#: Downscale factors of the PatchmatchNet stages whose projections contract B takes (coarse first).
STAGE_SCALES = (1 / 8, 1 / 4, 1 / 2)
#: Input contract unless a manifest or metadata says otherwise.
DEFAULT_INPUT = {"layout": "NCHW", "color": "RGB", "mean": [0.0, 0.0, 0.0], "std": [255.0, 255.0, 255.0]}

ViewsLike = Union[Sequence[View], Sequence[Tuple[np.ndarray, MvsCamera]], Scene, str, "os.PathLike[str]"]

OPTIONS = (
    Option("ref", "int", None, "reference view index when the input is a scene (sources from pair.txt)",
           low=0, high=1 << 30, optional=True, cli=False),
)


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


class PatchmatchNetModel(TaskModel[DepthMap]):
    """Depth of a reference view from itself and N-1 source views (PatchmatchNet, contracts A and B)."""

    task = "mvs"
    input_kind = VIEWS
    options = OPTIONS
    #: ncnn (contract B) peaked at 1265 MB for 5 x 640 x 416: ~950 bytes per pixel of all views
    bytes_per_input_pixel = 1024.0
    default_input = DEFAULT_INPUT

    def __init__(self, engine: Engine, config: Optional[ModelConfig] = None, **options: Any) -> None:
        super().__init__(engine, config, **options)
        names = set(engine.input_names)
        # Static shapes: from the engine, else as the converter recorded them, else the manifest's size.
        shapes = {**{k: tuple(v) for k, v in self.config.input_shapes.items()},
                  **{t.name: t.shape for t in engine.inputs if t.shape and None not in t.shape}}
        size = self.config.input.get("size")
        if set(CONTRACT_A) <= names:
            self.contract = "A"
            shape = shapes.get("images")
            if not shape or None in shape or len(shape) != 4:
                raise ModelContractError("contract A model needs a static 'images' input [N,3,H,W]")
            self.num_views, self.size = int(shape[0]), (int(shape[2]), int(shape[3]))
        elif "rel_proj" in names and "img0" in names:
            self.contract = "B"
            self.num_views = sum(1 for n in names if n.startswith("img") and n[3:].isdigit())
            shape = shapes.get("img0") or ((1, 3, *size) if size else None)
            if not shape or None in shape or len(shape) != 4:
                raise ModelContractError("contract B model needs a static 'img0' input [1,3,H,W]")
            self.size = (int(shape[2]), int(shape[3]))
        else:
            raise ModelContractError(
                f"not a PatchmatchNet model: inputs {sorted(names)} match neither contract A {list(CONTRACT_A)} "
                "nor B (img0.., rel_proj, depth_min, depth_max)")
        if not 2 <= self.num_views <= 64:
            raise ModelContractError(f"the model takes {self.num_views} views; expected 2 to 64")
        check_input_budget(self.num_views * self.size[0] * self.size[1], self.bytes_per_input_pixel,
                           f"a {self.num_views}-view {self.size[0]}x{self.size[1]} mvs model", "use a model with a "
                           "smaller input size")
        missing = [n for n in ("depth", "confidence") if n not in engine.output_names]
        if missing:
            raise ModelContractError(f"model is missing output(s) {missing}; its outputs are {engine.output_names}")

    @property
    def output_names(self) -> List[str]:
        return ["depth", "confidence"]

    @classmethod
    def matches(cls, output_names: Sequence[str]) -> bool:
        return "depth" in output_names and "confidence" in output_names

    def sample_input(self) -> List[View]:
        """Synthetic views of the model's count and size: a textured image, cameras 0.1 apart, depth 1..10."""
        h, w = self.size
        y, x = np.mgrid[0:h, 0:w]
        image = np.dstack([x % 256, y % 256, (x * y) % 256]).astype(np.uint8)
        K = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], float)
        views = []
        for i in range(self.num_views):
            E = np.eye(4)
            E[0, 3] = -0.1 * i
            views.append(View(image, MvsCamera(K, E, 1.0, 10.0, (h, w)), i))
        return views

    def stream_source(self, source: Any, live: Optional[bool], reconnect: bool, timeout: float = DEFAULT_TIMEOUT,
                      max_pixels: Optional[int] = None):
        """A scene (folder or Scene, or a SceneSource choosing the views): one stream item per reference view."""
        from ...streams import SceneSource, Source

        if isinstance(source, Source):
            return source
        scene = source if isinstance(source, Scene) else load_scene(source)
        return SceneSource(scene)

    def stream_item_options(self, index: int) -> Dict[str, Any]:
        return {"ref": index}

    # -- pipeline --------------------------------------------------------------------------------
    def views(self, views: ViewsLike, ref: Optional[int]) -> List[View]:
        """The reference view then its sources, from a scene (with ``ref``) or a list of views."""
        if isinstance(views, (str, os.PathLike)):
            views = load_scene(views)
        if isinstance(views, Scene):
            if ref is None:
                raise InvalidInputError("give ref=<view index> with a scene")
            chosen = views.views_for(ref, self.num_views)
            check_baselines(chosen)
            return chosen
        if ref is not None:
            raise InvalidInputError("ref= is only for scene inputs; with a list of views the first is the reference")
        if isinstance(views, (np.ndarray, bytes)) or not hasattr(views, "__iter__"):
            raise InvalidInputError("views must be a scene folder, a Scene, or a list of View / (image, MvsCamera)")
        out = []
        for v in views:
            if isinstance(v, View):
                out.append(View(as_bgr_image(v.image), v.camera, v.index))
            elif isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], MvsCamera):
                out.append(View(as_bgr_image(v[0]), v[1]))
            else:
                raise InvalidInputError("views must be View objects or (image, MvsCamera) pairs")
        if len(out) != self.num_views:
            raise InvalidInputError(f"this model takes {self.num_views} views (reference first), got {len(out)}")
        check_baselines(out)
        return out

    def prepare(self, inputs: ViewsLike, **options: Any) -> Prepared:
        """Feeds for the engine; context: the cameras scaled to the network size, the resized reference
        image and its view index."""
        import cv2

        values = self.call_options(options)
        chosen = self.views(inputs, values["ref"])
        h, w = self.size
        images, cameras = [], []
        for v in chosen:
            if v.image.shape[:2] != v.camera.size:
                raise InvalidInputError(
                    f"view {v.index}: image {v.image.shape[:2]} does not match its camera {v.camera.size}")
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
        return Prepared(feeds, values, {"cameras": cameras, "image": images[0], "index": chosen[0].index})

    def postprocess(self, outputs: Dict[str, np.ndarray], prepared: Prepared) -> DepthMap:
        h, w = self.size
        for name in ("depth", "confidence"):
            if outputs[name].size != h * w:
                raise ModelContractError(f"output '{name}' has shape {outputs[name].shape}; expected {h}x{w} values")
        depth = np.ascontiguousarray(outputs["depth"].reshape(h, w), dtype=np.float32)
        confidence = np.ascontiguousarray(outputs["confidence"].reshape(h, w), dtype=np.float32)
        # A non-finite depth or confidence is no measurement: 0, as for pixels without depth.
        for array in (depth, confidence):
            bad = ~np.isfinite(array)
            if bad.any():
                array[bad] = 0.0
        ctx = prepared.context
        return DepthMap(depth=depth, confidence=confidence, camera=ctx["cameras"][0], image=ctx["image"],
                        index=ctx["index"])
