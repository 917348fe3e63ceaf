"""INT8 for OpenVINO: NNCF post-training quantisation of the IR, on the same calibration inputs and gates as the
other engines.

Method (documented in the model's metadata): ``nncf.quantize`` with the MIXED preset, i.e. weights int8 symmetric
per output channel, activations int8 asymmetric per tensor, ranges from the calibration inputs (NNCF's min/max
statistics), then NNCF's fast bias correction. Layers the search keeps in fp32 go to NNCF's ``IgnoredScope`` by
their OpenVINO names. Every calibration input is used (``subset_size`` = their number), so no sampling makes two
runs differ.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from ..errors import ConversionError, ConverterNotFoundError
from .layers import Layer, Network

log = logging.getLogger(__name__)

WEIGHTED_OPS = frozenset({"Convolution", "GroupConvolution", "ConvolutionBackpropData",
                          "GroupConvolutionBackpropData", "MatMul"})
SKIPPED_OPS = frozenset({"Parameter", "Result", "Constant"})
METHOD = {"format": "OpenVINO IR with FakeQuantize (NNCF)", "weights": "int8 symmetric per channel",
          "activations": "int8 asymmetric per tensor", "calibration": "NNCF min/max + fast bias correction"}


def _constant_behind(output) -> bool:
    """Whether ``output`` comes from a Constant, possibly through Convert/Reshape (fp16 weights are converted)."""
    node = output.get_node()
    while node.get_type_name() in ("Convert", "Reshape", "Unsqueeze"):
        node = node.input(0).get_source_output().get_node()
    return node.get_type_name() == "Constant"


def network_of(model) -> Network:
    """The OpenVINO model as a Network: ops by friendly name, tensors as ``tensor_label`` names them."""
    from ..engines.openvino_engine import tensor_label

    layers = []
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind in SKIPPED_OPS:
            continue
        inputs = tuple(tensor_label(i.get_source_output()) for i in op.inputs())
        outputs = tuple(tensor_label(o) for o in op.outputs())
        weighted = (kind in WEIGHTED_OPS and op.get_input_size() > 1
                    and _constant_behind(op.input(1).get_source_output()))
        layers.append(Layer(op.get_friendly_name(), kind, inputs, outputs, weighted))
    return Network(layers, [tensor_label(p.output(0)) for p in model.get_parameters()],
                   [tensor_label(r.input(0).get_source_output()) for r in model.get_results()])


class OpenVinoInt8:
    """Quantiser for one fp32 model (ONNX or IR): its network and NNCF builds."""

    engine = "openvino"
    precision = "int8"

    def __init__(self, fp32_files: Sequence[Path], work: Path, samples: Sequence[Dict[str, np.ndarray]],
                 threads: int = 1) -> None:
        try:
            import nncf  # noqa: F401
            import openvino as ov
        except ImportError as exc:
            raise ConverterNotFoundError("OpenVINO INT8 needs NNCF: pip install 'edgecv[openvino]'") from exc
        self.core = ov.Core()
        self.source = Path(fp32_files[0])
        self.network = network_of(self.core.read_model(str(self.source)))
        self.samples = list(samples)
        self.threads = threads

    @property
    def method(self) -> Dict[str, Any]:
        return dict(METHOD)

    def build(self, keep_fp32: Sequence[str], target: Path) -> List[Path]:
        """Write the INT8 IR to ``target`` (``.xml`` + ``.bin``) with the layers in ``keep_fp32`` left in fp32."""
        import nncf
        import openvino as ov

        model = self.core.read_model(str(self.source))
        scope = nncf.IgnoredScope(names=list(keep_fp32), validate=False)
        nncf.set_log_level(logging.ERROR)
        # NNCF draws its progress bars (rich) on the standard streams: keep them out of the caller's output.
        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                quantized = nncf.quantize(model, nncf.Dataset(self.samples), preset=nncf.QuantizationPreset.MIXED,
                                          target_device=nncf.TargetDevice.CPU, subset_size=len(self.samples),
                                          ignored_scope=scope)
            ov.save_model(quantized, str(target), compress_to_fp16=False)
        except Exception as exc:
            raise ConversionError(f"NNCF quantisation failed: {' '.join(str(exc).split())[:300]}") from exc
        return [target, target.with_suffix(".bin")]
