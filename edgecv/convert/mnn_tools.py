"""ONNX -> MNN with the converter compiled into the MNN package.

The converter is called directly (``_tools.mnnconvert``) in a subprocess: MNN's Python wrapper
script tries to pip-install ``aliyun-log-python-sdk`` (which pins protobuf < 6 and breaks ``onnx``)
and sends usage logs; edgecv avoids both.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
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
    stable_uuid(target)


#: A flatbuffer string of 36 bytes holding a random (version 4) UUID: MNN's tools stamp one into every file they write.
_UUID = re.compile(rb"\x24\x00\x00\x00[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def stable_uuid(path: Path) -> None:
    """Replace the random UUID MNN's converter and quantiser stamp into ``path`` by one derived from the rest of the
    file, so that the same inputs give byte-identical files (edgecv's reproducibility promise). The UUID is an
    identifier only; the new one is still unique per model content. A file without exactly one is left alone."""
    data = bytearray(path.read_bytes())
    found = list(_UUID.finditer(data))
    if len(found) != 1:
        return
    start = found[0].start() + 4
    data[start:start + 36] = b"0" * 36
    h = hashlib.sha256(bytes(data)).hexdigest()
    stamp = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}".encode()
    data[start:start + 36] = stamp
    path.write_bytes(bytes(data))
