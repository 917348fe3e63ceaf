"""Model metadata: what a manifest, a ``<stem>.edgecv.json`` sidecar or the ``edgecv`` entry of an ONNX
file's ``metadata_props`` says about a model (task, input contract, outputs, files), checked against one
JSON schema before anything uses it. Every field is typed and bounded; an error names the field."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from ..errors import ModelContractError
from ..targets import target_for_file

#: Suffix of the metadata file beside a model file.
METADATA_SUFFIX = ".edgecv.json"
#: Key of the edgecv metadata inside ONNX ``metadata_props``.
METADATA_KEY = "edgecv"
#: Largest metadata document read (a sidecar is a few kB).
MAX_METADATA_BYTES = 1 << 20
#: Largest side of a network input any metadata may declare (pixels).
MAX_SIDE = 8192

_NAME = {"type": "string", "minLength": 1, "maxLength": 256}
_SHA256 = {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}
_FILE_NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[^/\\]+$", "not": {"enum": [".", ".."]}}
_SIDE = {"type": "integer", "minimum": 1, "maximum": MAX_SIDE}
_DIM = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 1 << 16}, {"type": "null"}]}
_PIXEL = {"type": "number", "minimum": -1e4, "maximum": 1e4}
_STD = {"type": "number", "exclusiveMinimum": 1e-6, "maximum": 1e4}

#: A model's licence: an SPDX id or a short phrase such as "non-commercial research only".
LICENCE_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 200}
#: Words that mark a licence as excluding commercial use (edgecv says so when such a model is loaded).
NON_COMMERCIAL = ("non-commercial", "noncommercial", "research only", "cc-by-nc")


def non_commercial(licence: str) -> bool:
    """Whether a licence text excludes commercial use."""
    text = (licence or "").lower()
    return any(word in text for word in NON_COMMERCIAL)


INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "name": _NAME,
        "layout": {"enum": ["NCHW"]},
        "color": {"enum": ["RGB", "BGR", "rgb", "bgr"]},
        "mean": {"type": "array", "items": _PIXEL, "minItems": 3, "maxItems": 3},
        "std": {"type": "array", "items": _STD, "minItems": 3, "maxItems": 3},
        "size": {"type": "array", "items": _SIDE, "minItems": 2, "maxItems": 2},
        "dynamic": {"type": "boolean"},
    },
}

OUTPUTS_SCHEMA = {
    "type": "object",
    "properties": {
        "names": {"type": "array", "items": _NAME, "maxItems": 4096},
        "strides": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 1024},
                    "minItems": 1, "maxItems": 16, "uniqueItems": True},
        "num_anchors": {"type": "integer", "minimum": 1, "maximum": 16},
        "landmarks": {"type": "boolean"},
        "stride": {"type": "integer", "minimum": 1, "maximum": 64},
        "layout": {"type": "string", "maxLength": 64},
    },
}

FILES_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": "^[a-z0-9_]{1,32}$"},
    "additionalProperties": {
        "type": "array", "minItems": 1, "maxItems": 8,
        "items": {"type": "object", "required": ["name", "sha256"],
                  "properties": {"name": _FILE_NAME, "sha256": _SHA256}},
    },
}

METADATA_SCHEMA = {
    "type": "object",
    "properties": {
        "name": _NAME,
        "task": {"type": "string", "pattern": "^[a-z0-9_]{0,32}$"},
        "input": INPUT_SCHEMA,
        "inputs": {"type": "object", "maxProperties": 64,
                   "additionalProperties": {"type": "array", "items": _DIM, "minItems": 1, "maxItems": 8}},
        "outputs": OUTPUTS_SCHEMA,
        "renamed": {"type": "object", "additionalProperties": _NAME},
        "source": {"type": "object", "properties": {"file": {"type": "string", "maxLength": 1024}, "sha256": _SHA256}},
        "fp16": {"type": "boolean"},
        "precision": {"enum": ["fp32", "fp16", "int8"]},
        "tools": {"type": "object"},
        "files": FILES_SCHEMA,
        "quantization": {"type": "object"},
        "licence": LICENCE_SCHEMA,
        "origin": {"type": "string", "maxLength": 1024},
    },
}


@dataclass(frozen=True)
class ModelConfig:
    """A model's contract, from its manifest, its ``.edgecv.json`` sidecar or its ONNX metadata.

    ``input``: ``name``, ``size`` [H, W], ``color`` ("RGB"/"BGR"), ``mean``, ``std`` (per channel, in
    pixel units), ``dynamic``. ``outputs``: task-specific (e.g. SCRFD ``strides``, ``num_anchors``).
    ``input_shapes``: static shape of each input as the converter recorded it (ncnn reports none).
    """

    name: str = ""
    task: str = ""
    input: Dict[str, Any] = field(default_factory=dict)
    outputs: Dict[str, Any] = field(default_factory=dict)
    #: weights stored in half precision
    fp16: bool = False
    input_shapes: Dict[str, Any] = field(default_factory=dict)
    #: "fp32", "fp16" or "int8"
    precision: str = "fp32"
    #: the whole checked document
    raw: Dict[str, Any] = field(default_factory=dict)
    #: the weights' licence (SPDX id or short phrase; "" when unknown) and where the model comes from
    licence: str = ""
    origin: str = ""


def _field_path(error) -> str:
    parts: List[str] = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "(top level)"


def _finite(value: Any, where: str) -> None:
    """JSON allows NaN/Infinity in Python's reader; metadata never may."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ModelContractError(f"{where}: non-finite number {value}")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite(v, f"{where}[{i}]")


