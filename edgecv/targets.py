"""The one table of inference engines: names, files, pip extras, converter and quantiser hooks, capabilities.

The engines, the converter, the quantiser, ``bench``, the model store, the CLI's choices, ``edgecv info``, the docs
tables and the tests' engine list all read it. **Adding an engine is one row here and one adapter module in
``edgecv/engines/``** (plus, when the engine has its own file format, a converter module, and when it can run
INT8, a quantiser module, both named by the row); nothing outside ``edgecv/engines/`` and this table tests an
engine's name.

Hooks are ``"module:attribute"`` strings, imported only when used, so this table imports nothing above it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .errors import InvalidInputError, PrecisionNotSupportedError


@dataclass(frozen=True)
class Target:
    """One inference engine and the model files it runs."""

    #: engine name used everywhere (``edgecv.load(engine=...)``, ``convert --to``, manifests)
    name: str
    #: ``module:Class`` of the adapter in edgecv.engines
    adapter: str
    #: suffix of the model file the engine loads (the file a user passes to ``edgecv.load``)
    suffix: str
    #: suffixes of files that sit beside the model file (ncnn and OpenVINO weights), same stem
    companions: Tuple[str, ...] = ()
    #: put between the stem and the suffixes of files edgecv writes, where another engine's files could take the
    #: same names (OpenVINO's ``.bin`` beside ncnn's): ``<stem><infix><suffix>``
    infix: str = ""
    #: other names accepted on input (``convert --to onnx``, ``--engine ov``)
    aliases: Tuple[str, ...] = ()
    #: Python module imported to run the engine, its pip distribution, and the edgecv extra installing it
    module: str = ""
    distribution: str = ""
    extra: str = ""
    #: the engine loads fp32 ONNX files directly (a model name runs on its ONNX file, no conversion)
    reads_onnx: bool = False
    #: ``module`` with ``require_tools()`` and ``write_files(onnx, stem, input_shapes, output_names, fp16)``
    #: writing this engine's own files from an ONNX file; "" when the ONNX file is the engine's file
    converter: str = ""
    #: how those files are written (``edgecv info``, docs)
    converter_label: str = "the ONNX file itself"
    #: pip distribution of the converter tool, recorded in the metadata of converted files
    converter_distribution: Optional[str] = None
    #: ``module:Class`` of the INT8 quantiser (``edgecv.convert.quantize``); "" when the engine has none
    quantizer: str = ""
    #: whether ``fp16=True`` is honoured at run time (half-precision storage/arithmetic where the CPU has it)
    fp16: bool = False
    #: concurrent ``run`` calls on one loaded model need no lock (False: edgecv serialises them)
    reentrant: bool = True

    def files_for(self, folder: Union[str, Path], stem: str) -> List[Path]:
        """The files of model ``stem`` for this engine in ``folder``: the main file first, then companions."""
        base = Path(folder) / f"{stem}{self.infix}"
        return [Path(f"{base}{self.suffix}")] + [Path(f"{base}{c}") for c in self.companions]

    def companions_of(self, main: Union[str, Path]) -> List[Path]:
        """The main file and its companions, given the main file's path."""
        main = Path(main)
        return [main] + [main.with_suffix(c) for c in self.companions]

    def hook(self, field_name: str) -> Any:
        """The object a hook field names (``converter`` -> its module, ``quantizer`` -> its class)."""
        spec = getattr(self, field_name)
        if not spec:
            raise InvalidInputError(f"{self.name} has no {field_name}")
        module, _, attr = spec.partition(":")
        loaded = importlib.import_module(module)
        return getattr(loaded, attr) if attr else loaded

    def quantizer_class(self, precision: str = "int8") -> Any:
        """The INT8 quantiser class; PrecisionNotSupportedError when this engine has none."""
        if not self.quantizer:
            able = [t.name for t in TARGETS.values() if t.quantizer]
            raise PrecisionNotSupportedError(f"{self.name} has no {precision} quantiser in edgecv; engines with one: "
                                             f"{', '.join(able)}")
        return self.hook("quantizer")


