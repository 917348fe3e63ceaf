"""The one table of inference engines (and conversion targets): names, file suffixes, pip extras,
converters and capabilities. Engines, the converter, the model store and the CLI all read it.

Adding an engine means one row here and one adapter module in ``edgecv/engines/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

from .errors import InvalidInputError


@dataclass(frozen=True)
class Target:
    """One inference engine and the model files it runs."""

    #: engine name used everywhere (``edgecv.load(engine=...)``, ``convert --to``, manifests)
    name: str
    #: other names accepted on input (``convert --to onnx``)
    aliases: Tuple[str, ...]
    #: suffix of the model file the engine loads (the file a user passes to ``edgecv.load``)
    suffix: str
    #: suffixes of files that must sit beside the model file (ncnn weights)
    companions: Tuple[str, ...]
    #: Python module imported to run the engine
    module: str
    #: pip distribution of that module (for versions)
    distribution: str
    #: pip extra of edgecv that installs it
    extra: str
    #: how edgecv writes this engine's files from an ONNX model
    converter: str
    #: whether ``fp16=True`` is honoured at run time (half-precision storage/arithmetic)
    fp16: bool
    #: ``module:Class`` of the adapter in edgecv.engines
    adapter: str


TARGETS: Dict[str, Target] = {t.name: t for t in (
    Target("onnxruntime", ("onnx", "ort"), ".onnx", (), "onnxruntime", "onnxruntime", "onnxruntime",
           "ONNX graph edits (onnx)", False, "edgecv.engines.onnxruntime_engine:OnnxRuntimeEngine"),
    Target("ncnn", (), ".param", (".bin",), "ncnn", "ncnn", "ncnn",
           "pnnx binary (pip install --no-deps pnnx)", True, "edgecv.engines.ncnn_engine:NcnnEngine"),
    Target("mnn", (), ".mnn", (), "MNN", "MNN", "mnn",
           "MNN converter from the MNN wheel", True, "edgecv.engines.mnn_engine:MnnEngine"),
)}

#: Engine names in table order.
ENGINE_NAMES: Tuple[str, ...] = tuple(TARGETS)


def get_target(name: str) -> Target:
    """The target named ``name`` (or one of its aliases); InvalidInputError otherwise."""
    if isinstance(name, str):
        key = name.strip().lower()
        for t in TARGETS.values():
            if key == t.name or key in t.aliases:
                return t
    raise InvalidInputError(f"unknown engine {name!r}; choose one of {list(ENGINE_NAMES)}")


def target_for_file(path: Union[str, Path]) -> Optional[Target]:
    """The target whose model file has this suffix (``.onnx``, ``.param``, ``.mnn``), or None."""
    suffix = Path(path).suffix.lower()
    return next((t for t in TARGETS.values() if t.suffix == suffix), None)


def parse_targets(text: Union[str, Tuple[str, ...], list]) -> Tuple[str, ...]:
    """``"onnx,ncnn"`` or a sequence -> canonical engine names, in the order given, without repeats."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [get_target(i).name for i in items if str(i).strip()]
    if not names:
        raise InvalidInputError(f"no engine given; choose from {list(ENGINE_NAMES)}")
    return tuple(dict.fromkeys(names))
