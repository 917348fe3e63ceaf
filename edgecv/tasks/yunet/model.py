"""YuNet face detection: letterbox (BGR, 0-255) -> engine -> C++ anchor-free decoding and NMS -> :class:`Faces`."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import ModelContractError
from ...native import core as _core
from ..faces.detector import Decoded, FaceDetectorModel, face_options, rows

_CLS = re.compile(r"^cls_(\d+)$")
_D = _core.YunetParams()  # decoding defaults live in C++ (csrc/edgecv/yunet.hpp)
ROLES = ("cls", "obj", "bbox", "kps")

#: Input contract unless a manifest or metadata says otherwise: BGR 0-255, no normalisation, as YuNet was trained
#: and as OpenCV's FaceDetectorYN feeds it.
DEFAULT_INPUT = {"layout": "NCHW", "color": "BGR", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
                 "size": [640, 640]}


class YunetModel(FaceDetectorModel):
    """YuNet (libfacedetection) face detector: boxes, scores and 5 landmarks, licence-clean weights.

    Preprocessing: letterboxed (see :class:`FaceDetectorModel`), BGR, pixel values 0-255 as they are.

    Outputs are bound by name: ``cls_<s>``, ``obj_<s>``, ``bbox_<s>`` and ``kps_<s>`` per stride (8, 16, 32), one
    prior per feature-map cell. Score ``sqrt(cls * obj)`` (OpenCV's FaceDetectorYN; each clamped to [0, 1]), centre
    ``(cell + bbox[:2]) * stride``, size ``exp(bbox[2:]) * stride``, landmarks ``(cell + kps) * stride``, in the order
    of :class:`Faces` (left eye in the image first).
    """

    task = "yunet"
    options = face_options(_D)
    #: ONNX Runtime ~30, ncnn ~150 bytes per input pixel measured on YuNet-n/s (below SCRFD's)
    bytes_per_input_pixel = 256.0
    default_input = DEFAULT_INPUT
    _row_output = "cls_{stride}"

    def _bind_outputs(self, strides: Optional[Sequence[int]]) -> Tuple[List[int], bool]:
        have = self.engine.output_names
        if strides is None:
            strides = sorted(int(m.group(1)) for m in map(_CLS.match, have) if m)
            if not strides:
                raise ModelContractError(
                    f"model has no YuNet outputs cls_<stride>; its outputs are {have}. "
                    "Rename them by role with `edgecv convert MODEL.onnx --task yunet`.")
        strides = [int(s) for s in strides]
        missing = [n for n in (f"{k}_{s}" for s in strides for k in ("cls", "obj", "bbox")) if n not in have]
        if missing:
            raise ModelContractError(f"model is missing YuNet output(s) {missing}; its outputs are {have}")
        kps = [f"kps_{s}" for s in strides]
        present = [n for n in kps if n in have]
        if present and len(present) != len(kps):
            raise ModelContractError(
                f"model has landmark outputs {present} but lacks {sorted(set(kps) - set(present))}")
        self._levels = [(s, f"cls_{s}", f"obj_{s}", f"bbox_{s}", f"kps_{s}" if present else None) for s in strides]
        self._outputs = [n for level in self._levels for n in level[1:] if n is not None]
        return strides, bool(present)

    @property
    def output_names(self) -> List[str]:
        return self._outputs

    @classmethod
    def matches(cls, output_names: Sequence[str]) -> bool:
        names = set(output_names)
        return any(_CLS.match(n) and f"obj_{n[4:]}" in names for n in output_names)

    def _decode(self, outputs: Dict[str, np.ndarray], o: Dict[str, Any], scale: Tuple[float, float],
                image_wh: Tuple[float, float]) -> Decoded:
        levels = [(s, rows(outputs[c], 1, c), rows(outputs[ob], 1, ob), rows(outputs[b], 4, b),
                   None if k is None else rows(outputs[k], 10, k)) for s, c, ob, b, k in self._levels]
        return _core.decode_yunet(levels, (self.input_size[1], self.input_size[0]), o["score_threshold"],
                                  o["iou_threshold"], o["pre_nms_top_k"], o["max_faces"], scale, image_wh)