TARGETS: Dict[str, Target] = {t.name: t for t in (
    Target("onnxruntime", "edgecv.engines.onnxruntime_engine:OnnxRuntimeEngine", ".onnx", aliases=("onnx", "ort"),
           module="onnxruntime", distribution="onnxruntime", extra="onnxruntime", reads_onnx=True,
           converter_label="ONNX graph edits (onnx)", quantizer="edgecv.convert.ort_int8:OrtInt8"),
    Target("ncnn", "edgecv.engines.ncnn_engine:NcnnEngine", ".param", companions=(".bin",), module="ncnn",
           distribution="ncnn", extra="ncnn", converter="edgecv.convert.ncnn_tools",
           converter_label="pnnx binary (pip install --no-deps pnnx)", converter_distribution="pnnx",
           quantizer="edgecv.convert.ncnn_int8:NcnnInt8", fp16=True),
    Target("mnn", "edgecv.engines.mnn_engine:MnnEngine", ".mnn", module="MNN", distribution="MNN", extra="mnn",
           converter="edgecv.convert.mnn_tools", converter_label="MNN converter from the MNN wheel",
           converter_distribution="MNN", quantizer="edgecv.convert.mnn_int8:MnnInt8", fp16=True, reentrant=False),
    Target("openvino", "edgecv.engines.openvino_engine:OpenVinoEngine", ".xml", companions=(".bin",), infix=".ov",
           aliases=("ov",), module="openvino", distribution="openvino", extra="openvino", reads_onnx=True,
           converter="edgecv.convert.openvino_tools", converter_label="OpenVINO IR (openvino.convert_model)",
           converter_distribution="openvino", quantizer="edgecv.convert.openvino_int8:OpenVinoInt8", fp16=True),
)}

#: Engine names in table order.
ENGINE_NAMES: Tuple[str, ...] = tuple(TARGETS)
#: The engine of the fp32 ONNX file: the source every conversion starts from and the reference every other engine
#: and precision is judged against (validate, quantize, bench, eval), and the default engine of model names.
REFERENCE = "onnxruntime"


def get_target(name: str) -> Target:
    """The target named ``name`` (or one of its aliases); InvalidInputError otherwise."""
    if isinstance(name, str):
        key = name.strip().lower()
        for t in TARGETS.values():
            if key == t.name or key in t.aliases:
                return t
    raise InvalidInputError(f"unknown engine {name!r}; choose one of {list(ENGINE_NAMES)}")


def target_for_file(path: Union[str, Path]) -> Optional[Target]:
    """The target whose model file this is (``.onnx``, ``.param``, ``.mnn``...), or None; an ONNX file is ONNX
    Runtime's (other engines that read ONNX load it when asked by name)."""
    suffix = Path(path).suffix.lower()
    return next((t for t in TARGETS.values() if t.suffix == suffix), None)


def engine_for_file(path: Union[str, Path], engine: Optional[str] = None) -> Target:
    """The engine that loads ``path``: ``engine`` when given and able to (its own files, or ONNX for engines that
    read ONNX), else the file's own engine; InvalidInputError for other file types or a mismatch."""
    own = target_for_file(path)
    if own is None:
        suffixes = ", ".join(dict.fromkeys(t.suffix for t in TARGETS.values()))
        raise InvalidInputError(f"{path}: unknown model file type; expected {suffixes}")
    if engine is None:
        return own
    wanted = get_target(engine)
    if wanted.name == own.name or (wanted.reads_onnx and own.suffix == ".onnx"):
        return wanted
    raise InvalidInputError(f"{path} is a {own.name} model, not {wanted.name}")


def check_fp16(engines: Sequence[str]) -> None:
    """PrecisionNotSupportedError naming the engines of ``engines`` that do not run fp16 (load and quantize alike)."""
    refused = [get_target(e).name for e in engines if not get_target(e).fp16]
    if refused:
        able = [t.name for t in TARGETS.values() if t.fp16]
        raise PrecisionNotSupportedError(
            f"{', '.join(refused)} does not run fp16 models on CPUs (its CPU kernels compute in fp32, so fp16 weights "
            f"would be cast back at run time and run slower); fp16 runs on {', '.join(able)}. Use int8 there, or "
            "fp32")


def parse_targets(text: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    """``"onnx,ncnn"`` or a sequence -> canonical engine names, in the order given, without repeats."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [get_target(i).name for i in items if str(i).strip()]
    if not names:
        raise InvalidInputError(f"no engine given; choose from {list(ENGINE_NAMES)}")
    return tuple(dict.fromkeys(names))


__all__ = ["Target", "TARGETS", "ENGINE_NAMES", "REFERENCE", "get_target", "target_for_file", "engine_for_file",
           "parse_targets", "check_fp16"]
