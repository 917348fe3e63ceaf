"""Multi-person pose with OpenPose (COCO-18 keypoints, part affinity fields, C++ grouping)."""

from __future__ import annotations

from ..spec import TaskSpec
from .compare import GATES, compare_poses, summarize_poses
from .layouts import COCO18_NAMES, LAYOUTS
from .model import OpenPoseModel
from .result import Pose, Poses
from .roles import openpose_roles

SPEC: TaskSpec = TaskSpec(
    name="openpose", title="multi-person pose (OpenPose)", model=OpenPoseModel, result=Poses,
    nouns=("person", "people"), matches=OpenPoseModel.matches, roles=openpose_roles,
    compare=compare_poses, summarize=summarize_poses, gates=GATES)

__all__ = ["SPEC", "OpenPoseModel", "Pose", "Poses", "COCO18_NAMES", "LAYOUTS"]
