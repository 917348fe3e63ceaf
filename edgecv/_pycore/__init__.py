"""The pure-Python core: every entry point of the compiled ``edgecv._core`` in numpy (and OpenCV, a dependency
anyway), with the same signatures, argument checks and errors. ``edgecv.native`` uses it where the compiled core is
not installed (mobile Python, a platform without a wheel) or when ``EDGECV_CORE=python`` asks for it; the tests run
every task with both and compare the results."""

from __future__ import annotations

from .faces import ScrfdParams, YunetParams, anchor_centres, decode_scrfd, decode_yunet, nms
from .frame import FUSED_LINEAR_RESIZE, prepare_frame
from .mvs import ConsistencyParams, backproject, check_consistency
from .pnp import solve_pnp
from .pose import PoseParams, find_peaks, group_poses
from .track import ByteTracker, TrackerParams

__all__ = ["FUSED_LINEAR_RESIZE", "ScrfdParams", "YunetParams", "ConsistencyParams", "PoseParams", "TrackerParams",
           "ByteTracker", "anchor_centres", "decode_scrfd", "decode_yunet", "nms", "prepare_frame", "backproject",
           "check_consistency", "solve_pnp", "find_peaks", "group_poses"]
