"""Face detection with SCRFD: boxes, scores, 5 landmarks; head pose composed on top (shared with every face model
in :mod:`edgecv.tasks.faces`)."""

from __future__ import annotations

from ..faces import CALIBRATION_ADVICE, GATES, Face, Faces, compare_faces, summarize_faces
from ..spec import TaskSpec
from .model import ScrfdModel
from .roles import scrfd_roles

SPEC: TaskSpec = TaskSpec(
    name="scrfd", title="face detection (SCRFD)", model=ScrfdModel, result=Faces, nouns=("face", "faces"),
    matches=ScrfdModel.matches, roles=scrfd_roles, compare=compare_faces,
    summarize=summarize_faces, gates=GATES, calibration_advice=CALIBRATION_ADVICE)

__all__ = ["SPEC", "ScrfdModel", "Face", "Faces"]
