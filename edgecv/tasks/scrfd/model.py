"""SCRFD face detection: letterbox + normalise -> engine -> C++ decode and NMS -> :class:`Faces`."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...engines import Engine
from ...errors import InvalidInputError, ModelContractError
from ...native import core as _core
from ...store.metadata import ModelConfig
from ..base import FRAME_OPTIONS, ImageTaskModel, Prepared, check_input_budget, letterbox_scale
from ..spec import Option, decimal
from .result import Faces

_SCORE = re.compile(r"^score_(\d+)$")
_D = _core.ScrfdParams()  # decoding defaults live in C++ (csrc/edgecv/scrfd.hpp)


#: Input contract unless a manifest or metadata says otherwise (insightface's preprocessing).
DEFAULT_INPUT = {"layout": "NCHW", "color": "RGB", "mean": [127.5, 127.5, 127.5], "std": [128.0, 128.0, 128.0],
                 "size": [640, 640]}

OPTIONS = FRAME_OPTIONS + (
    Option("input_size", "size", None, "network input N or (H, W), multiple of the largest stride; only for "
           "models without a fixed input size (default: the model's, 640x640)", low=32, high=8192, per_call=False),
    Option("score_threshold", "float", decimal(_D.score_threshold), "minimum face score", low=0.0, high=1.0),
    Option("iou_threshold", "float", decimal(_D.iou_threshold),
           "NMS: a face overlapping a better one by more than this IoU is dropped", low=0.0, high=1.0),
    Option("max_faces", "int", int(_D.max_detections), "faces returned per image, best first", low=1, high=100000),
    Option("pre_nms_top_k", "int", int(_D.pre_nms_top_k), "candidates kept per pyramid level before NMS",
           low=1, high=1_000_000),
    Option("head_pose", "bool", False, "also estimate each face's yaw/pitch/roll from its 5 landmarks"),
    Option("camera", "object", None, "head pose: an edgecv.Camera (default: focal length = image width)", cli=False),
)


class ScrfdModel(ImageTaskModel[Faces]):
    """SCRFD face detector (boxes, scores and, when the model has them, 5 landmarks).

    Preprocessing: the image is resized keeping its aspect ratio to fit the input (bilinear), placed at
    the top-left, and the bottom/right padded with black (pixel 0), as insightface does; then BGR->RGB
    and ``(pixel - 127.5) / 128`` (mean/std from the manifest or metadata).

    Outputs are bound by name: ``score_<s>``, ``bbox_<s>`` and optionally ``kps_<s>`` for each stride
    ``s`` (default 8, 16, 32). Models without landmarks (6 outputs) give ``landmarks=None``.
    """

    task = "scrfd"
    size_option = "input_size"
    options = OPTIONS
    #: ncnn ~200, ONNX Runtime ~35 bytes per input pixel measured on SCRFD-2.5G/500M
    bytes_per_input_pixel = 256.0
    default_input = DEFAULT_INPUT

    def __init__(self, engine: Engine, config: Optional[ModelConfig] = None, **options: Any) -> None:
        super().__init__(engine, config, **options)
        out_cfg = self.config.outputs
        self.num_anchors = int(out_cfg.get("num_anchors", _D.num_anchors))
        self.strides, self.with_landmarks = self._bind_outputs(out_cfg.get("strides"))
        contract = self.input_contract()
        self.set_normalisation(contract)
        self.input_size = self._resolve_input_size(self.settings["input_size"], contract)
        self._outputs = [n for s in self.strides for n in self._names(s)]
        self._levels = [(s, *self._names(s)) if self.with_landmarks else (s, *self._names(s), None)
                        for s in self.strides]
        if self.settings["input_size"] is not None and tuple(contract["size"]) != self.input_size:
            self._probe_input_size()

    # -- binding ---------------------------------------------------------------------------------
    def _names(self, stride: int) -> List[str]:
        names = [f"score_{stride}", f"bbox_{stride}"]
        return names + [f"kps_{stride}"] if self.with_landmarks else names

    def _bind_outputs(self, strides: Optional[Sequence[int]]) -> Tuple[List[int], bool]:
        have = self.engine.output_names
        if strides is None:
            strides = sorted(int(m.group(1)) for m in map(_SCORE.match, have) if m)
            if not strides:
                raise ModelContractError(
                    f"model has no SCRFD outputs score_<stride>; its outputs are {have}. "
                    "Rename them by role with `edgecv convert MODEL.onnx --task scrfd`.")
        strides = [int(s) for s in strides]
        missing = [n for n in (f"{k}_{s}" for s in strides for k in ("score", "bbox")) if n not in have]
        if missing:
            raise ModelContractError(f"model is missing SCRFD output(s) {missing}; its outputs are {have}")
        kps = [f"kps_{s}" for s in strides]
        present = [n for n in kps if n in have]
        if present and len(present) != len(kps):
            raise ModelContractError(
                f"model has landmark outputs {present} but lacks {sorted(set(kps) - set(present))}")
        return strides, bool(present)

    @property
    def output_names(self) -> List[str]:
        return self._outputs

    def _resolve_input_size(self, requested: Optional[Tuple[int, int]], contract: Dict[str, Any]) -> Tuple[int, int]:
        fixed = self.static_input_size()
        if fixed is not None:
            if requested is not None and requested != fixed:
                raise InvalidInputError(
                    f"this model has a fixed input size {fixed[0]}x{fixed[1]}; got input_size "
                    f"{requested[0]}x{requested[1]}")
            size = fixed
        else:
            size = requested or (int(contract["size"][0]), int(contract["size"][1]))
        step = max(self.strides)
        if size[0] % step or size[1] % step:
            raise InvalidInputError(
                f"input_size {size[0]}x{size[1]} must be a multiple of the largest stride {step}")
        check_input_budget(size[0] * size[1], self.bytes_per_input_pixel, f"input_size {size[0]}x{size[1]}",
                           "choose a smaller input_size")
        return size

    def _probe_input_size(self) -> None:
        """Run the engine once at the requested size: files whose graph reshapes to fixed sizes (common in
        ncnn/MNN exports) must fail here, at load time, not in the first detect()."""
        blob = np.zeros((1, 3, *self.input_size), np.float32)
        try:
            outputs = self.engine.run({self.input_name: blob}, self._outputs)
            for stride, score, *_ in self._levels:
                rows = outputs[score].size
                want = -(-self.input_size[0] // stride) * -(-self.input_size[1] // stride) * self.num_anchors
                if rows != want:
                    raise ModelContractError(f"{score} has {rows} rows, expected {want}")
        except Exception as exc:
            size = "x".join(map(str, self.config.input.get("size") or ["?", "?"]))
            raise ModelContractError(
                f"{self.engine.files[0].name} cannot run at input_size {self.input_size[0]}x{self.input_size[1]}: "
                f"its graph is fixed to its own size ({size}); convert the ONNX model with "
                f"--input-size instead ({exc})") from None

    @classmethod
    def matches(cls, output_names: Sequence[str]) -> bool:
        return any(_SCORE.match(n) for n in output_names)

    # -- pipeline --------------------------------------------------------------------------------
    def network_size(self, image_hw: Tuple[int, int]) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        return self.input_size, letterbox_scale(image_hw, self.input_size)

    def postprocess(self, outputs: Dict[str, np.ndarray], prepared: Prepared) -> Faces:
        """Decode raw outputs (any rank; rows are flattened) into faces in original-image pixels."""
        o, (h, w), scale = prepared.options, prepared.context["image_hw"], prepared.context["scale"]
        levels = [(s, _rows(outputs[sn], 1, sn), _rows(outputs[bn], 4, bn),
                   None if kn is None else _rows(outputs[kn], 10, kn))
                  for s, sn, bn, kn in self._levels]
        boxes, scores, landmarks = _core.decode_scrfd(
            levels, (self.input_size[1], self.input_size[0]), self.num_anchors, o["score_threshold"],
            o["iou_threshold"], o["pre_nms_top_k"], o["max_faces"], scale, (float(w), float(h)))
        faces = Faces(boxes=boxes, scores=scores, landmarks=landmarks)
        if o["head_pose"]:
            from .headpose import attach_head_pose

            attach_head_pose(faces, (h, w), o["camera"])
        return self.in_frame(faces, prepared)

    # -- tracking ---------------------------------------------------------------------------------
    #: detections down to this score feed the tracker's second association (ByteTrack's low threshold)
    track_low_threshold = 0.1

    def tracker(self, frame_rate: float = 30.0, **params: Any):
        """A ByteTrack-style tracker: faces scoring at least the model's score_threshold are matched first and
        start tracks (from that threshold + 0.1); lower ones down to 0.1 only keep existing tracks alive."""
        from ...tracking import Tracker

        high = self.settings["score_threshold"]
        defaults = {"high_threshold": high, "low_threshold": min(self.track_low_threshold, high),
                    "birth_threshold": min(1.0, high + 0.1), "frame_rate": float(frame_rate)}
        return Tracker(keep_threshold=high, **{**defaults, **params})

    def tracking_options(self, values: Dict[str, Any]) -> Dict[str, Any]:
        return {"score_threshold": min(self.track_low_threshold, values["score_threshold"])}


def _rows(a: np.ndarray, cols: int, name: str) -> np.ndarray:
    """View an output as (rows, cols) whatever batch/rank the engine gave it (the core checks dtype and
    contiguity)."""
    try:
        return a.reshape(-1, cols)
    except (ValueError, AttributeError):
        raise ModelContractError(
            f"output '{name}' has shape {getattr(a, 'shape', None)}; expected rows of {cols} values") from None
