"""Face detection with SCRFD: boxes, scores, 5 landmarks; head pose composed on top."""

from __future__ import annotations

from ..spec import IMAGE, TaskSpec
from .compare import GATES, compare_faces, summarize_faces
from .model import ScrfdModel
from .result import Face, Faces
from .roles import scrfd_roles

SPEC = TaskSpec(
    name="scrfd", title="face detection (SCRFD)", model=ScrfdModel, result=Faces, nouns=("face", "faces"),
    inputs=IMAGE, matches=ScrfdModel.matches, roles=scrfd_roles, compare=compare_faces,
    summarize=summarize_faces, gates=GATES)

__all__ = ["SPEC", "ScrfdModel", "Face", "Faces"]
