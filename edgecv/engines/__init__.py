"""Inference engine adapters, one module per engine (the table is :mod:`edgecv.targets`).
Engine packages are imported only when an engine is created."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Dict, Optional, Sequence, Type

from ..targets import ENGINE_NAMES, TARGETS, get_target
from .base import Engine, TensorInfo, check_threads, cpu_count, default_threads, max_threads


def engine_class(name: str) -> Type[Engine]:
    """The adapter class of engine ``name`` (InvalidInputError for unknown names)."""
    module, cls = get_target(name).adapter.split(":")
    return getattr(importlib.import_module(module), cls)


def create_engine(name: str, files: Sequence[Path], threads: Optional[int] = 1, fp16: bool = False,
                  busy_wait: bool = True) -> Engine:
    """Load model ``files`` on engine ``name`` (``busy_wait``: see :class:`edgecv.engines.base.Engine`)."""
    return engine_class(name)(files, threads=threads, fp16=fp16, busy_wait=busy_wait)


def engine_versions() -> Dict[str, Optional[str]]:
    """Installed version of each engine package (None when missing); imports no engine."""
    return {name: engine_class(name).version() for name in TARGETS}


__all__ = ["Engine", "TensorInfo", "ENGINE_NAMES", "create_engine", "engine_class", "engine_versions",
           "check_threads", "cpu_count", "default_threads", "max_threads"]
