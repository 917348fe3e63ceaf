"""OpenVINO adapter (CPU plugin).

Loads an ONNX file directly, or an OpenVINO IR (``<stem>.ov.xml`` with its ``.ov.bin``, written by
``edgecv convert --to openvino`` and ``edgecv quantize``). Settings are explicit, because the CPU plugin's
defaults depend on the CPU:

- precision: ``INFERENCE_PRECISION_HINT`` is ``f32`` (fp32 results) unless ``fp16=True`` (``f16``). Left alone,
  the plugin computes in **bf16** on CPUs with AMX or AVX-512 BF16 (this machine), which changes results;
- threads: ``INFERENCE_NUM_THREADS`` = ``threads``, one stream, the latency hint, no core pinning (pinned
  threads fight other models and a stream's other stages for the same cores);
- compiled models are cached in the model cache (``<EDGECV_CACHE>/openvino``; ``EDGECV_OPENVINO_CACHE=0`` turns
  it off), so a second load skips compilation.

Each calling thread gets its own infer request on the one compiled model, so ``run`` is reentrant.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..errors import ModelLoadError
from ..targets import TARGETS
from .base import Engine, TensorInfo, import_engine_package, require_files, short


def _dims(partial_shape) -> Optional[tuple]:
    if partial_shape.rank.is_dynamic:
        return None
    return tuple(d.get_length() if d.is_static else None for d in partial_shape)


def _name(port) -> str:
    """The port's tensor name as the ONNX graph spells it (ports can carry several: ``{"score_8", "453"}``)."""
    return port.get_any_name()


def cache_folder() -> Optional[Path]:
    """Where compiled models are cached, or None when caching is off."""
    if os.environ.get("EDGECV_OPENVINO_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    from ..store import cache_dir

    return cache_dir() / "openvino"


class OpenVinoEngine(Engine):
    """Loads one ``.onnx`` file or a ``.ov.xml`` + ``.ov.bin`` pair."""

    target = TARGETS["openvino"]

    @classmethod
    def model_files(cls, files) -> List[Path]:
        files = [Path(f) for f in files]
        if len(files) == 1 and files[0].suffix.lower() == ".onnx":
            return files
        return super().model_files(files)

    def __init__(self, files, threads: Optional[int] = 1, fp16: bool = False, busy_wait: bool = True) -> None:
        files = self.model_files(files)
        super().__init__(files, threads, fp16, busy_wait)
        require_files(self.files)
        ov = import_engine_package(self.target.module, self.target.extra)
        core = ov.Core()
        try:
            model = core.read_model(str(self.files[0]))
        except Exception as exc:  # OpenVINO raises RuntimeError with its own text
            raise ModelLoadError(f"OpenVINO cannot read {self.files[0]}: {short(exc)}") from exc
        self._model = model
        self.inputs = [TensorInfo(_name(i), _dims(i.get_partial_shape())) for i in model.inputs]
        self.outputs = [TensorInfo(_name(o), _dims(o.get_partial_shape())) for o in model.outputs]
        if not self.inputs or not self.outputs:
            raise ModelLoadError(f"OpenVINO model {self.files[0]} has no inputs or outputs")
        self._config: Dict[str, Any] = {
            "INFERENCE_NUM_THREADS": self.threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f16" if self.fp16 else "f32", "ENABLE_CPU_PINNING": False,
        }
        cache = cache_folder()
        if cache is not None:
            try:
                cache.mkdir(parents=True, exist_ok=True)
                self._config["CACHE_DIR"] = str(cache)
            except OSError:  # a read-only cache only costs the compilation
                pass
        self._core = core
        try:
            self.compiled = core.compile_model(model, "CPU", self._config)
        except Exception as exc:
            raise ModelLoadError(f"OpenVINO cannot compile {self.files[0]}: {short(exc)}") from exc
        self._ports = {t.name: port for t, port in zip(self.outputs, self.compiled.outputs)}
        self._local = threading.local()

    def _request(self):
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request

    def _run(self, feeds: Dict[str, np.ndarray], outputs: List[str]) -> Dict[str, np.ndarray]:
        request = self._request()
        # No copies inside OpenVINO: it reads the (checked, C-contiguous float32) feeds in place during this
        # synchronous call, and the outputs are copied once below (its default copies both ways: 0.5 ms more per
        # 640x640 SCRFD call here).
        request.infer(feeds, share_inputs=True, share_outputs=True)
        return {n: np.array(request.get_tensor(self._ports[n]).data, dtype=np.float32, copy=True) for n in outputs}

    def metadata(self) -> Dict[str, str]:
        """An ONNX file's ``metadata_props`` (OpenVINO keeps them under the model's ``framework`` info)."""
        info = self._model.get_rt_info()
        framework = info["framework"] if "framework" in info.keys() else None
        if not isinstance(framework, dict):  # no metadata: OpenVINO answers an empty OVAny
            return {}
        return {str(k): v.astype(str) if hasattr(v, "astype") else str(v) for k, v in framework.items()}

    def probe(self, feeds: Mapping[str, np.ndarray], tensors: Sequence[str]) -> Dict[str, np.ndarray]:
        """Intermediate tensors by tensor name, or ``"<op name>:<port>"`` for the many unnamed ones (what
        :func:`tensor_label` calls them): a second compiled model whose outputs include them (kept while the same
        names are asked for). Names the graph does not have are left out."""
        key = tuple(tensors)
        if getattr(self, "_probe_key", None) != key:
            model = self._core.read_model(str(self.files[0]))
            known = {tensor_label(out) for op in model.get_ops() for out in op.outputs()}
            known |= {name for op in model.get_ops() for out in op.outputs() for name in out.get_names()}
            wanted = [t for t in dict.fromkeys(key) if t in known]
            first = len(model.outputs)
            for t in wanted:
                op, _, port = t.rpartition(":")
                if op and port.isdigit() and t not in {n for o in model.outputs for n in o.get_names()}:
                    try:
                        model.add_outputs([(op, int(port))])
                        continue
                    except RuntimeError:
                        pass
                model.add_outputs([t])
            config = {k: v for k, v in self._config.items() if k != "CACHE_DIR"}
            compiled = self._core.compile_model(model, "CPU", config)
            self._probe = (compiled.create_infer_request(), wanted, [compiled.outputs[first + i]
                                                                      for i in range(len(wanted))])
            self._probe_key = key
        request, wanted, ports = self._probe
        request.infer({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()})
        return {name: np.array(request.get_tensor(port).data, dtype=np.float32, copy=True)
                for name, port in zip(wanted, ports)}


def tensor_label(output) -> str:
    """A tensor's name for :meth:`OpenVinoEngine.probe` and the quantiser's network: its first tensor name, or
    ``"<op friendly name>:<port>"`` when it has none."""
    names = sorted(output.get_names())
    return names[0] if names else f"{output.get_node().get_friendly_name()}:{output.get_index()}"
