"""edgecv: computer-vision models on edge devices, one small API over ONNX Runtime, ncnn and MNN.

    >>> import edgecv
    >>> model = edgecv.load("scrfd_2.5g_bnkps_640", engine="ncnn", threads=2)
    >>> faces = model.detect("photo.jpg")

Importing edgecv imports no inference engine; engines load on first use.
"""

from __future__ import annotations

from .errors import (ChecksumError, ConversionError, ConverterNotFoundError, DownloadError, EdgecvError,
                     EngineNotInstalledError, EngineRuntimeError, FeatureNotInstalledError, ImageReadError, InvalidImageError,
                     InvalidInputError, ModelContractError, ModelLoadError, ModelNotFoundError, OutputWriteError,
                     CalibrationError, PrecisionNotSupportedError, QuantizationError, SceneError)
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
    "batch", "load", "fetch", "quantize", "read_image", "head_pose", "Camera", "HeadPoses", "Face", "Faces", "Pose", "Poses", "DepthMap",
    "TASKS", "read_depth", "read_ply", "write_ply", "EdgecvError", "InvalidInputError", "InvalidImageError",
    "ImageReadError", "ModelNotFoundError", "ChecksumError", "ModelLoadError", "ModelContractError",
    "EngineNotInstalledError", "EngineRuntimeError", "FeatureNotInstalledError", "DownloadError", "SceneError", "ConversionError",
    "ConverterNotFoundError", "OutputWriteError", "CalibrationError", "PrecisionNotSupportedError",
    "QuantizationError", "__version__",
]
