"""Face detection with SCRFD: boxes, scores, 5 landmarks; head pose composed on top (shared with every face model
in :mod:`edgecv.tasks.faces`)."""

from __future__ import annotations

from ..faces import GATES, Face, Faces, compare_faces, summarize_faces
from ..spec import IMAGE, TaskSpec
from .model import ScrfdModel
from .roles import scrfd_roles

SPEC = TaskSpec(
    name="scrfd", title="face detection (SCRFD)", model=ScrfdModel, result=Faces, nouns=("face", "faces"),
    inputs=IMAGE, matches=ScrfdModel.matches, roles=scrfd_roles, compare=compare_faces,
    summarize=summarize_faces, gates=GATES)

__all__ = ["SPEC", "ScrfdModel", "Face", "Faces"]
