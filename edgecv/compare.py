"""Deprecated: comparisons live with their tasks (edgecv.tasks.scrfd.compare, edgecv.tasks.openpose.compare)."""
from ._compat import moved
from .tasks.openpose.compare import compare_poses, match_people
from .tasks.scrfd.compare import compare_faces, iou_matrix, match_boxes

moved("edgecv.compare", "edgecv.tasks.<task>.compare")
__all__ = ["compare_faces", "compare_poses", "iou_matrix", "match_boxes", "match_people"]
