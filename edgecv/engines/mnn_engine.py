"""MNN adapter (CPU, session API).

An MNN session is not re-entrant, so calls on one loaded model are serialised by a lock (the cost:
concurrent calls on the same model wait for each other; load the model once per thread to run in
parallel). Inputs whose shape differs from the session's are resized before running.
Precision is "high" (fp32) unless ``fp16=True`` ("low").
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Dict, List

import numpy as np

from ..errors import ModelLoadError
from .base import Engine, TensorInfo, import_engine_package, require_files


@contextlib.contextmanager
def _native_stdout_to_stderr():
    """MNN's C++ code prints notices on stdout ("MNN use high precision", CPU features), which
    would corrupt a program's own output (e.g. ``edgecv detect --json``): send them to stderr."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no usable fd 1 (e.g. embedded interpreters)
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _dims(shape) -> tuple:
    return tuple(int(d) if d > 0 else None for d in shape)


class MnnEngine(Engine):
    """Loads one ``.mnn`` file."""

    name = "mnn"
    extra = "mnn"
    package = "MNN"

    def __init__(self, files, threads: int = 1, fp16: bool = False) -> None:
        super().__init__(files, threads, fp16)
        require_files(self.files)
        path = str(self.files[0])
        with _native_stdout_to_stderr():
            mnn = import_engine_package(self.package, self.extra)
            try:
                self.interpreter = mnn.Interpreter(path)
                self.session = self.interpreter.createSession(
                    {"numThread": self.threads, "precision": "low" if self.fp16 else "high"})
            except Exception as exc:  # MNN raises a bare Exception for invalid files
                raise ModelLoadError(f"MNN cannot load {path}: {exc}") from exc
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
        with _native_stdout_to_stderr():  # importing MNN prints CPU features on stdout
            super().require_package()

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
                with _native_stdout_to_stderr():
                    interp.resizeSession(session)
            for name, arr in feeds.items():
                host = mnn.Tensor(arr.shape, mnn.Halide_Type_Float, arr, mnn.Tensor_DimensionType_Caffe)
                tensors[name].copyFrom(host)
            interp.runSession(session)
            result = {}
            for name in outputs:
                out = interp.getSessionOutput(session, name)
                shape = tuple(out.getShape())
                host = mnn.Tensor(shape, mnn.Halide_Type_Float, np.empty(shape, np.float32),
                                  mnn.Tensor_DimensionType_Caffe)
                out.copyToHostTensor(host)
                result[name] = np.array(host.getNumpyData(), dtype=np.float32, copy=True)
        return result
