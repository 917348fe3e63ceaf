"""Inference engine adapters. Engine packages are imported only when an engine is created."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Dict, Optional, Sequence, Type

from ..errors import InvalidInputError
from .base import Engine, TensorInfo

# engine name -> (module, class, file suffixes it loads)
_ENGINES = {
    "onnxruntime": ("edgecv.engines.onnxruntime_engine", "OnnxRuntimeEngine", (".onnx",)),
    "ncnn": ("edgecv.engines.ncnn_engine", "NcnnEngine", (".param",)),
    "mnn": ("edgecv.engines.mnn_engine", "MnnEngine", (".mnn",)),
}
ENGINE_NAMES = tuple(_ENGINES)


def engine_class(name: str) -> Type[Engine]:
    if name not in _ENGINES:
        raise InvalidInputError(f"unknown engine '{name}'; choose one of {list(ENGINE_NAMES)}")
    module, cls, _ = _ENGINES[name]
    return getattr(importlib.import_module(module), cls)


def engine_for_file(path: Path) -> Optional[str]:
    """The engine that loads a file with this suffix (``.onnx``, ``.param``, ``.mnn``), or None."""
    suffix = Path(path).suffix.lower()
    for name, (_, _, suffixes) in _ENGINES.items():
        if suffix in suffixes:
            return name
    return None


def create_engine(name: str, files: Sequence[Path], threads: int = 1, fp16: bool = False) -> Engine:
    """Load model ``files`` on engine ``name``."""
    return engine_class(name)(files, threads=threads, fp16=fp16)


def engine_versions() -> Dict[str, Optional[str]]:
    """Installed version of each engine package (None when missing); imports no engine."""
    return {name: engine_class(name).version() for name in ENGINE_NAMES}


__all__ = ["Engine", "TensorInfo", "ENGINE_NAMES", "create_engine", "engine_class",
           "engine_for_file", "engine_versions"]
