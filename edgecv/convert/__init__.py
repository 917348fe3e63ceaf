"""Model conversion: make every model speak one contract, on every engine.

``convert()`` renames ONNX outputs by role (SCRFD ``score_8``…, OpenPose ``heatmaps``/``pafs``),
optionally fixes a dynamic input size, converts to ncnn (pnnx) and MNN, rewrites ncnn blob names
back to the canonical names, and writes metadata (``<stem>.edgecv.json`` beside the files and
``metadata_props["edgecv"]`` inside the ONNX) so ``edgecv.load(path)`` needs no manifest.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import __version__
from ..contracts import default_input
from ..errors import ConversionError, InvalidInputError, ModelNotFoundError
from ..hub import sha256_file
from ..loading import metadata_path
from ..tasks.base import SizeLike, parse_size
from . import mnn_tools, ncnn_tools, onnx_graph
from .roles import TASK_ROLES, RolePlan

log = logging.getLogger(__name__)
TARGETS = ("onnx", "ncnn", "mnn")
ENGINE_OF_TARGET = {"onnx": "onnxruntime", "ncnn": "ncnn", "mnn": "mnn"}


@dataclass
class ConversionResult:
    """What ``convert`` wrote: model files per engine and the metadata file."""

    files: Dict[str, List[Path]] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    metadata_file: Optional[Path] = None


def _package_version(name: str) -> Optional[str]:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return None


def parse_renames(items: Sequence[str]) -> Dict[str, str]:
    """``["old=new", ...]`` -> {old: new}."""
    out = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise InvalidInputError(f"--rename expects old=new, got {item!r}")
        out[old] = new
    return out


def convert(model: Path, task: Optional[str] = None, *, out_dir: Path = Path("."),
            to: Sequence[str] = TARGETS, input_size: SizeLike = None, fp16: bool = False,
            rename: Optional[Dict[str, str]] = None, name: Optional[str] = None) -> ConversionResult:
    """Convert an ONNX model; see the module docstring. ``input_size`` is N or (H, W).

    ``task``: ``scrfd``/``openpose`` infer output roles (one image input); other tasks (``mvs``)
    and None keep the names (plus ``rename``). Multi-input models need static input shapes."""
    from ..tasks import TASKS

    src = Path(model)
    if not src.is_file():
        raise ModelNotFoundError(f"model file not found: {src}")
    if task is not None and task not in TASKS:
        raise InvalidInputError(f"unknown task '{task}'; choose one of {sorted(TASKS)}")
    unknown = [t for t in to if t not in TARGETS]
    if unknown or not to:
        raise InvalidInputError(f"unknown target(s) {unknown}; choose from {list(TARGETS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    requested = parse_size(input_size)
    stem = name or (src.stem + (f"_{requested[0]}x{requested[1]}" if requested else ""))

    graph = onnx_graph.load(src)
    inputs = onnx_graph.graph_inputs(graph)
    meta_input: Dict[str, object] = {}
    plan = RolePlan()
    if task in TASK_ROLES or requested or len(inputs) == 1:
        image_input = onnx_graph.single_input(graph)
        dims = onnx_graph.input_dims(image_input)
        static = (dims[2], dims[3]) if len(dims) == 4 and dims[2] and dims[3] else None
        if requested:
            onnx_graph.set_input_size(graph, requested)
        size = requested or static or tuple(default_input(task or "").get("size", ())) or None
        if size is None:
            raise InvalidInputError("the model's input size is dynamic: give input_size (--input-size HxW)")
        size = (int(size[0]), int(size[1]))
        input_shapes = {image_input.name: (1, dims[1] or 3, *size)}
        if task in TASK_ROLES:
            shapes = onnx_graph.output_shapes(graph, size)
            if requested:
                onnx_graph.set_output_shapes(graph, shapes)
            plan = _plan(task, graph, shapes, size)
        meta_input = {**default_input(task or ""), "name": image_input.name, "size": list(size),
                      "dynamic": not (requested or static)}
    else:
        input_shapes = {i.name: tuple(onnx_graph.input_dims(i)) for i in inputs}
        dynamic = [n for n, d in input_shapes.items() if None in d]
        if dynamic:
            raise ConversionError(f"inputs {dynamic} have dynamic shapes; multi-input models need static ones")
    plan.renames.update(rename or {})
    onnx_graph.rename_tensors(graph, plan.renames)
    onnx_graph.split_channels(graph, plan.splits)

    meta = {
        "name": stem,
        "task": task or "",
        "input": meta_input,
        "inputs": {n: list(d) for n, d in input_shapes.items()},
        "outputs": {**plan.outputs, "names": list(onnx_graph.output_names(graph))},
        "renamed": plan.renames,
        "source": {"file": src.name, "sha256": sha256_file(src)},
        "fp16": bool(fp16),
        "tools": {"edgecv": __version__, "onnx": _package_version("onnx"),
                  "pnnx": ncnn_tools.pnnx_version() if "ncnn" in to else None,
                  "MNN": mnn_tools.mnn_version() if "mnn" in to else None},
    }
    onnx_graph.set_metadata(graph, meta)

    result = ConversionResult(metadata=meta)
    with tempfile.TemporaryDirectory(prefix="edgecv-convert-") as tmp:
        onnx_path = (out_dir if "onnx" in to else Path(tmp)) / f"{stem}.onnx"
        if onnx_path.resolve() == src.resolve():
            raise InvalidInputError(f"refusing to overwrite the source model {src}; choose another name or out_dir")
        onnx_graph.save(graph, onnx_path)
        if "onnx" in to:
            result.files["onnxruntime"] = [onnx_path]
        if "ncnn" in to:
            result.files["ncnn"] = _to_ncnn(onnx_path, out_dir / stem, input_shapes,
                                            list(onnx_graph.output_names(graph)), fp16)
        if "mnn" in to:
            target = out_dir / f"{stem}.mnn"
            mnn_tools.run_mnnconvert(onnx_path, target, fp16)
            result.files["mnn"] = [target]
    meta["files"] = {eng: [{"name": p.name, "sha256": sha256_file(p)} for p in paths]
                     for eng, paths in result.files.items()}
    result.metadata_file = metadata_path(out_dir / f"{stem}.onnx")
    result.metadata_file.write_text(json.dumps(meta, indent=2) + "\n")
    return result


def _plan(task: Optional[str], graph, shapes, size: Tuple[int, int]) -> RolePlan:
    if task == "scrfd":
        return TASK_ROLES["scrfd"](shapes, size, onnx_graph.sigmoid_outputs(graph))
    if task is not None:
        return TASK_ROLES[task](shapes)
    return RolePlan()


def _to_ncnn(onnx_path: Path, target_stem: Path, input_shapes: Dict[str, Tuple[int, ...]],
             output_names: List[str], fp16: bool) -> List[Path]:
    """pnnx, then blob names in0/out0... rewritten to the ONNX names. pnnx numbers inputs and outputs
    in ONNX order; with one input the output mapping is also checked numerically."""
    param_text, weights = ncnn_tools.run_pnnx(onnx_path, list(input_shapes.values()), fp16)
    ins, outs = ncnn_tools.pnnx_blob_names(param_text)
    if len(ins) != len(input_shapes) or len(outs) != len(output_names):
        raise ConversionError(f"pnnx produced inputs {ins} and outputs {outs}; the model has inputs "
                              f"{list(input_shapes)} and outputs {output_names}")
    renames = dict(zip(ins, input_shapes))
    if len(input_shapes) == 1:
        (input_name, shape), = input_shapes.items()
        renames.update(_match_ncnn_outputs(onnx_path, param_text, weights, input_name, shape, outs))
    else:
        renames.update(zip(outs, output_names))
    param, bin_path = target_stem.with_suffix(".param"), target_stem.with_suffix(".bin")
    param.write_text(ncnn_tools.rename_blobs(param_text, renames))
    bin_path.write_bytes(weights)
    return [param, bin_path]


def _match_ncnn_outputs(onnx_path: Path, param_text: str, weights: bytes, input_name: str,
                        input_shape: Tuple[int, ...], outs: List[str]) -> Dict[str, str]:
    """Which ONNX output each pnnx output (out0...) is, by running both on one random input."""
    from ..engines import create_engine

    with tempfile.TemporaryDirectory(prefix="edgecv-match-") as tmp:
        param, bin_path = Path(tmp) / "m.param", Path(tmp) / "m.bin"
        param.write_text(param_text)
        bin_path.write_bytes(weights)
        x = np.random.default_rng(0).uniform(-1, 1, input_shape).astype(np.float32)
        reference = create_engine("onnxruntime", [onnx_path]).run({input_name: x})
        ncnn_out = create_engine("ncnn", [param, bin_path]).run({ncnn_tools.pnnx_blob_names(param_text)[0][0]: x}, outs)
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


__all__ = ["convert", "ConversionResult", "parse_renames", "TARGETS"]
