"""Exceptions raised by edgecv. Every error the SDK raises on bad input is an :class:`EdgecvError`."""

from __future__ import annotations


class EdgecvError(Exception):
    """Base class of all edgecv errors."""


class InvalidInputError(EdgecvError, ValueError):
    """An argument has the wrong type, shape, size or value (also raised by the C++ core)."""


class InvalidImageError(InvalidInputError):
    """An image is None, empty, not uint8, or not a 3-channel BGR ``(H, W, 3)`` array."""


class ImageReadError(InvalidImageError, OSError):
    """An image file does not exist or cannot be decoded (unrecognised, truncated or corrupt data)."""


class ImageTooLargeError(InvalidImageError):
    """An encoded image declares more pixels than the limit (``max_pixels``, ``EDGECV_MAX_PIXELS``, default 40 MP),
    or its file is larger than any image under that limit; refused before any pixel is decoded."""


class ModelNotFoundError(EdgecvError, FileNotFoundError):
    """A model name is unknown, or a model file is in neither the mirror nor the cache."""


class ChecksumError(EdgecvError):
    """A model file's sha256 does not match its manifest."""


class ModelLoadError(EdgecvError):
    """An engine could not load a model file (corrupt, truncated or wrong format)."""


class ModelContractError(EdgecvError):
    """A model's inputs or outputs do not match what its task needs (e.g. a missing output)."""


class EngineNotInstalledError(EdgecvError, ImportError):
    """The Python package of an inference engine is not installed; the message names the extra."""


class FeatureNotInstalledError(EdgecvError, ImportError):
    """The packages of an optional feature (batch: pyarrow, ray; serve: fastapi, uvicorn) are not installed;
    the message names the pip extra."""


class ArchiveLimitError(InvalidInputError):
    """An archive member is larger than the per-member limit, or the archive inflates past its total size or
    compression-ratio limit (a zip or tar bomb); the members concerned are not read."""


class UnknownOptionError(InvalidInputError):
    """An option a task does not have (``option``: its name, ``task``: the task, ``allowed``: its options)."""

    def __init__(self, message: str, option: str = "", task: str = "", allowed=()) -> None:
        super().__init__(message)
        self.option, self.task, self.allowed = option, task, tuple(allowed)


class SceneError(EdgecvError, ValueError):
    """A multi-view scene folder, cam file or pair file is missing or malformed."""


class DownloadError(EdgecvError, OSError):
    """A model file could not be downloaded (or downloads are disabled)."""


class ConversionError(EdgecvError):
    """A model could not be converted (e.g. its outputs cannot be assigned roles)."""


class ConverterNotFoundError(ConversionError, ImportError):
    """A converter tool (pnnx binary, MNN converter, onnx package) is missing; the message says what to install."""


class OutputWriteError(EdgecvError, OSError):
    """An output file (cache entry, converted model, annotated image, depth map, report) could not be written."""


class EngineRuntimeError(EdgecvError, RuntimeError):
    """An inference engine failed while running a model; the message carries the engine's own."""


class SourceError(EdgecvError, OSError):
    """A stream source is missing, cannot be opened or decoded, or stopped sending frames."""


class CalibrationError(InvalidInputError):
    """A calibration folder is missing, empty, unreadable or too small, or overlaps the held-out images."""


class PrecisionNotSupportedError(InvalidInputError):
    """An engine cannot run a model in the requested precision on this CPU (e.g. fp16 on ONNX Runtime's CPU
    provider); the message names the engines that can."""


class QuantizationError(ConversionError):
    """A quantised model fails its accuracy gates on the held-out images even with the most sensitive layers
    kept in fp32, or the quantiser failed. ``result`` holds what was written for the engines that passed."""

    def __init__(self, message: str, result=None) -> None:
        super().__init__(message)
        self.result = result


#: Every error edgecv raises on purpose (all are exported by ``edgecv``).
__all__ = [
    "EdgecvError", "InvalidInputError", "InvalidImageError", "ImageReadError", "ImageTooLargeError",
    "ModelNotFoundError", "ChecksumError", "ModelLoadError", "ModelContractError", "EngineNotInstalledError",
    "FeatureNotInstalledError", "ArchiveLimitError", "UnknownOptionError", "SceneError", "DownloadError",
    "ConversionError", "ConverterNotFoundError", "OutputWriteError", "EngineRuntimeError", "SourceError",
    "CalibrationError", "PrecisionNotSupportedError", "QuantizationError",
]
