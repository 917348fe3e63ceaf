"""Deprecated: head pose lives with face detection in edgecv.tasks.scrfd.headpose."""
from ._compat import moved
from .tasks.scrfd.headpose import (Camera, HeadPoses, attach_head_pose, euler_from_rotation, face_model, head_pose,
                                   quaternion_from_rotation, rotation_from_euler)

moved("edgecv.headpose", "edgecv.tasks.scrfd.headpose")
__all__ = ["Camera", "HeadPoses", "attach_head_pose", "euler_from_rotation", "face_model", "head_pose",
           "quaternion_from_rotation", "rotation_from_euler"]
