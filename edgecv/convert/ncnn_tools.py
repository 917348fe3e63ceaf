"""ONNX -> ncnn with the pnnx converter binary (from the `pnnx` wheel, installed with --no-deps)."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..errors import ConversionError, ConverterNotFoundError
from ..targets import REFERENCE

log = logging.getLogger(__name__)
ENV_PNNX = "EDGECV_PNNX"


def find_pnnx() -> Path:
    """The pnnx binary: ``$EDGECV_PNNX``, else ``site-packages/pnnx/pnnx`` of the pnnx wheel."""
    override = os.environ.get(ENV_PNNX)
    if override:
        if not Path(override).is_file():
            raise ConverterNotFoundError(f"{ENV_PNNX}={override} is not a file")
        return Path(override)
    try:
        spec = importlib.util.find_spec("pnnx")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            for name in ("pnnx", "pnnx.exe"):
                candidate = Path(folder) / name
                if candidate.is_file():
                    return candidate
    raise ConverterNotFoundError(
        "the pnnx converter binary was not found: install the 'pnnx' package without its torch "
        "dependency: pip install --no-deps pnnx (or set EDGECV_PNNX to the binary)")


def run_pnnx(onnx_path: Path, input_shapes: Sequence[Sequence[int]], fp16: bool) -> Tuple[str, bytes]:
    """Convert; returns (ncnn .param text, .bin bytes) with pnnx's blob names (in0.., out0..).
    ``input_shapes``: one static shape per model input, in ONNX input order."""
    binary = find_pnnx()
    with tempfile.TemporaryDirectory(prefix="edgecv-pnnx-") as tmp:
        model = Path(tmp) / "model.onnx"
        shutil.copyfile(onnx_path, model)
        shapes = ",".join("[" + ",".join(str(int(v)) for v in shape) + "]" for shape in input_shapes)
        cmd = [str(binary), model.name, f"inputshape={shapes}", f"fp16={1 if fp16 else 0}"]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=1800)
        param, weights = Path(tmp) / "model.ncnn.param", Path(tmp) / "model.ncnn.bin"
        if proc.returncode != 0 or not param.is_file() or not weights.is_file():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise ConversionError(f"pnnx failed on {onnx_path} (exit {proc.returncode}):\n{tail}")
        log.debug("pnnx output:\n%s", proc.stdout)
        return param.read_text(), weights.read_bytes()


def rename_blobs(param_text: str, renames: Dict[str, str]) -> str:
    """Rename blobs (and Input layers named like their blob) in an ncnn .param text."""
    lines = param_text.splitlines()
    if not lines or lines[0].strip() != "7767517":
        raise ConversionError("not an ncnn param file (bad magic)")
    out = lines[:2]
    for line in lines[2:]:
        tokens = line.split()
        if len(tokens) < 4:
            out.append(line)
            continue
        n_in, n_out = int(tokens[2]), int(tokens[3])
        blobs = slice(4, 4 + n_in + n_out)
        tokens[blobs] = [renames.get(b, b) for b in tokens[blobs]]
        if tokens[0] == "Input" and tokens[1] in renames:
            tokens[1] = renames[tokens[1]]
        out.append(" ".join(tokens))
    return "\n".join(out) + "\n"


def pnnx_blob_names(param_text: str) -> Tuple[List[str], List[str]]:
    """(inputs in0.., outputs out0..) as they appear in a pnnx-written .param, in index order."""
    ins, outs = set(), set()
    for line in param_text.splitlines()[2:]:
        for tok in line.split()[4:]:
            if "=" in tok:
                continue
            if tok.startswith("in") and tok[2:].isdigit():
                ins.add(tok)
            elif tok.startswith("out") and tok[3:].isdigit():
                outs.add(tok)
    key = lambda t: int(t.lstrip("inout"))
    return sorted(ins, key=key), sorted(outs, key=key)


def require_tools() -> None:
    """The pnnx binary is there (ConverterNotFoundError naming how to install it otherwise)."""
    find_pnnx()


def write_files(onnx_path: Path, files: Sequence[Path], input_shapes: Dict[str, Tuple[int, ...]],
                output_names: List[str], fp16: bool) -> List[Path]:
    """The ``.param`` and ``.bin`` (``files``) of ``onnx_path``: pnnx, then blob names in0/out0... rewritten to the
    ONNX names. pnnx numbers inputs and outputs in ONNX order; with one input the output mapping is also checked
    numerically."""
    param_text, weights = run_pnnx(onnx_path, list(input_shapes.values()), fp16)
    ins, outs = pnnx_blob_names(param_text)
    if len(ins) != len(input_shapes) or len(outs) != len(output_names):
        raise ConversionError(f"pnnx produced inputs {ins} and outputs {outs}; the model has inputs "
                              f"{list(input_shapes)} and outputs {output_names}")
    renames = dict(zip(ins, input_shapes))
    if len(input_shapes) == 1:
        (input_name, shape), = input_shapes.items()
        renames.update(_match_outputs(onnx_path, param_text, weights, input_name, shape, outs))
    else:
        renames.update(zip(outs, output_names))
    param, bin_path = files
    param.write_text(rename_blobs(param_text, renames))
    bin_path.write_bytes(weights)
    return [param, bin_path]


def _match_outputs(onnx_path: Path, param_text: str, weights: bytes, input_name: str,
                        input_shape: Tuple[int, ...], outs: List[str]) -> Dict[str, str]:
    """Which ONNX output each pnnx output (out0...) is, by running both on one random input."""
    from ..engines import create_engine

    with tempfile.TemporaryDirectory(prefix="edgecv-match-") as tmp:
        param, bin_path = Path(tmp) / "m.param", Path(tmp) / "m.bin"
        param.write_text(param_text)
        bin_path.write_bytes(weights)
        x = np.random.default_rng(0).uniform(-1, 1, input_shape).astype(np.float32)
        reference = create_engine(REFERENCE, [onnx_path]).run({input_name: x})
        ncnn_out = create_engine("ncnn", [param, bin_path]).run({pnnx_blob_names(param_text)[0][0]: x}, outs)
    mapping: Dict[str, str] = {}
    for blob, value in ncnn_out.items():
        candidates = [(float(np.abs(ref.reshape(-1) - value.reshape(-1)).max()), name)
                      for name, ref in reference.items() if ref.size == value.size and name not in mapping.values()]
        if not candidates:
            raise ConversionError(f"ncnn output {blob} {value.shape} matches no ONNX output")
        diff, name = min(candidates)
        scale = max(1.0, float(np.abs(reference[name]).max()))
        if diff > 0.05 * scale:
            raise ConversionError(f"ncnn output {blob} differs from ONNX output '{name}' by {diff:.3g}")
        mapping[blob] = name
    return mapping
