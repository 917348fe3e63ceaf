"""MNN adapter (CPU, session API).

An MNN session is not re-entrant, so calls on one loaded model are serialised by a lock (load the model
once per thread to run in parallel). Inputs whose shape differs from the session's are resized before
running. Precision is "high" (fp32) unless ``fp16=True`` ("low").

MNN's C++ code prints notices with printf (CPU features at import, "MNN use high precision", shape
errors), which would corrupt a program's own output (``edgecv detect --json``). Those calls (import,
session creation, resize) run inside :data:`edgecv.engines.native_output.native_stdout_to_stderr`, which
sends C-level printf output to stderr and leaves fd 1, and so every other thread's output, alone.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import EngineRuntimeError, ModelLoadError
from ..targets import TARGETS
from .base import Engine, TensorInfo, import_engine_package, require_files, short
from .native_output import native_stdout_to_stderr


def _dims(shape) -> tuple:
    return tuple(int(d) if d > 0 else None for d in shape)


class _HostInput:
    """An MNN host tensor (float32, NCHW) seen by numpy: ``np.asarray(holder)`` is an array over the tensor's
    memory whose ``base`` is this holder, so the tensor lives as long as any array over it. ``Tensor.getNumpyData``
    alone gives a view that does not keep its tensor alive."""

    __slots__ = ("tensor", "address", "shape", "__array_interface__")

    def __init__(self, tensor, view: np.ndarray) -> None:
        self.tensor = tensor
        self.address: int = view.__array_interface__["data"][0]
        self.shape = view.shape
        self.__array_interface__ = {"shape": view.shape, "typestr": "<f4", "data": (self.address, False),
                                    "version": 3}

    def holds(self, arr: np.ndarray) -> bool:
        """Whether ``arr`` is this tensor's whole memory (not a slice or reshape of it)."""
        return arr.shape == self.shape and arr.__array_interface__["data"][0] == self.address


class MnnEngine(Engine):
    """Loads one ``.mnn`` file."""

    target = TARGETS["mnn"]

    def __init__(self, files, threads: Optional[int] = 1, fp16: bool = False, busy_wait: bool = True) -> None:
        super().__init__(files, threads, fp16, busy_wait)
        require_files(self.files)
        path = str(self.files[0])
        with native_stdout_to_stderr():
            mnn = import_engine_package(self.target.module, self.target.extra)
            try:
                self.interpreter = mnn.Interpreter(path)
                self.session = self.interpreter.createSession(
                    {"numThread": self.threads, "precision": "low" if self.fp16 else "high"})
            except Exception as exc:  # MNN raises a bare Exception for invalid files
                raise ModelLoadError(f"MNN cannot load {path}: {short(exc)}") from exc
        self._mnn = mnn
        self._lock = threading.Lock()
        ins = self.interpreter.getSessionInputAll(self.session)
        outs = self.interpreter.getSessionOutputAll(self.session)
        self.inputs = [TensorInfo(n, _dims(t.getShape())) for n, t in ins.items()]
        self.outputs = [TensorInfo(n, _dims(t.getShape())) for n, t in outs.items()]
        if not self.inputs or not self.outputs:
            raise ModelLoadError(f"MNN model {path} has no inputs or outputs")

    @classmethod
    def require_package(cls) -> None:
        with native_stdout_to_stderr():  # importing MNN prints CPU features on stdout
            super().require_package()

    def new_input(self, shape: Tuple[int, ...]) -> np.ndarray:
        """An array over an MNN host tensor's memory: :meth:`run` hands that tensor to ``copyFrom`` directly, where
        MNN's documented call first copies the input into a new host tensor (0.65 ms for 640x640 here)."""
        mnn = self._mnn
        tensor = mnn.Tensor(tuple(shape), mnn.Halide_Type_Float, mnn.Tensor_DimensionType_Caffe)
        view = tensor.getNumpyData()
        if (not isinstance(view, np.ndarray) or view.dtype != np.float32 or view.shape != tuple(shape)
                or not view.flags.c_contiguous or not view.flags.writeable):
            return super().new_input(shape)  # an MNN whose getNumpyData copies or differs: the copying path
        return np.asarray(_HostInput(tensor, view))

    def _run(self, feeds: Dict[str, np.ndarray], outputs: List[str]) -> Dict[str, np.ndarray]:
        mnn, interp, session = self._mnn, self.interpreter, self.session
        with self._lock:
            tensors = {n: interp.getSessionInput(session, n) for n in feeds}
            resized = False
            for name, arr in feeds.items():
                if tuple(tensors[name].getShape()) != arr.shape:
                    interp.resizeTensor(tensors[name], arr.shape)
                    resized = True
            if resized:
                with native_stdout_to_stderr():
                    interp.resizeSession(session)
            for name, arr in feeds.items():
                owner = arr.base
                if isinstance(owner, _HostInput) and owner.holds(arr):
                    host = owner.tensor
                else:
                    host = mnn.Tensor(arr.shape, mnn.Halide_Type_Float, arr, mnn.Tensor_DimensionType_Caffe)
                tensors[name].copyFrom(host)
            with native_stdout_to_stderr() if resized else contextlib.nullcontext():
                code = interp.runSession(session)
            if code != 0:
                shapes = {n: list(a.shape) for n, a in feeds.items()}
                raise EngineRuntimeError(
                    f"MNN cannot run {self.files[0].name} on inputs {shapes} (error {code}); "
                    "the file's graph may be fixed to another input size")
            result = {}
            for name in outputs:
                out = interp.getSessionOutput(session, name)
                shape = tuple(out.getShape())
                host = mnn.Tensor(shape, mnn.Halide_Type_Float, mnn.Tensor_DimensionType_Caffe)  # uninitialised
                out.copyToHostTensor(host)
                result[name] = np.array(host.getNumpyData(), dtype=np.float32, copy=True)
        return result

    def probe(self, feeds: Mapping[str, np.ndarray], tensors: Sequence[str]) -> Dict[str, np.ndarray]:
        """Intermediate tensors through MNN's module API (a module whose outputs are ``tensors``, kept while the
        same names are asked for). Names MNN does not know make the module fail: ask for known tensor names."""
        mnn = self._mnn
        key = (tuple(feeds), tuple(tensors))
        with self._lock:
            if getattr(self, "_probe_key", None) != key:
                with native_stdout_to_stderr():
                    try:
                        self._probe_module = mnn.nn.load_module_from_file(
                            str(self.files[0]), list(feeds), list(tensors),
                            runtime_manager=mnn.nn.create_runtime_manager(({"numThread": self.threads},)))
                    except Exception as exc:
                        raise EngineRuntimeError(
                            f"MNN cannot report tensors of {self.files[0].name}: {short(exc)}") from exc
                self._probe_key = key
            inputs = [mnn.expr.const(np.ascontiguousarray(a, dtype=np.float32), list(a.shape), mnn.expr.NCHW)
                      for a in feeds.values()]
            outs = self._probe_module.forward(inputs)
            result = {}
            for name, var in zip(tensors, outs):
                # The converted variable must outlive the copy: read() returns a view of its memory without a
                # reference to it, and a temporary freed before np.array copied left malloc's bookkeeping in the
                # first and last values (int8 models, where the conversion makes a new variable). That noise
                # reordered the INT8 layer search from run to run.
                nchw = mnn.expr.convert(var, mnn.expr.NCHW)
                result[name] = np.array(nchw.read(), dtype=np.float32, copy=True)
                del nchw
            return result
