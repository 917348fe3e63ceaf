"""Deprecated: limb tables live in edgecv.tasks.openpose.layouts."""
from ._compat import moved
from .tasks.openpose.layouts import CMU_LIMBS, COCO18_NAMES, LAYOUTS, LIGHTWEIGHT_LIMBS, SKELETON

moved("edgecv.pose_layouts", "edgecv.tasks.openpose.layouts")
__all__ = ["CMU_LIMBS", "COCO18_NAMES", "LAYOUTS", "LIGHTWEIGHT_LIMBS", "SKELETON"]
