"""ONNX -> MNN with the converter compiled into the MNN package.

The converter is called directly (``_tools.mnnconvert``) in a subprocess: MNN's Python wrapper
script tries to pip-install ``aliyun-log-python-sdk`` (which pins protobuf < 6 and breaks ``onnx``)
and sends usage logs; edgecv avoids both.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from ..errors import ConversionError, ConverterNotFoundError


def _has_converter() -> bool:
    try:
        return importlib.util.find_spec("_tools") is not None and importlib.util.find_spec("MNN") is not None
    except (ImportError, ValueError):
        return False


def require_tools() -> None:
    """ConverterNotFoundError naming the extra when the MNN converter is not installed."""
    if not _has_converter():
        raise ConverterNotFoundError(
            "the MNN converter was not found: install the 'MNN' package: pip install 'edgecv[mnn]'")


def write_files(onnx_path: Path, files: Sequence[Path], input_shapes: Dict[str, Tuple[int, ...]],
                output_names: List[str], fp16: bool) -> List[Path]:
    """The ``.mnn`` file (``files[0]``) of ``onnx_path`` (fp16 weights with ``fp16``)."""
    run_mnnconvert(onnx_path, files[0], fp16)
    return [files[0]]


def run_mnnconvert(onnx_path: Path, target: Path, fp16: bool) -> None:
    require_tools()
    args = ["-f", "ONNX", "--modelFile", str(onnx_path), "--MNNModel", str(target), "--bizCode", "edgecv"]
    if fp16:
        args.append("--fp16")
    code = "import sys, _tools; _tools.mnnconvert(['mnnconvert'] + sys.argv[1:])"
    target.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=1800)
    # The converter's exit code is not reliable: judge by its report and the file it writes.
    if "Converted Success" not in proc.stdout or not target.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ConversionError(f"MNN conversion of {onnx_path} failed:\n{tail}")
