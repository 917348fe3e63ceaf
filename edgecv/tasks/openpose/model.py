"""OpenPose multi-person pose: resize/pad -> engine -> heatmap upsampling -> C++ grouping -> Poses."""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..engines import Engine
from ..errors import InvalidInputError, ModelContractError
from ..image import ImageLike, as_bgr_image
from ..native import core as _core
from ..pose_layouts import LAYOUTS
from ..results import Poses
from .base import ModelConfig, TaskModel, letterbox_scale

#: Heatmaps are upsampled by this factor (bicubic) before peak finding; PAFs are sampled bilinearly
#: at their own resolution. 4 gives sub-pixel-stable peaks for ~1 ms on a 256x456 input; 1 with the
#: core's quadratic sub-pixel refinement is faster but merges peaks of small, close people.
DEFAULT_UPSAMPLE = 4
#: Peaks closer than this many heatmap cells (network-output pixels) merge into one; the window
#: radius in upsampled pixels is round(PEAK_RADIUS_CELLS * upsample) unless peak_radius is given.
PEAK_RADIUS_CELLS = 1.5
#: Grouping defaults (see PoseParams in csrc/edgecv/pose.hpp). min_parts=5 drops the 3-4 part
#: fragments left by people cut by the image border.
DEFAULTS = {"peak_threshold": 0.1, "peak_radius": None, "subpixel": True, "max_peaks_per_part": 128,
            "paf_samples": 10, "paf_sample_threshold": 0.05, "paf_success_ratio": 0.8,
            "limb_length_prior": 0.5, "min_parts": 5, "min_mean_score": 0.2}
NUM_PARTS = 18


