"""ncnn adapter (CPU).

ncnn has no batch axis: a leading batch dimension of 1 is dropped from every input and added back
to every output, so tensors have the same rank as on ONNX Runtime.

Precision is set explicitly: ncnn enables fp16 storage/packing/arithmetic by default on CPUs that
support it; edgecv turns fp16 and bf16 off (fp32 results) unless ``fp16=True``. Vulkan is off.

Threads: ncnn's layers run on OpenMP (libgomp), which keeps one team of worker threads per calling thread and
stops its workers from spin-waiting between layers as soon as its teams hold more threads than the machine has
cores. A second calling thread (a stream's inference thread beside the one that loaded the model) is enough: each
call then pays a wake-up per layer, measured here as SCRFD-2.5G at 7 instead of 12 frames per second on 2 cores.
So every multi-threaded ncnn call in the process (loading, which packs weights with OpenMP too, and inference)
runs on one long-lived thread (:func:`omp_thread`): one team, spinning kept, whichever thread calls; with
``threads=1`` there is no team and calls run where they are made.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..errors import EngineRuntimeError, ModelLoadError
from ..targets import TARGETS
from .base import Engine, TensorInfo, import_engine_package, require_files
from .ncnn_checks import check_ncnn_files


#: layer types that read their bottom blob and always write a new top blob: an input consumed only by these can stay in
#: numpy memory (ncnn.Mat(array) wraps it without a copy)
_READ_ONLY_CONSUMERS = frozenset({"Convolution", "ConvolutionDepthWise"})

_OMP_LOCK = threading.Lock()
_OMP_EXECUTOR: Optional[ThreadPoolExecutor] = None


def omp_thread() -> ThreadPoolExecutor:
    """The process's one thread for multi-threaded ncnn calls (started on first use; joined at interpreter exit)."""
    global _OMP_EXECUTOR
    with _OMP_LOCK:
        if _OMP_EXECUTOR is None:
            _OMP_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgecv-ncnn")
        return _OMP_EXECUTOR


class NcnnEngine(Engine):
    """Loads a ``.param`` + ``.bin`` pair. Each call uses its own extractor (thread safe)."""

    target = TARGETS["ncnn"]

    @classmethod
    def check_files(cls, files) -> None:
        """The .param parsed and range-checked, the .bin walked to its exact end (edgecv.engines.ncnn_checks)."""
        files = cls.model_files(files)
        require_files(files)
        check_ncnn_files(files[0], files[1])

    def __init__(self, files, threads: Optional[int] = 1, fp16: bool = False, busy_wait: bool = True) -> None:
        files = self.model_files(files)
        super().__init__(files, threads, fp16, busy_wait)
        self.check_files(files)
        ncnn = import_engine_package(self.target.module, self.target.extra)
        self._ncnn = ncnn
        self.net = self._on_omp_thread(self._load_net)  # loading runs OpenMP too (weight packing)
        self.inputs = [TensorInfo(n) for n in self.net.input_names()]
        self.outputs = [TensorInfo(n) for n in self.net.output_names()]
        if not self.inputs or not self.outputs:
            raise ModelLoadError(f"ncnn model {self.files[0]} has no inputs or outputs")
        self.borrowed_inputs = self._read_only_inputs()

    def _read_only_inputs(self) -> frozenset:
        """Names of the inputs every consumer of which only reads them (see ``_READ_ONLY_CONSUMERS``). ncnn runs
        those on the caller's numpy memory; the others get a copy in ncnn-owned memory, because a layer working in
        place on a blob ncnn does not own dereferences the blob's missing reference count (it crashed
        PatchmatchNet), and would write into the caller's array besides."""
        layers = self.net.layers()
        read_only = set()
        for name, index in zip(self.net.input_names(), self.net.input_indexes()):
            consumers = [layer for layer in layers if index in list(layer.bottoms)]
            if consumers and all(layer.type in _READ_ONLY_CONSUMERS and not layer.support_inplace
                                 for layer in consumers):
                read_only.add(name)
        return frozenset(read_only)

    def _load_net(self):
        param, weights = self.files
        net = self._ncnn.Net()
        net.opt.use_vulkan_compute = False
        net.opt.num_threads = self.threads
        net.opt.use_fp16_storage = self.fp16
        net.opt.use_fp16_packed = self.fp16
        net.opt.use_fp16_arithmetic = self.fp16
        net.opt.use_bf16_storage = False
        net.opt.use_bf16_packed = False
        if net.load_param(str(param)) != 0:
            raise ModelLoadError(f"ncnn cannot parse {param} (not an ncnn .param file?)")
        if net.load_model(str(weights)) != 0:
            raise ModelLoadError(f"ncnn cannot load weights {weights} (truncated or mismatched .bin?)")
        return net

    @classmethod
    def fp16_arithmetic(cls) -> str:
        ncnn = import_engine_package(cls.target.module, cls.target.extra)
        if ncnn.cpu_support_arm_asimdhp():
            return "fp16 (ARM fp16 arithmetic)"
        return "fp32 with fp16 storage" if ncnn.cpu_support_x86_avx2() or ncnn.cpu_support_arm_neon() else "fp32"

    def _run(self, feeds: Dict[str, np.ndarray], outputs: List[str]) -> Dict[str, np.ndarray]:
        return self._on_omp_thread(self._extract, feeds, outputs, True)

    def _on_omp_thread(self, fn, *args):
        if self.threads == 1 or threading.current_thread().name.startswith("edgecv-ncnn"):
            return fn(*args)
        return omp_thread().submit(fn, *args).result()

    def probe(self, feeds: Mapping[str, np.ndarray], tensors: Sequence[str]) -> Dict[str, np.ndarray]:
        """Any blob of the graph by name (one extractor: each layer runs once)."""
        known = {b for layer in self._layers() for b in layer.tops}
        inputs = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()}
        return self._on_omp_thread(self._extract, inputs, [t for t in tensors if t in known], False)

    def _layers(self):
        if not hasattr(self, "_param_layers"):
            from .ncnn_checks import parse_param

            self._param_layers = parse_param(self.files[0].read_text(), str(self.files[0]))
        return self._param_layers

    def _extract(self, feeds: Dict[str, np.ndarray], outputs: List[str], strict: bool) -> Dict[str, np.ndarray]:
        ncnn = self._ncnn
        ex = self.net.create_extractor()
        if not strict:  # keep every intermediate blob: light mode recycles them while later layers run
            ex.set_light_mode(False)
        wrapped = []  # ncnn.Mat(array) wraps the numpy memory without copying: kept alive until extraction ends
        for name, arr in feeds.items():
            if arr.ndim >= 2 and arr.shape[0] == 1:
                arr = arr[0]
            wrapped.append(np.ascontiguousarray(arr))
            mat = ncnn.Mat(wrapped[-1])
            # inputs a layer may work on in place are copied into ncnn-owned memory (~0.5 ms for 640x640)
            ex.input(name, mat if name in self.borrowed_inputs else mat.clone())
        result = {}
        for name in outputs:
            ret, mat = ex.extract(name)
            if ret != 0 and not strict:
                continue
            if ret != 0:
                raise EngineRuntimeError(
                    f"ncnn failed to compute output '{name}' of {self.files[0].name} (error {ret})")
            result[name] = np.array(mat, dtype=np.float32)[None]
        return result
