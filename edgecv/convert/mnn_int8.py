"""INT8 for MNN with the quantiser compiled into the MNN wheel (``_tools.mnnquant``), configured from Python.

The calibration inputs are edgecv's own feeds (the task's preprocessing, any input shape, any number of
inputs), written in the quantiser's "sequence" format: one folder per input with ``<input name>.txt`` and an
``input.json`` of shapes. Layers kept in fp32 are passed as ``skip_quant_op_names`` (MNN op names).

Method (recorded in the model's metadata): weights int8 symmetric per output channel (MAX_ABS), activations
int8 with KL-divergence thresholds ("KL"; of MNN's methods it kept the most faces here: EMA and ADMM lost
more). The wheel's own ``mnnquant`` script is not used: it passes its arguments in a form the compiled tool
does not accept (it aborts with std::length_error), and importing MNN's tool helpers pip-installs
``aliyun-log-python-sdk`` (which pins protobuf < 6 and breaks ``onnx``).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from ..errors import ConversionError
from . import mnn_tools
from .layers import Layer, Network

log = logging.getLogger(__name__)

WEIGHTED_OPS = frozenset({"Convolution", "ConvolutionDepthwise", "Deconvolution", "InnerProduct", "MatMul"})
METHOD = {"format": "MNN int8 (mnnquant)", "weights": "int8 symmetric per output channel (MAX_ABS)",
          "activations": "int8 per tensor", "calibration": "KL"}
TIMEOUT = 3600


def _run_tool(code: str, args: Sequence[str], what: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=TIMEOUT)
    text = proc.stdout + proc.stderr
    if proc.returncode not in (0, 1):  # the tools exit 1 on success; signals and aborts are negative / 134
        raise ConversionError(f"MNN {what} failed (exit {proc.returncode}): "
                              + " ".join(text.strip().splitlines()[-3:])[:300])
    return text


def read_network(path: Path, work: Path) -> Network:
    """An .mnn file's ops (names, types, tensors) from the converter's JSON dump."""
    dump = work / f"{path.stem}.mnn.json"
    _run_tool("import sys, _tools; _tools.mnnconvert(['mnnconvert'] + sys.argv[1:])",
              ["-f", "MNN", "--modelFile", str(path), "--JsonFile", str(dump)], "model dump")
    try:
        doc = json.loads(dump.read_text())
        names = doc["tensorName"]
        layers = []
        for op in doc["oplists"]:
            ins = tuple(names[i] for i in op.get("inputIndexes", []) if 0 <= i < len(names))
            outs = tuple(names[i] for i in op.get("outputIndexes", []) if 0 <= i < len(names))
            layers.append(Layer(op["name"], op["type"], ins, outs, op["type"] in WEIGHTED_OPS))
        inputs = [t for la in layers if la.kind == "Input" for t in la.outputs]
        outputs = list(doc.get("outputName") or [])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ConversionError(f"cannot read the structure of {path.name}: {exc}") from None
    finally:
        dump.unlink(missing_ok=True)
    return Network(layers, inputs, outputs)


class MnnInt8:
    """Quantiser for one fp32 MNN model: calibration inputs written once, then builds."""

    engine = "mnn"
    precision = "int8"

    def __init__(self, fp32_files: Sequence[Path], work: Path, samples: Sequence[Dict[str, np.ndarray]],
                 threads: int = 1) -> None:
        mnn_tools.require_tools()
        self.source = Path(fp32_files[0])
        self.work = work
        self.network = read_network(self.source, work)
        self.method = dict(METHOD)
        self.data = work / "mnn_calibration"
        self.count = len(samples)
        for i, feeds in enumerate(samples):
            folder = self.data / f"{i:05d}"
            folder.mkdir(parents=True)
            for name, value in feeds.items():
                np.ascontiguousarray(value, np.float32).tofile(folder / f"{name}.txt", sep=" ", format="%.7g")
            (folder / "input.json").write_text(json.dumps(
                {"inputs": [{"name": n, "shape": [int(d) for d in v.shape]} for n, v in feeds.items()]}))

    def build(self, keep_fp32: Sequence[str], target: Path) -> List[Path]:
        config = {"path": str(self.data) + "/", "used_sample_num": self.count, "input_type": "sequence",
                  "feature_quantize_method": "KL", "weight_quantize_method": "MAX_ABS",
                  "feature_clamp_value": 127, "weight_clamp_value": 127, "skip_quant_op_names": list(keep_fp32)}
        config_path = self.work / "mnn_quant.json"
        config_path.write_text(json.dumps(config))
        target = target.with_suffix(".mnn")
        target.unlink(missing_ok=True)
        text = _run_tool("import sys, _tools; _tools.mnnquant(['mnnquant'] + sys.argv[1:])",
                         [str(self.source), str(target), str(config_path)], "quantisation")
        if not target.is_file() or target.stat().st_size == 0 or "Quantize model done" not in text:
            raise ConversionError("MNN quantisation wrote no model: " + " ".join(text.strip().splitlines()[-3:])[:300])
        mnn_tools.stable_uuid(target)
        return [target]
