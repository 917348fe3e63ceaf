"""ONNX Runtime adapter (CPU execution provider)."""

from __future__ import annotations

from typing import Dict, List

import numpy as np

from ..errors import ModelLoadError
from ..targets import TARGETS
from .base import Engine, TensorInfo, import_engine_package, require_files, short


def _dims(shape) -> tuple:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


class OnnxRuntimeEngine(Engine):
    """Loads one ``.onnx`` file. ``threads`` sets intra-op threads explicitly (ONNX Runtime ignores
    ``OMP_NUM_THREADS``); sessions are thread safe."""

    target = TARGETS["onnxruntime"]
    reentrant = True

    def __init__(self, files, threads: int = 1, fp16: bool = False) -> None:
        super().__init__(files, threads, fp16)
        ort = import_engine_package(self.target.module, self.target.extra)
        require_files(self.files)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.files[0]), sess_options=opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types (InvalidProtobuf, Fail, ...)
            raise ModelLoadError(f"onnxruntime cannot load {self.files[0]}: {short(exc)}") from exc
        self.inputs = [TensorInfo(i.name, _dims(i.shape)) for i in self.session.get_inputs()]
        self.outputs = [TensorInfo(o.name, _dims(o.shape)) for o in self.session.get_outputs()]
        if not self.inputs or not self.outputs:
            raise ModelLoadError(f"onnxruntime model {self.files[0]} has no inputs or outputs")

    def _run(self, feeds: Dict[str, np.ndarray], outputs: List[str]) -> Dict[str, np.ndarray]:
        values = self.session.run(outputs, feeds)
        return {n: np.asarray(v, dtype=np.float32) for n, v in zip(outputs, values)}

    def metadata(self) -> Dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)
