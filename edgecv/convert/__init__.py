"""Model conversion: make every model speak one contract, on every engine.

``convert()`` renames ONNX outputs by role (the task's ``roles`` in the registry: SCRFD ``score_8``…,
OpenPose ``heatmaps``/``pafs``), optionally fixes a dynamic input size, converts to ncnn (pnnx) and MNN,
rewrites ncnn blob names back to the canonical names, and writes metadata (``<stem>.edgecv.json`` beside
the files and ``metadata_props["edgecv"]`` inside the ONNX) so ``edgecv.load(path)`` needs no manifest.

Everything is written into a staging folder first and checked (each file loads on its engine and the
task accepts it); only then are the files moved into ``out_dir``, the metadata last. A failed or killed
conversion leaves no file that ``load`` would accept and never half-overwrites an earlier result.
"""

from .converter import ConversionResult, check_stem, convert, parse_renames
from .quantize import PRECISIONS, QuantizationResult, quantize

__all__ = ["convert", "ConversionResult", "parse_renames", "check_stem", "quantize", "QuantizationResult", "PRECISIONS"]
