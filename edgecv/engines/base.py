"""The engine interface: load model files, name inputs/outputs, run float32 tensors by name.

Capabilities are class attributes: ``target`` (the row of :mod:`edgecv.targets`: name, suffixes, extra,
whether fp16 is honoured) and ``reentrant`` (``run`` may be called from several threads at once with no
lock; False means calls on one loaded model are serialised).
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import (EdgecvError, EngineNotInstalledError, EngineRuntimeError, InvalidInputError,
                      ModelNotFoundError)
from ..system import cpu_count
from ..targets import Target, check_fp16
from ..versions import package_version

Shape = Optional[Tuple[Optional[int], ...]]

#: Engine threads are bounded: at least 1, at most this many per CPU core (more only thrashes, and
#: engines allocate per-thread buffers: 100000 threads hung ONNX Runtime and crashed ncnn).
THREADS_PER_CORE_CAP = 4
#: Longest engine message kept in an EngineRuntimeError.
MAX_MESSAGE = 300


def max_threads() -> int:
    """Largest accepted ``threads``: THREADS_PER_CORE_CAP x the CPU cores this process may use."""
    return THREADS_PER_CORE_CAP * cpu_count()


def default_threads() -> int:
    """Default engine threads: the number of CPU cores, at most 4."""
    return max(1, min(4, cpu_count()))


def check_threads(threads) -> int:
    """``threads`` as an int in [1, max_threads()] (None -> default_threads()); InvalidInputError otherwise."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise InvalidInputError(f"threads must be an integer, got {threads!r:.40}")
    if not 1 <= int(threads) <= max_threads():
        raise InvalidInputError(f"threads must be in [1, {max_threads()}] ({THREADS_PER_CORE_CAP} per CPU core), "
                                f"got {threads}")
    return int(threads)


def short(message: object, limit: int = MAX_MESSAGE) -> str:
    """One line of at most ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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

    Subclasses set ``inputs`` and ``outputs`` at load time and implement :meth:`_run`. ``run`` is safe
    to call from several threads at once (engines that are not ``reentrant`` take a lock).
    """

    target: ClassVar[Target]
    #: True: concurrent run() calls on one model need no lock (the table's ``reentrant``)
    reentrant: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "target" in cls.__dict__:
            cls.reentrant = cls.target.reentrant

    @property
    def name(self) -> str:
        return self.target.name

    @classmethod
    def require_package(cls) -> None:
        """Raise EngineNotInstalledError (naming the extra) when the engine package cannot be imported."""
        import_engine_package(cls.target.module, cls.target.extra)

    @classmethod
    def model_files(cls, files: Sequence[Path]) -> List[Path]:
        """All files of a model given its main file alone (companions added: ncnn's ``.bin``) or all of them."""
        files = [Path(f) for f in files]
        return cls.target.companions_of(files[0]) if len(files) == 1 else files

    @classmethod
    def check_files(cls, files: Sequence[Path]) -> None:
        """edgecv's own checks of the model files before the engine parses them (ModelLoadError)."""
        require_files(files)

    @classmethod
    def version(cls) -> Optional[str]:
        """Version of the engine package, or None when it is not installed (imports nothing)."""
        return package_version(cls.target.distribution)

    def __init__(self, files: Sequence[Path], threads: Optional[int] = 1, fp16: bool = False,
                 busy_wait: bool = True) -> None:
        self.threads = check_threads(threads)
        if not isinstance(busy_wait, bool):
            raise InvalidInputError(f"busy_wait must be True or False, got {busy_wait!r:.40}")
        #: idle engine threads spin between operators instead of sleeping (ONNX Runtime's intra-op spinning): faster
        #: for one model computing alone, slower when several compute at once on the same cores
        self.busy_wait = busy_wait
        if fp16:
            check_fp16([self.target.name])
        self.files: List[Path] = [Path(f) for f in files]
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

    def new_input(self, shape: Tuple[int, ...]) -> np.ndarray:
        """An uninitialised float32 C-contiguous array of ``shape`` for a network input that callers fill and pass
        to :meth:`run` many times (``detect()``'s reused input arrays). Engines whose documented call copies its
        input return memory they read in place (MNN: a host tensor's); the default is a plain numpy array."""
        return np.empty(shape, np.float32)

    def run(self, feeds: Mapping[str, np.ndarray], outputs: Optional[Sequence[str]] = None
            ) -> Dict[str, np.ndarray]:
        """Run the model on float32 ``feeds`` (name -> array); return the requested outputs (all by
        default) as float32 arrays by name. Engine failures become :class:`EngineRuntimeError`."""
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
        try:
            return self._run(arrays, names)
        except EdgecvError:
            raise
        except Exception as exc:  # the engine's own exception types (ORT Fail, MNN Exception, ...)
            raise EngineRuntimeError(f"{self.name} failed running {self.files[0].name}: {short(exc)}") from exc

    @abc.abstractmethod
    def _run(self, feeds: Dict[str, np.ndarray], outputs: List[str]) -> Dict[str, np.ndarray]:
        """Engine-specific inference on checked, C-contiguous float32 feeds."""

    @classmethod
    def fp16_arithmetic(cls) -> str:
        """What an fp16 model computes in on this CPU (for the quantisation report)."""
        return "fp16 on CPUs with fp16 arithmetic (ARMv8.2+), fp32 elsewhere"

    def metadata(self) -> Dict[str, str]:
        """Key/value metadata stored in the model file (ONNX ``metadata_props``); {} if none."""
        return {}

    def probe(self, feeds: Mapping[str, np.ndarray], tensors: Sequence[str]) -> Dict[str, np.ndarray]:
        """Intermediate tensors by name (float32, NCHW as the model computes them) for ``feeds``: what the
        quantisers compare between an fp32 and a quantised model. Names the engine does not know are left out."""
        raise InvalidInputError(f"{self.name} cannot report intermediate tensors")

    def describe(self) -> str:
        ins = ", ".join(f"{t.name}{list(t.shape) if t.shape else ''}" for t in self.inputs)
        outs = ", ".join(f"{t.name}{list(t.shape) if t.shape else ''}" for t in self.outputs)
        return f"{self.name} [{', '.join(f.name for f in self.files)}] inputs: {ins}; outputs: {outs}"
