"""OpenPose multi-person pose: resize/pad -> engine -> heatmap upsampling -> C++ grouping -> Poses."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...engines import Engine
from ...errors import InvalidInputError, ModelContractError
from ...native import core as _core
from ...store.metadata import ModelConfig
from ..base import FRAME_OPTIONS, ImageTaskModel, Prepared, check_input_budget, letterbox_scale
from ..spec import Option, decimal
from .layouts import LAYOUTS
from .result import Poses

NUM_PARTS = 18
_P = _core.PoseParams()  # grouping defaults live in C++ (csrc/edgecv/pose.hpp)


#: Input contract unless a manifest or metadata says otherwise (lightweight OpenPose: BGR, (x - 128) / 255).
DEFAULT_INPUT = {"layout": "NCHW", "color": "BGR", "mean": [128.0, 128.0, 128.0], "std": [255.0, 255.0, 255.0],
                 "size": [256, 456]}

#: Network pixels the lightweight OpenPose needs a person to be tall (trained on COCO at 368: at 256 on a 360-line
#: frame, PETS walkers of ~45 image pixels shrink to ~32 and a third of them are lost; benchmarks/bench_openpose.py).
NET_PERSON_PX = 64
#: ``input_height="auto"`` never goes below this (tiny images are scaled up at least to it)
MIN_AUTO_HEIGHT = 128

OPTIONS = FRAME_OPTIONS + (
    Option("input_height", "int", "auto", "network input height, a multiple of 8, or auto: the image height scaled "
           f"so that a person min_person_height image pixels tall is {NET_PERSON_PX} network pixels tall, within "
           "max_input_height (fixed-size models use their own size)", low=8, high=2048, per_call=False, auto=True),
    Option("max_input_height", "int", 480, "tallest network input input_height=auto may choose: the time and memory "
           "budget (time grows with its square: 256 -> 48 ms, 480 -> 146 ms per 480x360 frame on 2 x86 cores)",
           low=8, high=2048, per_call=False),
    Option("min_person_height", "int", 48, "input_height=auto: the smallest person (image pixels tall) to find",
           low=8, high=4096, per_call=False),
    Option("max_width", "int", 2048, "widest network input; wider images are scaled down to fit (memory bound)",
           low=8, high=8192, per_call=False),
    Option("upsample", "int", 4, "heatmap upsampling factor before peak finding (bicubic); 4 keeps peaks of "
           "small, close people apart", low=1, high=16, per_call=False),
    Option("layout", "choice", None, "limb table: lightweight or cmu (default: the model's)",
           choices=tuple(LAYOUTS), per_call=False, cli=False),
    Option("peak_threshold", "float", decimal(_P.peak_threshold), "minimum heatmap value of a part", low=0.0, high=1.0),
    Option("peak_radius", "int", int(_P.peak_radius), "peaks closer than this (upsampled pixels) merge; 0 = "
           "round(1.5 x upsample)", low=0, high=16, cli=False),
    Option("subpixel", "bool", bool(_P.subpixel), "quadratic peak refinement", cli=False),
    Option("max_peaks_per_part", "int", int(_P.max_peaks_per_part), "best peaks kept per part", low=1, high=4096,
           cli=False),
    Option("paf_samples", "int", int(_P.paf_samples), "samples along a candidate limb", low=2, high=1000, cli=False),
    Option("paf_sample_threshold", "float", decimal(_P.paf_sample_threshold),
           "a sample counts when PAF . limb direction exceeds this", low=-1.0, high=1.0, cli=False),
    Option("paf_success_ratio", "float", decimal(_P.paf_success_ratio), "share of samples that must count",
           low=0.0, high=1.0, cli=False),
    Option("limb_length_prior", "float", decimal(_P.limb_length_prior),
           "penalty min(prior x map height / length - 1, 0) on long limbs", low=1e-6, high=100.0, cli=False),
    Option("min_parts", "int", int(_P.min_parts), "people with fewer parts are dropped", low=1, high=NUM_PARTS),
    Option("min_mean_score", "float", decimal(_P.min_mean_score), "people with a lower score per part are dropped",
           low=0.0, high=100.0),
)
#: Options that are fields of the C++ PoseParams.
_GROUPING = ("peak_threshold", "peak_radius", "subpixel", "max_peaks_per_part", "paf_samples",
             "paf_sample_threshold", "paf_success_ratio", "limb_length_prior", "min_parts", "min_mean_score")


class OpenPoseModel(ImageTaskModel[Poses]):
    """Bottom-up multi-person pose (COCO-18) from heatmaps and part affinity fields.

    Preprocessing (dynamic-size models): resize to the network height (``input_height``; by default chosen per
    image, :meth:`auto_height`) keeping the aspect ratio, pad right/bottom to a multiple of the stride (8) with value 0
    after normalisation; images wider than ``max_width`` at that height are scaled down to fit. Fixed-size
    models get the image letterboxed into their input. Colour order and mean/std come from the manifest
    or metadata (lightweight model: BGR, (x-128)/255).

    Outputs are bound by name: ``heatmaps`` (19 = 18 parts + background) and ``pafs`` (38), or a single
    CMU-style 57-channel output. ``layout`` picks the limb table (``lightweight`` or ``cmu``).
    """

    task = "openpose"
    size_option = "input_height"
    options = OPTIONS
    #: ncnn ~350 bytes per input pixel measured (ONNX Runtime ~130, MNN ~165) + upsampled heatmaps
    bytes_per_input_pixel = 512.0
    default_input = DEFAULT_INPUT

    def __init__(self, engine: Engine, config: Optional[ModelConfig] = None, **options: Any) -> None:
        super().__init__(engine, config, **options)
        outs = self.config.outputs
        self.stride = int(outs.get("stride", 8))
        self.layout = self.settings["layout"] or outs.get("layout", "lightweight")
        if self.layout not in LAYOUTS:
            raise ModelContractError(f"unknown pose layout '{self.layout}' in the model's metadata; "
                                     f"known: {sorted(LAYOUTS)}")
        self.limbs = LAYOUTS[self.layout]
        self._outputs = self._bind_outputs()
        contract = self.input_contract()
        self.set_normalisation(contract)
        # Metadata wins over what an engine reports: "dynamic" (MNN stores some shape anyway) or a
        # fixed size (ncnn reports none).
        if contract.get("dynamic"):
            self.fixed_size = None
        elif contract.get("dynamic") is False:
            self.fixed_size = self.static_input_size() or (int(contract["size"][0]), int(contract["size"][1]))
        else:
            self.fixed_size = self.static_input_size()
        height = self.settings["input_height"]
        #: the network height for every image (None: chosen per image, ``input_height="auto"``)
        self.input_height: Optional[int] = None if height == "auto" else int(height)
        self.max_input_height = int(self.settings["max_input_height"])
        for name, value in (("input_height", self.input_height), ("max_input_height", self.max_input_height)):
            if value is not None and (value % self.stride or value < self.stride):
                raise InvalidInputError(f"{name} must be a multiple of {self.stride}, got {self.settings[name]}")
        self.min_person_height = self.settings["min_person_height"]
        self.max_width = max(self.stride, self.settings["max_width"] // self.stride * self.stride)
        widest = self.fixed_size or (self.input_height or self.max_input_height, self.max_width)
        check_input_budget(widest[0] * widest[1], self.bytes_per_input_pixel,
                           f"an openpose input of up to {widest[0]}x{widest[1]}", "lower input_height or max_width")
        self.upsample = self.settings["upsample"]
        # Padding is 0 after normalisation: the pixel value equal to the mean.
        self.pad_pixel = min(255, max(0, int(round(float(np.mean(self.mean))))))

    def _bind_outputs(self) -> List[str]:
        have = self.engine.output_names
        if "heatmaps" in have and "pafs" in have:
            return ["heatmaps", "pafs"]
        if len(have) == 1:  # CMU-style concatenated output, split after inference
            return [have[0]]
        missing = [n for n in ("heatmaps", "pafs") if n not in have]
        raise ModelContractError(f"model is missing OpenPose output(s) {missing}; its outputs are {have}. "
                                 "Rename them with `edgecv convert MODEL.onnx --task openpose`.")

    @property
    def output_names(self) -> List[str]:
        return self._outputs

    @classmethod
    def matches(cls, output_names: Sequence[str]) -> bool:
        return "heatmaps" in output_names and "pafs" in output_names

    def grouping_params(self, values: Dict[str, Any]):
        """The C++ PoseParams for option ``values``."""
        params = _core.PoseParams()
        for key in _GROUPING:
            setattr(params, key, values[key])
        params.paf_scale = 1.0 / self.upsample
        return params

    # -- pipeline --------------------------------------------------------------------------------
    def auto_height(self, image_height: int) -> int:
        """The network height ``input_height="auto"`` picks for an image ``image_height`` pixels tall: scaled so that
        a person ``min_person_height`` image pixels tall becomes NET_PERSON_PX network pixels tall, rounded to the
        stride, within [MIN_AUTO_HEIGHT, max_input_height]. A 480x360 frame: 480; a 1280x886 photo: 480 (the cap)."""
        want = image_height * NET_PERSON_PX / self.min_person_height
        low = min(MIN_AUTO_HEIGHT, self.max_input_height)
        return int(min(max(round(want / self.stride) * self.stride, low), self.max_input_height))

    def network_size(self, image_hw: Tuple[int, int]) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """(input H, W) and resized image (h, w) for an image of size ``image_hw``."""
        ih, iw = image_hw
        if self.fixed_size is not None:
            return self.fixed_size, letterbox_scale(image_hw, self.fixed_size)
        nh = self.input_height if self.input_height is not None else self.auto_height(ih)
        nw = max(1, round(iw * nh / ih))
        if nw > self.max_width:  # very wide image: fit the width, pad the bottom
            return (nh, self.max_width), letterbox_scale(image_hw, (nh, self.max_width))
        return (nh, int(math.ceil(nw / self.stride) * self.stride)), (nh, nw)

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
        if (heatmaps.ndim != 3 or heatmaps.shape[0] < NUM_PARTS or pafs.ndim != 3
                or heatmaps.shape[1:] != pafs.shape[1:]):
            raise ModelContractError(f"unexpected OpenPose output shapes: heatmaps {heatmaps.shape}, pafs {pafs.shape}")
        return heatmaps, pafs

    def grouping_inputs(self, outputs: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """What the core groups: the part heatmaps upsampled ``upsample`` times (bicubic) and the PAFs, float32."""
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
        return parts, np.ascontiguousarray(pafs, dtype=np.float32)

    def postprocess(self, outputs: Dict[str, np.ndarray], prepared: Prepared) -> Poses:
        """Raw heatmaps/PAFs -> people in original-image pixels."""
        parts, pafs = self.grouping_inputs(outputs)
        scale = prepared.context["scale"]
        f = self.upsample
        keypoints, scores = _core.group_poses(parts, pafs, self.limbs, self.grouping_params(prepared.options))
        # Pixel centres: upsampled u -> heatmap cell (u + 0.5) / f - 0.5 -> input pixel
        # cell * stride + stride / 2 - 0.5 -> original pixel (x + 0.5) / scale - 0.5.
        found = keypoints[..., 2] > 0
        for axis, s in ((0, scale[0]), (1, scale[1])):
            cells = (keypoints[..., axis] + 0.5) / f - 0.5
            pixels = cells * self.stride + self.stride / 2 - 0.5
            keypoints[..., axis] = np.where(found, (pixels + 0.5) / s - 0.5, 0.0)
        return self.in_frame(Poses(keypoints=keypoints, scores=scores), prepared)

    def tracker(self, frame_rate: float = 30.0, **params: Any):
        """A tracker on the box around each person's keypoints. Every person found is a detection: a mean keypoint
        score is not a detection confidence, so it neither splits detections into high and low nor weighs the
        association, and keypoint boxes jitter as parts come and go, so a small overlap (IoU 0.1) suffices. New
        tracks need a mean keypoint score 0.1 above min_mean_score (ByteTrack's rule for births)."""
        from ...tracking import Tracker

        birth = min(1.0, self.settings["min_mean_score"] + 0.1)
        defaults = {"high_threshold": 0.0, "low_threshold": 0.0, "birth_threshold": birth, "fuse_score": False,
                    "first_min_iou": 0.1, "second_min_iou": 0.1, "unconfirmed_min_iou": 0.1,
                    "frame_rate": float(frame_rate)}
        return Tracker(keep_threshold=0.0, **{**defaults, **params})
