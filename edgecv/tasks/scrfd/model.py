"""SCRFD face detection: letterbox + normalise -> engine -> C++ anchor decoding and NMS -> :class:`Faces`."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import ModelContractError
from ...native import core as _core
from ..faces.detector import Decoded, FaceDetectorModel, face_options, rows

_SCORE = re.compile(r"^score_(\d+)$")
_D = _core.ScrfdParams()  # decoding defaults live in C++ (csrc/edgecv/scrfd.hpp)

#: Input contract unless a manifest or metadata says otherwise (insightface's preprocessing).
DEFAULT_INPUT = {"layout": "NCHW", "color": "RGB", "mean": [127.5, 127.5, 127.5], "std": [128.0, 128.0, 128.0],
                 "size": [640, 640]}


class ScrfdModel(FaceDetectorModel):
    """SCRFD face detector (boxes, scores and, when the model has them, 5 landmarks).

    Preprocessing: letterboxed (see :class:`FaceDetectorModel`), then BGR->RGB and ``(pixel - 127.5) / 128``
    (mean/std from the manifest or metadata), as insightface does.

    Outputs are bound by name: ``score_<s>``, ``bbox_<s>`` and optionally ``kps_<s>`` for each stride
    ``s`` (default 8, 16, 32). Models without landmarks (6 outputs) give ``landmarks=None``.
    """

    task = "scrfd"
    options = face_options(_D)
    #: ncnn ~200, ONNX Runtime ~35 bytes per input pixel measured on SCRFD-2.5G/500M
    bytes_per_input_pixel = 256.0
    default_input = DEFAULT_INPUT
    _row_output = "score_{stride}"

    def _rows_per_cell(self) -> int:
        return self.num_anchors

    def _names(self, stride: int) -> List[str]:
        names = [f"score_{stride}", f"bbox_{stride}"]
        return names + [f"kps_{stride}"] if self.with_landmarks else names

    def _bind_outputs(self, strides: Optional[Sequence[int]]) -> Tuple[List[int], bool]:
        self.num_anchors = int(self.config.outputs.get("num_anchors", _D.num_anchors))
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
        self.with_landmarks = bool(present)
        self._outputs = [n for s in strides for n in self._names(s)]
        self._levels = [(s, f"score_{s}", f"bbox_{s}", f"kps_{s}" if present else None) for s in strides]
        return strides, bool(present)

    @property
    def output_names(self) -> List[str]:
        return self._outputs

    @classmethod
    def matches(cls, output_names: Sequence[str]) -> bool:
        return any(_SCORE.match(n) for n in output_names)

    def _decode(self, outputs: Dict[str, np.ndarray], o: Dict[str, Any], scale: Tuple[float, float],
                image_wh: Tuple[float, float]) -> Decoded:
        levels = [(s, rows(outputs[sn], 1, sn), rows(outputs[bn], 4, bn),
                   None if kn is None else rows(outputs[kn], 10, kn)) for s, sn, bn, kn in self._levels]
        return _core.decode_scrfd(levels, (self.input_size[1], self.input_size[0]), self.num_anchors,
                                  o["score_threshold"], o["iou_threshold"], o["pre_nms_top_k"], o["max_faces"], scale,
                                  image_wh)
