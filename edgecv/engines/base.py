"""The engine interface: load model files, name inputs/outputs, run float32 tensors by name."""

from __future__ import annotations

import abc
import importlib
from importlib import metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import EngineNotInstalledError, InvalidInputError, ModelNotFoundError

Shape = Optional[Tuple[Optional[int], ...]]


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: its name and shape (None for a dynamic or unknown dimension;
    ``shape`` itself is None when the engine cannot tell the rank before running)."""

    name: str
    shape: Shape = None


def import_engine_package(module: str, extra: str):
    """Import an engine's Python package or raise :class:`EngineNotInstalledError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EngineNotInstalledError(
            f"the '{module}' package is not installed; install it with: pip install 'edgecv[{extra}]'"
        ) from exc


def require_files(paths: Sequence[Path]) -> None:
    for p in paths:
        if not Path(p).is_file():
            raise ModelNotFoundError(f"model file not found: {p}")


class Engine(abc.ABC):
    """One loaded model on one inference engine. Nothing task-specific lives here.

    Subclasses set ``inputs`` and ``outputs`` at load time and implement :meth:`_run`.
    ``run`` is safe to call from several threads at once.
    """

    name: str = ""
    #: pip extra that installs this engine
    extra: str = ""
    #: Python package of the engine
    package: str = ""

    @classmethod
    def require_package(cls) -> None:
        """Raise EngineNotInstalledError (naming the extra) when the engine package cannot be imported."""
        import_engine_package(cls.package, cls.extra)

    def __init__(self, files: Sequence[Path], threads: int = 1, fp16: bool = False) -> None:
        if threads < 1:
            raise InvalidInputError(f"threads must be >= 1, got {threads}")
        self.files: List[Path] = [Path(f) for f in files]
        self.threads = int(threads)
        self.fp16 = bool(fp16)
        self.inputs: List[TensorInfo] = []
        self.outputs: List[TensorInfo] = []

    @property
    def input_names(self) -> List[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> List[str]:
        return [t.name for t in self.outputs]

    def input_info(self, name: str) -> TensorInfo:
        for t in self.inputs:
            if t.name == name:
                return t
        raise InvalidInputError(f"model has no input '{name}'; inputs: {self.input_names}")

    def run(self, feeds: Mapping[str, np.ndarray], outputs: Optional[Sequence[str]] = None
            ) -> Dict[str, np.ndarray]:
        """Run the model on float32 ``feeds`` (name -> array); return the requested outputs
        (all by default) as float32 arrays by name."""
        missing = [n for n in self.input_names if n not in feeds]
        unknown = [n for n in feeds if n not in self.input_names]
        if missing or unknown:
            raise InvalidInputError(
                f"inputs do not match the model: missing {missing}, unknown {unknown}; "
                f"model inputs: {self.input_names}")
        names = list(self.output_names if outputs is None else outputs)
        absent = [n for n in names if n not in self.output_names]
        if absent:
            raise InvalidInputError(f"model has no output(s) {absent}; outputs: {self.output_names}")
        arrays = {}
        for k, v in feeds.items():
            if not isinstance(v, np.ndarray) or v.dtype != np.float32:
                raise InvalidInputError(f"input '{k}' must be a float32 numpy array")
            arrays[k] = np.ascontiguousarray(v)
        return self._run(arrays, names)

    @abc.abstractmethod
    def _run(self, feeds: Dict[str, np.ndarray], outputs: List[str]) -> Dict[str, np.ndarray]:
        """Engine-specific inference on checked, C-contiguous float32 feeds."""

    def metadata(self) -> Dict[str, str]:
        """Key/value metadata stored in the model file (ONNX ``metadata_props``); {} if none."""
        return {}

    @classmethod
    def version(cls) -> Optional[str]:
        """Version of the engine package, or None when it is not installed (imports nothing)."""
        try:
            return metadata.version(cls.package)
        except metadata.PackageNotFoundError:
            return None

    def describe(self) -> str:
        ins = ", ".join(f"{t.name}{list(t.shape) if t.shape else ''}" for t in self.inputs)
        outs = ", ".join(f"{t.name}{list(t.shape) if t.shape else ''}" for t in self.outputs)
        return f"{self.name} [{', '.join(f.name for f in self.files)}] inputs: {ins}; outputs: {outs}"
