"""ONNX -> every engine, role-named and checked: ``convert()`` (see the package docstring)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union


from ..errors import ConversionError, EdgecvError, InvalidInputError, ModelNotFoundError, OutputWriteError
from ..fileio import remove_stale
from ..store.files import sha256_file
from ..store.metadata import ModelConfig, config_from_dict, dumps, embedded_config, metadata_path, read_sidecar
from ..targets import ENGINE_NAMES, REFERENCE, TARGETS, parse_targets
from ..tasks import IMAGE, GraphFacts, RolePlan, get_task
from ..tasks.spec import size_pair
from ..trust import check_in_child, trusted_by_environment
from ..versions import __version__, package_version
from . import onnx_graph

log = logging.getLogger(__name__)
_STEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


@dataclass
class ConversionResult:
    """What ``convert`` wrote: model files per engine and the metadata file."""

    files: Dict[str, List[Path]] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    metadata_file: Optional[Path] = None


def parse_renames(items: Sequence[str]) -> Dict[str, str]:
    """``["old=new", ...]`` -> {old: new}."""
    out = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise InvalidInputError(f"--rename expects old=new, got {item!r}")
        out[old] = new
    return out


def check_stem(name: str) -> str:
    """An output file stem: letters, digits, ``_.+-``, no path separators (files stay inside ``out_dir``)."""
    if not isinstance(name, str) or not _STEM.match(name) or name.endswith(".edgecv"):
        raise InvalidInputError(f"name must be a plain file stem (letters, digits, _ . + -; no '/'), got {name!r:.60}")
    return name


def convert(model: Union[str, os.PathLike], task: Optional[str] = None, *, out_dir: Union[str, os.PathLike] = ".",
            to: Union[str, Sequence[str]] = ENGINE_NAMES, input_size=None, fp16: bool = False,
            rename: Optional[Dict[str, str]] = None, name: Optional[str] = None, trust: bool = False,
            licence: Optional[str] = None, origin: Optional[str] = None) -> ConversionResult:
    """Convert an ONNX model; see the module docstring. ``input_size`` is N or (H, W); ``to`` names engines of
    :data:`edgecv.targets.TARGETS` (``onnxruntime`` — alias ``onnx`` —, ``ncnn``, ``mnn``...).

    ``task``: image tasks (``scrfd``/``openpose``) infer output roles (one image input); other tasks
    (``mvs``) and None keep the names (plus ``rename``). Multi-input models need static input shapes.
    ``trust``: the source is known (e.g. sha256-verified from a manifest): skip the child-process checks of the
    source and of the files written (``edgecv.trust``); they are still loaded and checked in this process.
    ``licence``/``origin``: the weights' licence and source, written into the metadata (default: what the source's
    own edgecv metadata says), so converted files keep them."""
    src = Path(model)
    if not src.is_file():
        raise ModelNotFoundError(f"model file not found: {src}")
    spec = get_task(task) if task else None
    targets = parse_targets(to)
    requested = None if input_size is None else size_pair(input_size, "input_size", 8, 8192)
    stem = check_stem(name or (src.stem + (f"_{requested[0]}x{requested[1]}" if requested else "")))
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"--out {out_dir} is a file, not a folder")
    finals = {e: TARGETS[e].files_for(out_dir, stem) for e in targets}
    if any(p.resolve() == src.resolve() for paths in finals.values() for p in paths):
        raise InvalidInputError(f"refusing to overwrite the source model {src}; choose another name or out_dir")
    for engine in targets:  # before any work: the tools each target needs
        if TARGETS[engine].converter:
            TARGETS[engine].hook("converter").require_tools()

    trust = trust or trusted_by_environment()
    if not trust:  # the source is a user's file: ONNX Runtime opens it in a child first
        default = (spec.default_input.get("size") if spec else None) or None
        check_in_child(REFERENCE, [src], None, default_size=requested or default)
    graph = onnx_graph.load(src)
    inherited = _source_config(src, graph)
    inputs = onnx_graph.graph_inputs(graph)
    meta_input: Dict[str, object] = {}
    plan = RolePlan()
    image_task = spec is not None and spec.inputs == IMAGE
    if image_task or requested or len(inputs) == 1:
        image_input = onnx_graph.single_input(graph)
        dims = onnx_graph.input_dims(image_input)
        static = (dims[2], dims[3]) if len(dims) == 4 and dims[2] and dims[3] else None
        if requested:
            onnx_graph.set_input_size(graph, requested)
        default = spec.default_input if spec else {}
        size = requested or static or tuple(default.get("size", ())) or None
        if size is None:
            raise InvalidInputError("the model's input size is dynamic: give input_size (--input-size HxW)")
        size = (int(size[0]), int(size[1]))
        input_shapes: Dict[str, Tuple[int, ...]] = {image_input.name: (1, dims[1] or 3, *size)}
        if image_task and spec is not None and spec.roles is not None:
            shapes = onnx_graph.output_shapes(graph, size)
            if requested:
                onnx_graph.set_output_shapes(graph, shapes)
            plan = spec.roles(GraphFacts(shapes, size, frozenset(onnx_graph.sigmoid_outputs(graph))))
        meta_input = {**default, "name": image_input.name, "size": list(size), "dynamic": not (requested or static)}
    else:
        declared = {i.name: onnx_graph.input_dims(i) for i in inputs}
        dynamic = [n for n, d in declared.items() if None in d]
        if dynamic:
            raise ConversionError(f"inputs {dynamic} have dynamic shapes; multi-input models need static ones")
        input_shapes = {n: tuple(int(x or 0) for x in d) for n, d in declared.items()}
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
        "precision": "fp16" if fp16 else "fp32",
        **{k: v for k, v in (("licence", licence or (inherited.licence if inherited else "")),
                             ("origin", origin or (inherited.origin if inherited else ""))) if v},
        "tools": {"edgecv": __version__, "onnx": package_version("onnx"),
                  **{d: package_version(d) for d in dict.fromkeys(TARGETS[e].converter_distribution for e in targets)
                     if d}},
    }
    onnx_graph.set_metadata(graph, meta)
    return _write_checked(graph, meta, input_shapes, targets, fp16, out_dir, stem, spec, trust)


def _source_config(src: Path, graph) -> Optional[ModelConfig]:
    """The source model's own edgecv metadata (sidecar, else embedded in the ONNX file), or None; damaged metadata
    is only logged: the conversion writes new metadata anyway."""
    try:
        return read_sidecar(src) or embedded_config({p.key: p.value for p in graph.metadata_props}, str(src))
    except EdgecvError as exc:
        log.warning("%s: its edgecv metadata is ignored (%s)", src.name, exc)
        return None


def _write_checked(graph, meta: dict, input_shapes: Dict[str, Tuple[int, ...]], targets: Sequence[str], fp16: bool,
                   out_dir: Path, stem: str, spec, trust: bool) -> ConversionResult:
    """Write every target into a staging folder inside ``out_dir``, check each file loads on its engine and
    fits the task, then move them into place (metadata last)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale(out_dir, f".{stem}.convert-")  # leftovers of a killed conversion
        staging = Path(tempfile.mkdtemp(prefix=f".{stem}.convert-{os.getpid()}-", dir=out_dir))
    except OSError as exc:
        raise OutputWriteError(f"cannot write into {out_dir}: {exc.strerror or exc}") from exc
    try:
        onnx_path = staging / f"{stem}.onnx"
        onnx_graph.save(graph, onnx_path)
        (staging / f"{stem}.edgecv.json").write_text(dumps(meta))  # for the checks below
        _self_check(REFERENCE, [onnx_path], meta, spec, trust)  # before the slow converters: fails early
        staged: Dict[str, List[Path]] = {}
        for engine in targets:
            target = TARGETS[engine]
            if not target.converter:  # the ONNX file is this engine's file
                staged[engine] = [onnx_path]
                continue
            staged[engine] = target.hook("converter").write_files(
                onnx_path, target.files_for(staging, stem), input_shapes, list(onnx_graph.output_names(graph)), fp16)
        meta["files"] = {eng: [{"name": p.name, "sha256": sha256_file(p)} for p in paths]
                         for eng, paths in staged.items()}
        (staging / f"{stem}.edgecv.json").write_text(dumps(meta))
        for engine, paths in staged.items():
            if paths != [onnx_path]:  # the ONNX file was checked above
                _self_check(engine, paths, meta, spec, trust)
        result = ConversionResult(metadata=meta)
        try:
            for engine, paths in staged.items():
                result.files[engine] = [out_dir / p.name for p in paths]
                for p in paths:
                    if p.exists():  # engines sharing the ONNX file move it once
                        os.replace(p, out_dir / p.name)
            result.metadata_file = metadata_path(out_dir / f"{stem}.onnx")
            tmp_meta = staging / result.metadata_file.name
            tmp_meta.write_text(dumps(meta))
            os.replace(tmp_meta, result.metadata_file)
        except OSError as exc:
            raise OutputWriteError(f"cannot write into {out_dir}: {exc.strerror or exc}") from exc
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _self_check(engine: str, paths: List[Path], meta: dict, spec, trust: bool) -> None:
    """The written file loads on its engine and runs once (in a child process: see edgecv.trust), and for a
    known task the task model accepts it. The verdict is cached, so loading the result later costs nothing."""
    try:
        if trust:
            from ..engines import create_engine

            runtime = create_engine(engine, paths, threads=1)
            if spec is not None:
                spec.model(runtime, config_from_dict(meta, meta["name"]))
        else:
            check_in_child(engine, paths, spec.name if spec else None,
                           default_size=(meta.get("input") or {}).get("size"))
    except EdgecvError as exc:
        raise ConversionError(f"the converted {engine} file does not load as a "
                              f"{meta['task'] or 'model'}: {exc}") from None


__all__ = ["convert", "ConversionResult", "parse_renames", "check_stem"]