class OpenPose(TaskModel):
    """Bottom-up multi-person pose (COCO-18) from heatmaps and part affinity fields.

    Preprocessing (dynamic-size models): resize to the network height (default 256, from the manifest
    or metadata) keeping the aspect ratio, pad right/bottom to a multiple of the stride (8) with
    value 0 after normalisation; fixed-size models get the image letterboxed into their input.
    Colour order and mean/std come from the manifest/metadata (lightweight model: BGR, (x-128)/255).

    Outputs are bound by name: ``heatmaps`` (19 = 18 parts + background) and ``pafs`` (38), or a
    single CMU-style 57-channel output. ``layout`` picks the limb table (``lightweight`` or ``cmu``).
    """

    task = "openpose"

    def __init__(self, engine: Engine, config: Optional[ModelConfig] = None, *, input_height: Optional[int] = None,
                 upsample: int = DEFAULT_UPSAMPLE, layout: Optional[str] = None, **grouping) -> None:
        super().__init__(engine, config or ModelConfig(task=self.task))
        outs = self.config.outputs
        self.stride = int(outs.get("stride", 8))
        self.layout = layout or outs.get("layout", "lightweight")
        if self.layout not in LAYOUTS:
            raise InvalidInputError(f"unknown pose layout '{self.layout}'; choose one of {sorted(LAYOUTS)}")
        self.limbs = LAYOUTS[self.layout]
        self._outputs = self._bind_outputs()
        inp = self.input_contract()
        # Metadata wins over what an engine reports: "dynamic" (MNN stores some shape anyway) or a
        # fixed size (ncnn reports none).
        if inp.get("dynamic"):
            self.fixed_size = None
        elif inp.get("dynamic") is False:
            self.fixed_size = self.static_input_size() or (int(inp["size"][0]), int(inp["size"][1]))
        else:
            self.fixed_size = self.static_input_size()
        self.input_height = int(input_height or (self.fixed_size or inp["size"])[0])
        if self.input_height <= 0 or self.input_height % self.stride:
            raise InvalidInputError(f"input_height must be a positive multiple of {self.stride}, got {self.input_height}")
        if not isinstance(upsample, (int, np.integer)) or not 1 <= upsample <= 16:
            raise InvalidInputError(f"upsample must be an integer in [1, 16], got {upsample!r}")
        self.upsample = int(upsample)
        unknown = set(grouping) - set(DEFAULTS)
        if unknown:
            raise InvalidInputError(f"unknown OpenPose option(s) {sorted(unknown)}; options: {sorted(DEFAULTS)}")
        options = {**DEFAULTS, **grouping}
        if options["peak_radius"] is None:
            options["peak_radius"] = max(1, round(PEAK_RADIUS_CELLS * self.upsample))
        self.params = _core.PoseParams()
        try:
            for key, value in options.items():
                setattr(self.params, key, value)
        except TypeError as exc:
            raise InvalidInputError(f"bad OpenPose option value: {exc}") from None
        self.params.paf_scale = 1.0 / self.upsample

    def _bind_outputs(self) -> Tuple[str, ...]:
        have = self.engine.output_names
        if "heatmaps" in have and "pafs" in have:
            return ("heatmaps", "pafs")
        if len(have) == 1:  # CMU-style concatenated output, split after inference
            return (have[0],)
        missing = [n for n in ("heatmaps", "pafs") if n not in have]
        raise ModelContractError(f"model is missing OpenPose output(s) {missing}; its outputs are {have}. "
                                 "Rename them with `edgecv convert MODEL.onnx --task openpose`.")

    @classmethod
    def matches(cls, output_names: Sequence[str]) -> bool:
        return "heatmaps" in output_names and "pafs" in output_names

    # -- pipeline --------------------------------------------------------------------------------
    def network_size(self, image_hw: Tuple[int, int]) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """(input H, W) and resized image (h, w) for an image of size ``image_hw``."""
        ih, iw = image_hw
        if self.fixed_size is not None:
            return self.fixed_size, letterbox_scale(image_hw, self.fixed_size)
        nh = self.input_height
        nw = max(1, round(iw * nh / ih))
        return (nh, int(math.ceil(nw / self.stride) * self.stride)), (nh, nw)

    def preprocess(self, image: np.ndarray) -> Tuple[np.ndarray, Tuple[float, float]]:
        """BGR uint8 image -> (1, 3, H, W) float32 and (scale_x, scale_y) image->input."""
        input_hw, resized_hw = self.network_size(image.shape[:2])
        # Padding is 0 after normalisation: the pixel value equal to the mean.
        pad = min(255, max(0, int(round(float(np.mean(self.mean))))))
        return self.pack(image, input_hw, resized_hw, pad)

    def infer(self, blob: np.ndarray) -> Dict[str, np.ndarray]:
        return self.engine.run({self.input_name: blob}, list(self._outputs))

    def split_outputs(self, outputs: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """(heatmaps (19, h, w), pafs (38, h, w)) from the model outputs, checked."""
        if len(self._outputs) == 2:
            heatmaps, pafs = outputs["heatmaps"], outputs["pafs"]
        else:
            joint = outputs[self._outputs[0]]
            if joint.ndim != 4 or joint.shape[1] != 57:
                raise ModelContractError(f"single OpenPose output must be (1, 57, h, w), got {joint.shape}")
            heatmaps, pafs = joint[:, :19], joint[:, 19:]
        heatmaps = heatmaps.reshape(heatmaps.shape[-3:]) if heatmaps.ndim == 4 else heatmaps
        pafs = pafs.reshape(pafs.shape[-3:]) if pafs.ndim == 4 else pafs
        if heatmaps.ndim != 3 or heatmaps.shape[0] < NUM_PARTS or pafs.ndim != 3 or heatmaps.shape[1:] != pafs.shape[1:]:
            raise ModelContractError(f"unexpected OpenPose output shapes: heatmaps {heatmaps.shape}, pafs {pafs.shape}")
        return heatmaps, pafs

    def postprocess(self, outputs: Dict[str, np.ndarray], scale: Tuple[float, float]) -> Poses:
        """Raw heatmaps/PAFs -> people in original-image pixels."""
        import cv2

        heatmaps, pafs = self.split_outputs(outputs)
        f = self.upsample
        h, w = heatmaps.shape[1:]
        if f == 1:
            parts = np.ascontiguousarray(heatmaps[:NUM_PARTS], dtype=np.float32)
        else:
            parts = np.empty((NUM_PARTS, h * f, w * f), np.float32)
            for c in range(NUM_PARTS):
                cv2.resize(heatmaps[c], (w * f, h * f), dst=parts[c], interpolation=cv2.INTER_CUBIC)
        keypoints, scores = _core.group_poses(parts, np.ascontiguousarray(pafs, dtype=np.float32),
                                              self.limbs, self.params)
        # Pixel centres: upsampled u -> heatmap cell (u + 0.5) / f - 0.5 -> input pixel
        # cell * stride + stride / 2 - 0.5 -> original pixel (x + 0.5) / scale - 0.5.
        found = keypoints[..., 2] > 0
        for axis, s in ((0, scale[0]), (1, scale[1])):
            cells = (keypoints[..., axis] + 0.5) / f - 0.5
            pixels = cells * self.stride + self.stride / 2 - 0.5
            keypoints[..., axis] = np.where(found, (pixels + 0.5) / s - 0.5, 0.0)
        return Poses(keypoints=keypoints, scores=scores)

    def detect(self, image: ImageLike) -> Poses:
        """People in a BGR uint8 image (or an image path)."""
        image = as_bgr_image(image)
        blob, scale = self.preprocess(image)
        return self.postprocess(self.infer(blob), scale)
