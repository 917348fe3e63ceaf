"""Deprecated: results live with their tasks (edgecv.tasks.scrfd / openpose / mvs)."""
from ._compat import moved
from .tasks.mvs import DepthMap
from .tasks.openpose import Pose, Poses
from .tasks.scrfd import Face, Faces

moved("edgecv.results", "edgecv.tasks.<task> (also edgecv.Faces, edgecv.Poses, edgecv.DepthMap)")
__all__ = ["Face", "Faces", "Pose", "Poses", "DepthMap"]
