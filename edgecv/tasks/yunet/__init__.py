"""Face detection with YuNet (libfacedetection): boxes, scores, 5 landmarks, licence-clean weights (Apache-2.0 /
MIT). Same :class:`Faces` results, head pose, tracking and gates as every face model (:mod:`edgecv.tasks.faces`)."""

from __future__ import annotations

from ..faces import CALIBRATION_ADVICE, GATES, Face, Faces, compare_faces, summarize_faces
from ..spec import TaskSpec
from .model import YunetModel
from .roles import yunet_roles

SPEC: TaskSpec = TaskSpec(
    name="yunet", title="face detection (YuNet)", model=YunetModel, result=Faces, nouns=("face", "faces"),
    matches=YunetModel.matches, roles=yunet_roles, compare=compare_faces,
    summarize=summarize_faces, gates=GATES, calibration_advice=CALIBRATION_ADVICE)

__all__ = ["SPEC", "YunetModel", "Face", "Faces"]
