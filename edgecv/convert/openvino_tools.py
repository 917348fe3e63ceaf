"""ONNX -> OpenVINO IR (``<stem>.ov.xml`` + ``<stem>.ov.bin``) with OpenVINO's own model converter.

OpenVINO reads ONNX files directly; the IR is what ``edgecv convert --to openvino`` and ``edgecv quantize`` write:
it loads faster, and fp16 files keep their weights in half precision (``compress_to_fp16``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from ..errors import ConversionError, ConverterNotFoundError


def require_tools() -> None:
    """ConverterNotFoundError naming the extra when OpenVINO is not installed."""
    try:
        import openvino  # noqa: F401
    except ImportError as exc:
        raise ConverterNotFoundError("OpenVINO is not installed: pip install 'edgecv[openvino]'") from exc


def write_files(onnx_path: Path, files: Sequence[Path], input_shapes: Dict[str, Tuple[int, ...]],
                output_names: List[str], fp16: bool) -> List[Path]:
    """The IR (``files``: the ``.xml``, then its ``.bin``) of ``onnx_path``; fp16 weights with ``fp16``."""
    require_tools()
    import openvino as ov

    xml, weights = files
    try:
        model = ov.convert_model(str(onnx_path))
        ov.save_model(model, str(xml), compress_to_fp16=bool(fp16))
    except Exception as exc:  # OpenVINO raises its own exception types with long texts
        raise ConversionError(f"OpenVINO cannot convert {onnx_path.name}: {' '.join(str(exc).split())[:300]}") from exc
    if not xml.is_file() or not weights.is_file():
        raise ConversionError(f"OpenVINO wrote no {xml.name} / {weights.name}")
    return [xml, weights]
