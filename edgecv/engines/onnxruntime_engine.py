"""ONNX Runtime adapter (CPU execution provider)."""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..errors import ModelLoadError
from ..targets import TARGETS
from .base import Engine, TensorInfo, import_engine_package, require_files, short


#: Microseconds an idle intra-op thread spins before it sleeps (``session.intra_op.spin_duration_us``; a version
#: that does not know the key ignores it). Long enough to bridge the gaps between operators, short enough to give
#: the cores back during detect()'s preprocessing: 20, 50 and 100 measured alike (docs: Benchmarks).
SPIN_US = 50


def _dims(shape) -> tuple:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


class OnnxRuntimeEngine(Engine):
    """Loads one ``.onnx`` file. ``threads`` sets intra-op threads explicitly (ONNX Runtime ignores
    ``OMP_NUM_THREADS``); sessions are thread safe."""

    target = TARGETS["onnxruntime"]

    def __init__(self, files, threads: Optional[int] = 1, fp16: bool = False, busy_wait: bool = True) -> None:
        super().__init__(files, threads, fp16, busy_wait)
        ort = import_engine_package(self.target.module, self.target.extra)
        require_files(self.files)
        opts = self._session_options(ort)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.files[0]), sess_options=opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types (InvalidProtobuf, Fail, ...)
            raise ModelLoadError(f"onnxruntime cannot load {self.files[0]}: {short(exc)}") from exc
        self.inputs = [TensorInfo(i.name, _dims(i.shape)) for i in self.session.get_inputs()]
        self.outputs = [TensorInfo(o.name, _dims(o.shape)) for o in self.session.get_outputs()]
        if not self.inputs or not self.outputs:
            raise ModelLoadError(f"onnxruntime model {self.files[0]} has no inputs or outputs")

    def _session_options(self, ort):
        """Session options with edgecv's thread policy: ``threads`` intra-op threads that spin while idle (unless
        busy_wait is False), for at most SPIN_US after each parallel section."""
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.log_severity_level = 3
        # benchmarks/bench_spin.py (SCRFD-2.5G, 2 threads, 2 cores): spinning makes a stream 3-6 % faster and a
        # loop of detect() 1-4 %, but a model sharing the cores with a second computing one 3-11 % slower: edgecv
        # serve turns it off (docs: Benchmarks, thread policy). ONNX Runtime's default spin, longer than SPIN_US,
        # made that 32 % and kept the workers spinning through detect()'s preprocessing, where OpenCV's resize
        # wants the second core.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.busy_wait else "0")
        if self.busy_wait:
            opts.add_session_config_entry("session.intra_op.spin_duration_us", str(SPIN_US))
        return opts

    def _run(self, feeds: Dict[str, np.ndarray], outputs: List[str]) -> Dict[str, np.ndarray]:
        values = self.session.run(outputs, feeds)
        return {n: np.asarray(v, dtype=np.float32) for n, v in zip(outputs, values)}

    def metadata(self) -> Dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def probe(self, feeds: Mapping[str, np.ndarray], tensors: Sequence[str]) -> Dict[str, np.ndarray]:
        """A second session whose graph also outputs ``tensors`` (kept while the same names are asked for)."""
        key = tuple(tensors)
        if getattr(self, "_probe_key", None) != key:
            import onnx

            ort = import_engine_package(self.target.module, self.target.extra)
            model = onnx.load(str(self.files[0]))
            known = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
            present = {o.name for o in model.graph.output}
            wanted = [t for t in key if t in known]
            for t in wanted:
                if t not in present:
                    model.graph.output.append(onnx.ValueInfoProto(name=t))
            opts = self._session_options(ort)
            self._probe_session = ort.InferenceSession(model.SerializeToString(), sess_options=opts,
                                                       providers=["CPUExecutionProvider"])
            self._probe_names, self._probe_key = wanted, key
        values = self._probe_session.run(self._probe_names, {k: np.ascontiguousarray(v) for k, v in feeds.items()})
        return {n: np.asarray(v, dtype=np.float32) for n, v in zip(self._probe_names, values)}
