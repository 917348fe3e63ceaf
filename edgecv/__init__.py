"""edgecv: computer-vision models on edge devices, one small API over ONNX Runtime, ncnn, MNN and OpenVINO.

    >>> import edgecv
    >>> model = edgecv.load("yunet_n_640", engine="ncnn", threads=2)
    >>> faces = model.detect("photo.jpg")

Importing edgecv imports no inference engine; engines load on first use.
"""

from __future__ import annotations

from . import errors
from .errors import *  # noqa: F403  (every error class: errors.__all__)
from . import batch
from .image import read_image
from .loading import fetch, load, quantize
from .tasks import TASKS
from .tasks.mvs import DepthMap, read_depth, read_ply, write_ply
from .tasks.openpose import Pose, Poses
from .tasks.faces import Face, Faces
from .tasks.faces.headpose import Camera, HeadPoses, head_pose
from .versions import __version__

__all__ = [
    "batch", "load", "fetch", "quantize", "read_image", "head_pose", "Camera", "HeadPoses", "Face", "Faces", "Pose",
    "Poses", "DepthMap", "TASKS", "read_depth", "read_ply", "write_ply", "__version__",
]
__all__ += errors.__all__
