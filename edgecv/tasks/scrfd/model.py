"""SCRFD face detection: letterbox + normalise -> engine -> C++ decode and NMS -> :class:`Faces`."""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..native import core as _core
from ..contracts import default_input
from ..engines import Engine
from ..errors import InvalidInputError, ModelContractError
from ..image import ImageLike, as_bgr_image
from ..results import Faces
from .base import ModelConfig, SizeLike, TaskModel, letterbox_scale, parse_size

#: Default minimum face score (after sigmoid).
DEFAULT_SCORE_THRESHOLD = 0.5
#: Default IoU above which a lower-scored overlapping face is suppressed.
DEFAULT_IOU_THRESHOLD = 0.4
#: Default maximum number of faces returned per image (best first).
DEFAULT_MAX_FACES = 1000
#: Candidates kept per pyramid level before NMS.
DEFAULT_PRE_NMS_TOP_K = 5000

_SCORE = re.compile(r"^score_(\d+)$")


class ScrfdDetector(TaskModel):
    """SCRFD face detector (boxes, scores and, when the model has them, 5 landmarks).

    Preprocessing: the image is resized keeping its aspect ratio to fit the input square (bilinear),
    placed at the top-left, and the bottom/right padded with black (pixel 0), as insightface does;
    then BGR->RGB and ``(pixel - 127.5) / 128`` (mean/std from the manifest or metadata).

    Outputs are bound by name: ``score_<s>``, ``bbox_<s>`` and optionally ``kps_<s>`` for each
    stride ``s`` (default 8, 16, 32). Models without landmarks (6 outputs) give ``landmarks=None``.
    """

    task = "scrfd"

    def __init__(self, engine: Engine, config: Optional[ModelConfig] = None, *,
                 input_size: SizeLike = None,
                 score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                 iou_threshold: float = DEFAULT_IOU_THRESHOLD,
                 max_faces: int = DEFAULT_MAX_FACES,
                 pre_nms_top_k: int = DEFAULT_PRE_NMS_TOP_K) -> None:
        super().__init__(engine, config or ModelConfig(task=self.task))
        out_cfg = self.config.outputs
        self.num_anchors = int(out_cfg.get("num_anchors", 2))
        self.strides, self.with_landmarks = self._bind_outputs(out_cfg.get("strides"))
        self.input_size = self._resolve_input_size(parse_size(input_size))
        self.input_contract()
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_faces = max_faces
        self.pre_nms_top_k = pre_nms_top_k
        self._output_order = [n for s in self.strides for n in self._names(s)]
        self._levels = [(s, *self._names(s)) if self.with_landmarks else (s, *self._names(s), None)
                        for s in self.strides]

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
        required = [f"{k}_{s}" for s in strides for k in ("score", "bbox")]
        missing = [n for n in required if n not in have]
        if missing:
            raise ModelContractError(
                f"model is missing SCRFD output(s) {missing}; its outputs are {have}")
        kps = [f"kps_{s}" for s in strides]
        present = [n for n in kps if n in have]
        if present and len(present) != len(kps):
            raise ModelContractError(
                f"model has landmark outputs {present} but lacks {sorted(set(kps) - set(present))}")
        return strides, bool(present)

    def _resolve_input_size(self, requested: Optional[Tuple[int, int]]) -> Tuple[int, int]:
        fixed = self.static_input_size()
        if fixed is not None:
            if requested is not None and requested != fixed:
                raise InvalidInputError(
                    f"this model has a fixed input size {fixed[0]}x{fixed[1]}; got input_size "
                    f"{requested[0]}x{requested[1]}")
            size = fixed
        else:
            cfg = self.config.input.get("size") or default_input(self.task)["size"]
            size = requested or (int(cfg[0]), int(cfg[1]))
        step = max(self.strides)
        if size[0] % step or size[1] % step:
            raise InvalidInputError(
                f"input_size {size[0]}x{size[1]} must be a multiple of the largest stride {step}")
        return size

    @classmethod
    def matches(cls, output_names: Sequence[str]) -> bool:
        return any(_SCORE.match(n) for n in output_names)

    # -- pipeline --------------------------------------------------------------------------------
    def preprocess(self, image: np.ndarray) -> Tuple[np.ndarray, Tuple[float, float]]:
        """BGR uint8 image -> (1, 3, H, W) float32 tensor and (scale_x, scale_y) image->input."""
        return self.pack(image, self.input_size, letterbox_scale(image.shape[:2], self.input_size), 0)

    def infer(self, blob: np.ndarray) -> Dict[str, np.ndarray]:
        """Run the engine on a preprocessed tensor; returns the bound outputs by name."""
        return self.engine.run({self.input_name: blob}, self._output_order)

    def postprocess(self, outputs: Dict[str, np.ndarray], scale: Tuple[float, float],
                    image_hw: Tuple[int, int], *, score_threshold: Optional[float] = None,
                    iou_threshold: Optional[float] = None, max_faces: Optional[int] = None) -> Faces:
        """Decode raw outputs (any rank; rows are flattened) into faces in original-image pixels."""
        levels = [(s, _rows(outputs[sn], 1, sn), _rows(outputs[bn], 4, bn),
                   None if kn is None else _rows(outputs[kn], 10, kn))
                  for s, sn, bn, kn in self._levels]
        boxes, scores, landmarks = _core.decode_scrfd(
            levels, (self.input_size[1], self.input_size[0]), self.num_anchors,
            self.score_threshold if score_threshold is None else score_threshold,
            self.iou_threshold if iou_threshold is None else iou_threshold,
            self.pre_nms_top_k, self.max_faces if max_faces is None else max_faces,
            scale, (float(image_hw[1]), float(image_hw[0])))
        return Faces(boxes=boxes, scores=scores, landmarks=landmarks)

    def detect(self, image: ImageLike, *, score_threshold: Optional[float] = None,
               iou_threshold: Optional[float] = None, max_faces: Optional[int] = None,
               head_pose: bool = False, camera=None) -> Faces:
        """Detect faces in a BGR uint8 image (or an image path). Thresholds default to the model's.

        ``head_pose=True`` also estimates each face's yaw/pitch/roll from its 5 landmarks
        (``edgecv.head_pose``; ``camera`` defaults to focal length = image width)."""
        image = as_bgr_image(image)
        blob, scale = self.preprocess(image)
        faces = self.postprocess(self.infer(blob), scale, image.shape[:2], score_threshold=score_threshold,
                                 iou_threshold=iou_threshold, max_faces=max_faces)
        if head_pose:
            if faces.landmarks is None:
                raise InvalidInputError("head_pose needs landmarks, and this model has no kps outputs")
            from ..headpose import head_pose as estimate

            faces.head_pose = estimate(faces.landmarks, image.shape[:2], model="5pt", camera=camera)
        return faces


def _rows(a: np.ndarray, cols: int, name: str) -> np.ndarray:
    """View an output as (rows, cols) whatever batch/rank the engine gave it (the core checks
    dtype and contiguity)."""
    try:
        return a.reshape(-1, cols)
    except (ValueError, AttributeError):
        raise ModelContractError(
            f"output '{name}' has shape {getattr(a, 'shape', None)}; expected rows of {cols} values") from None
