"""ONNX Runtime adapter (CPU execution provider)."""

from __future__ import annotations

from typing import Dict, List

import numpy as np

from ..errors import ModelLoadError
from .base import Engine, TensorInfo, import_engine_package, require_files


def _dims(shape) -> tuple:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


class OnnxRuntimeEngine(Engine):
    """Loads one ``.onnx`` file. ``threads`` sets intra-op threads; sessions are thread safe."""

    name = "onnxruntime"
    extra = "onnxruntime"
    package = "onnxruntime"

    def __init__(self, files, threads: int = 1, fp16: bool = False) -> None:
        super().__init__(files, threads, fp16)
        ort = import_engine_package(self.package, self.extra)
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
            raise ModelLoadError(f"onnxruntime cannot load {self.files[0]}: {exc}") from exc
        self.inputs = [TensorInfo(i.name, _dims(i.shape)) for i in self.session.get_inputs()]
        self.outputs = [TensorInfo(o.name, _dims(o.shape)) for o in self.session.get_outputs()]

    def _run(self, feeds: Dict[str, np.ndarray], outputs: List[str]) -> Dict[str, np.ndarray]:
        values = self.session.run(outputs, feeds)
        return {n: np.asarray(v, dtype=np.float32) for n, v in zip(outputs, values)}

    def metadata(self) -> Dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)
