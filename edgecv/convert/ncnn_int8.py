"""INT8 for ncnn, written by edgecv: the calibration table is computed in Python with the ncnn wheel itself
and the quantised ``.param``/``.bin`` are written in ncnn's INT8 format directly.

Why not ncnn's own tools: the ncnn wheel ships neither ``ncnn2table`` nor ``ncnn2int8``; building them means
building ncnn from its source distribution (a C++ toolchain and minutes of compiling on a board) for two
steps that are simple to state: per-channel weight scales, and one activation scale per quantised layer
input. Both are computed here the way ncnn's tools do, and the files are read back by the installed ncnn.

Method (recorded in the model's metadata):

- Convolution and InnerProduct: int8 weights with one scale per output channel (``int8_scale_term`` 2);
  ConvolutionDepthWise: one scale per group (``int8_scale_term`` 1). ``scale = 127 / max|w|``;
  values rounded half away from zero and clamped to [-127, 127], as ncnn's ``quantize_to_int8``.
- Activations: one symmetric scale per layer input, ``127 / max|x|`` over the calibration inputs (MinMax,
  as for ONNX Runtime). ncnn2table's default, KL-divergence thresholds, clipped SCRFD's activations to a
  seventh of their range here: one quantised layer kept 11 dB of signal-to-noise instead of 29 dB, and the
  model lost most faces.
- Layout: a quantised layer's weights are written with the int8 tag (0x000D4B38) and padded to 4 bytes, its
  bias stays fp32, then the weight scales and the input scale follow as raw fp32 (what ncnn's
  ``Convolution::load_model`` reads when ``8=`` is set). Layers kept in fp32 are copied byte for byte.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from ..engines.ncnn_checks import WeightBlob, weight_blobs
from ..errors import ConversionError, EdgecvError
from .layers import Layer, Network

log = logging.getLogger(__name__)

TAG_INT8 = 0x000D4B38
#: Layer types quantised, and their int8_scale_term (2: per output channel, 1: per group).
SCALE_TERM = {"Convolution": 2, "ConvolutionDepthWise": 1, "InnerProduct": 2}
METHOD = {"format": "ncnn int8 (edgecv writer)", "weights": "int8 symmetric per output channel (per group for "
          "depthwise)", "activations": "int8 symmetric per layer input", "calibration": "MinMax"}


def round_away(x: np.ndarray) -> np.ndarray:
    """Round half away from zero (C's ``round``, which ncnn uses)."""
    return np.trunc(x + np.copysign(0.5, x))


def network_of(entries: Sequence[Tuple[Any, List[WeightBlob]]]) -> Network:
    produced, consumed = [], set()
    layers, inputs = [], []
    for layer, blobs in entries:
        weighted = (layer.kind in SCALE_TERM and layer.int(8) == 0 and layer.int(19) == 0
                    and bool(blobs) and blobs[0].tag == 0)
        layers.append(Layer(layer.name, layer.kind, tuple(layer.bottoms), tuple(layer.tops), weighted))
        if layer.kind == "Input":
            inputs += layer.tops
        produced += layer.tops
        consumed.update(layer.bottoms)
    return Network(layers, inputs, [b for b in produced if b not in consumed])


class NcnnInt8:
    """Quantiser for one fp32 ncnn model: activation scales from the calibration inputs, then builds."""

    engine = "ncnn"
    precision = "int8"

    def __init__(self, fp32_files: Sequence[Path], work: Path, samples: Sequence[Dict[str, np.ndarray]],
                 threads: int = 1) -> None:
        from ..engines import create_engine

        self.param, self.weights = Path(fp32_files[0]), Path(fp32_files[1])
        try:
            self.entries = weight_blobs(self.param, self.weights)
        except EdgecvError as exc:
            raise ConversionError(f"cannot quantise {self.param.name}: {exc}") from None
        self.network = network_of(self.entries)
        self.method = dict(METHOD)
        self._engine = create_engine("ncnn", [self.param, self.weights], threads=threads)
        self.input_scales = self._activation_scales(samples)

    def _activation_scales(self, samples: Sequence[Dict[str, np.ndarray]]) -> Dict[str, float]:
        """layer name -> scale of its input blob: 127 / the largest |value| over the calibration inputs."""
        blobs = {la.name: la.inputs[0] for la in self.network.weighted}
        names = sorted(set(blobs.values()))
        absmax = dict.fromkeys(names, 0.0)
        for feeds in samples:
            values = dict(self._engine.probe(feeds, names))
            values.update({n: v for n, v in feeds.items() if n in absmax})  # network inputs are fed, not computed
            for name, value in values.items():
                absmax[name] = max(absmax[name], float(np.abs(value).max()))
        return {layer: 127.0 / absmax[blob] if absmax[blob] > 0 else 1.0 for layer, blob in blobs.items()}

    def build(self, keep_fp32: Sequence[str], target: Path) -> List[Path]:
        """Write ``target`` (``.param``) and its ``.bin`` with the layers in ``keep_fp32`` left in fp32."""
        keep = set(keep_fp32)
        chosen = {la.name for la in self.network.weighted if la.name not in keep}
        data = self.weights.read_bytes()
        out = bytearray()
        terms: Dict[str, int] = {}
        for layer, blobs in self.entries:
            if layer.name not in chosen:
                for b in blobs:
                    out += data[b.start:b.end]
                continue
            weights = np.frombuffer(data, np.float32, blobs[0].count, blobs[0].start + 4)
            groups = layer.int(7, 1) if layer.kind == "ConvolutionDepthWise" else layer.int(0)
            rows = weights.reshape(groups, -1)
            absmax = np.abs(rows).max(axis=1)
            w_scales = np.where(absmax > 0, 127.0 / np.where(absmax > 0, absmax, 1.0), 1.0).astype(np.float32)
            q = np.clip(round_away(rows * w_scales[:, None]), -127, 127).astype(np.int8).reshape(-1)
            out += struct.pack("<I", TAG_INT8) + q.tobytes() + b"\0" * (-q.size % 4)
            for b in blobs[1:]:  # bias (fp32, raw)
                out += data[b.start:b.end]
            out += w_scales.tobytes() + np.float32(self.input_scales[layer.name]).tobytes()
            terms[layer.name] = SCALE_TERM[layer.kind]
        param = target.with_suffix(".param")
        weights_path = target.with_suffix(".bin")
        param.write_text(_set_scale_terms(self.param.read_text(), terms))
        weights_path.write_bytes(bytes(out))
        return [param, weights_path]


def _set_scale_terms(text: str, terms: Dict[str, int]) -> str:
    """The .param text with ``8=<term>`` on the layers named in ``terms``."""
    lines = text.splitlines()
    out = lines[:2]
    for line in lines[2:]:
        tokens = line.split()
        if len(tokens) >= 2 and tokens[1] in terms:
            tokens = [t for t in tokens if not t.startswith("8=")] + [f"8={terms[tokens[1]]}"]
            line = " ".join(tokens)
        out.append(line)
    return "\n".join(out) + "\n"