def check_metadata(doc: Any, origin: str) -> Dict[str, Any]:
    """Check a metadata document against the schema; ModelContractError naming the field otherwise."""
    import jsonschema

    if not isinstance(doc, dict):
        raise ModelContractError(f"{origin}: metadata must be a JSON object, got {type(doc).__name__}")
    _finite(doc, origin)
    validator = jsonschema.Draft202012Validator(METADATA_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
        raise ModelContractError(f"{origin}: bad metadata field '{_field_path(error)}': {message}")
    return doc


def config_from_dict(doc: Mapping[str, Any], default_name: str = "") -> ModelConfig:
    """A ModelConfig from a checked metadata document."""
    precision = doc.get("precision") or ("fp16" if doc.get("fp16") else "fp32")
    return ModelConfig(name=doc.get("name") or default_name, task=doc.get("task", ""),
                       input=dict(doc.get("input", {})), outputs=dict(doc.get("outputs", {})),
                       fp16=bool(doc.get("fp16")) or precision == "fp16", input_shapes=dict(doc.get("inputs", {})),
                       precision=precision, raw=dict(doc), licence=doc.get("licence", ""), origin=doc.get("origin", ""))


def parse_metadata(text: str, origin: str, default_name: str = "") -> ModelConfig:
    """Parse and check metadata JSON text."""
    if len(text) > MAX_METADATA_BYTES:
        raise ModelContractError(f"{origin}: metadata is larger than {MAX_METADATA_BYTES} bytes")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ModelContractError(f"{origin}: metadata is not valid JSON ({str(exc)[:120]})") from None
    return config_from_dict(check_metadata(doc, origin), default_name)


def embedded_config(props: Mapping[str, str], origin: str, default_name: str = "") -> Optional[ModelConfig]:
    """The checked edgecv entry of a model's key/value metadata (ONNX ``metadata_props``), or None."""
    text = props.get(METADATA_KEY)
    return parse_metadata(text, f"{origin} (embedded metadata)", default_name) if text else None


def metadata_path(model_file: Path) -> Path:
    """``<dir>/<stem>.edgecv.json`` beside a model file (``x.opt.param`` -> ``x.opt.edgecv.json``; an engine's infix
    is not part of the stem: ``x.ov.xml`` -> ``x.edgecv.json``)."""
    stem = Path(model_file).stem
    target = target_for_file(model_file)
    if target is not None and target.infix and stem.endswith(target.infix):
        stem = stem[: -len(target.infix)]
    return Path(model_file).with_name(stem + METADATA_SUFFIX)


def read_sidecar(model_file: Path) -> Optional[ModelConfig]:
    """The checked sidecar beside ``model_file``, or None when there is none."""
    meta = metadata_path(model_file)
    if not meta.is_file():
        return None
    try:
        data = meta.read_bytes()[: MAX_METADATA_BYTES + 1]
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelContractError(f"{meta}: unreadable metadata ({exc})") from None
    return parse_metadata(text, str(meta), Path(model_file).stem)


def dumps(doc: Mapping[str, Any]) -> str:
    """Metadata as the JSON text edgecv writes (sorted keys are not used: fields keep their order)."""
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
