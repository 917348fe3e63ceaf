"""What every face detector shares: letterboxed input (top-left, black padding, results in original pixels),
the options, the input-size rules, head pose on top, tracking. A face model subclass binds its outputs by name
and decodes them (``_bind_outputs``, ``_decode``); the rest is here, once.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ...engines import Engine
from ...errors import InvalidInputError, ModelContractError
from ...store.metadata import ModelConfig
from ..base import FRAME_OPTIONS, ImageTaskModel, Prepared, check_input_budget, letterbox_scale
from ..spec import Option, decimal
from .result import Faces

Decoded = Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]


def face_options(params: Any) -> Tuple[Option, ...]:
    """The options of a face model, with the decoding defaults of its C++ parameter struct ``params``
    (``_core.ScrfdParams()``, ``_core.YunetParams()``)."""
    return FRAME_OPTIONS + (
        Option("input_size", "size", None, "network input N or (H, W), multiple of the largest stride; only for "
               "models without a fixed input size (default: the model's, 640x640)", low=32, high=8192, per_call=False),
        Option("score_threshold", "float", decimal(params.score_threshold), "minimum face score", low=0.0, high=1.0),
        Option("iou_threshold", "float", decimal(params.iou_threshold),
               "NMS: a face overlapping a better one by more than this IoU is dropped", low=0.0, high=1.0),
        Option("max_faces", "int", int(params.max_detections), "faces returned per image, best first", low=1,
               high=100000),
        Option("pre_nms_top_k", "int", int(params.pre_nms_top_k), "candidates kept per pyramid level before NMS",
               low=1, high=1_000_000),
        Option("head_pose", "bool", False, "also estimate each face's yaw/pitch/roll from its 5 landmarks"),
        Option("camera", "object", None, "head pose: an edgecv.Camera (default: focal length = image width)",
               cli=False),
    )


class FaceDetectorModel(ImageTaskModel[Faces]):
    """A face detector: the image is resized keeping its aspect ratio to fit the network input (bilinear),
    placed at the top-left and padded bottom/right with black; outputs decode (C++) into :class:`Faces` in
    original-image pixels, best first. Subclasses set ``task``, ``options``, ``default_input``, and implement
    ``_bind_outputs`` (names by role, checked at load) and ``_decode``."""

    size_option = "input_size"

    def __init__(self, engine: Engine, config: Optional[ModelConfig] = None, **options: Any) -> None:
        super().__init__(engine, config, **options)
        self.strides, self.with_landmarks = self._bind_outputs(self.config.outputs.get("strides"))
        contract = self.input_contract()
        self.set_normalisation(contract)
        self.input_size = self._resolve_input_size(self.settings["input_size"], contract)
        if self.settings["input_size"] is not None and tuple(contract["size"]) != self.input_size:
            self._probe_input_size()

    # -- binding (subclasses) -----------------------------------------------------------------------
    def _bind_outputs(self, strides: Optional[List[int]]) -> Tuple[List[int], bool]:
        """(strides, whether the model gives landmarks), checking that every output the decoder needs exists."""
        raise NotImplementedError

    def _decode(self, outputs: Dict[str, np.ndarray], options: Dict[str, Any], scale: Tuple[float, float],
                image_wh: Tuple[float, float]) -> Decoded:
        """(boxes (N,4), scores (N,), landmarks (N,5,2) or None) in original-image pixels, best first."""
        raise NotImplementedError

    def _rows_per_cell(self) -> int:
        """Rows a stride's score output has per feature-map cell (anchors)."""
        return 1

    #: the output whose rows count the cells of a stride (``{stride}`` is filled in)
    _row_output = ""

    # -- input size ----------------------------------------------------------------------------------
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
            outputs = self.engine.run({self.input_name: blob}, self.output_names)
            for stride in self.strides:
                name = self._row_output.format(stride=stride)
                rows = outputs[name].size
                want = -(-self.input_size[0] // stride) * -(-self.input_size[1] // stride) * self._rows_per_cell()
                if rows != want:
                    raise ModelContractError(f"{name} has {rows} rows, expected {want}")
        except Exception as exc:  # noqa: BLE001 - whatever the engine raises at this size, the cause is the size
            size = "x".join(map(str, self.config.input.get("size") or ["?", "?"]))
            raise ModelContractError(
                f"{self.engine.files[0].name} cannot run at input_size {self.input_size[0]}x{self.input_size[1]}: "
                f"its graph is fixed to its own size ({size}); convert the ONNX model with "
                f"--input-size instead ({exc})") from None

    # -- pipeline ------------------------------------------------------------------------------------
    def network_size(self, image_hw: Tuple[int, int]) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        return self.input_size, letterbox_scale(image_hw, self.input_size)

    def postprocess(self, outputs: Dict[str, np.ndarray], prepared: Prepared) -> Faces:
        """Decode raw outputs (any rank; rows are flattened) into faces in original-image pixels."""
        o, (h, w), scale = prepared.options, prepared.context["image_hw"], prepared.context["scale"]
        boxes, scores, landmarks = self._decode(outputs, o, scale, (float(w), float(h)))
        faces = Faces(boxes=boxes, scores=scores, landmarks=landmarks, task=self.task)
        if o["head_pose"]:
            from .headpose import attach_head_pose

            attach_head_pose(faces, (h, w), o["camera"])
        return self.in_frame(faces, prepared)

    # -- tracking ------------------------------------------------------------------------------------
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


def rows(a: np.ndarray, cols: int, name: str) -> np.ndarray:
    """View an output as (rows, cols) whatever batch/rank the engine gave it (the core checks dtype and
    contiguity)."""
    try:
        return a.reshape(-1, cols)
    except (ValueError, AttributeError):
        raise ModelContractError(
            f"output '{name}' has shape {getattr(a, 'shape', None)}; expected rows of {cols} values") from None
