"""edgecv: computer-vision models on edge devices, one small API over ONNXRuntime, ncnn and MNN.

    >>> import edgecv
    >>> model = edgecv.load("scrfd_2.5g_bnkps_640", engine="ncnn", threads=2)
    >>> faces = model.detect("photo.jpg")

Importing edgecv imports no inference engine; engines load on first use.
"""

from __future__ import annotations

from .errors import (ChecksumError, DownloadError, EdgecvError, EngineNotInstalledError,
                     ImageReadError, InvalidImageError, InvalidInputError, ModelContractError,
                     ModelLoadError, ModelNotFoundError, SceneError)
from .headpose import Camera, HeadPoses, head_pose
from .depth_io import read_depth, read_ply, write_ply
from .image import read_image
from .loading import load
from .results import DepthMap, Face, Faces, Pose, Poses

__version__ = "0.1.0"

__all__ = [
    "load", "read_image", "head_pose", "Camera", "HeadPoses", "Face", "Faces", "Pose", "Poses", "DepthMap",
    "read_depth", "read_ply", "write_ply", "EdgecvError", "InvalidInputError", "InvalidImageError",
    "ImageReadError", "ModelNotFoundError", "ChecksumError", "ModelLoadError", "ModelContractError",
    "EngineNotInstalledError", "DownloadError", "SceneError", "__version__",
]
