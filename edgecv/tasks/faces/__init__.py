"""What the face detection tasks (``scrfd``, ``yunet``) share: the :class:`Faces` result, drawing, comparison
and gates, head pose, and the detector pipeline (:mod:`.detector`). Not a task itself: each face model is its
own task package built on this one."""

from __future__ import annotations

from .compare import GATES, compare_faces, iou_matrix, match_boxes, summarize_faces
from .result import Face, Faces

#: What a face model's calibration photos should show (said when a calibration folder is too small).
CALIBRATION_ADVICE = "for faces: large, small and turned faces, in the light and scenes of the deployment"

__all__ = ["Face", "Faces", "GATES", "CALIBRATION_ADVICE", "compare_faces", "summarize_faces", "iou_matrix",
           "match_boxes"]
