"""``edgecv.load``: a model name or file path -> a ready task model; ``fetch``: fill the cache.

This is the layer that joins the model store (files), the converter (engines converted on first use),
the engines and the task registry; none of those imports it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from . import store
from .engines import check_threads, create_engine, engine_class
from .errors import InvalidInputError, ModelNotFoundError
from .store import Manifest, ModelConfig
from .targets import TARGETS, get_target, target_for_file
from .tasks import TaskModel, build, get_task
from .trust import check_in_child, trusted_by_environment

log = logging.getLogger(__name__)


def _looks_like_path(s: str) -> bool:
    return os.sep in s or "/" in s or target_for_file(Path(s)) is not None or Path(s).exists()


def model_files(manifest: Manifest, engine: str, download: bool = True) -> List[Path]:
    """Local, verified paths of a manifest model's files for ``engine``: from the mirror or cache, downloaded,
    or converted from the manifest's ONNX file on first use (then cached and re-verified on every load)."""
    if engine in manifest.files:
        return [store.resolve_file(manifest.name, f, download) for f in manifest.files[engine]]
    if engine in manifest.convert:
        return _converted_files(manifest, engine, download)
    raise ModelNotFoundError(
        f"model '{manifest.name}' has no {engine} files (available: {manifest.engines}); convert the ONNX file "
        f"with `edgecv convert --to {engine}` and load the result by path")


def _converted_files(manifest: Manifest, engine: str, download: bool) -> List[Path]:
    from .engines import engine_class

    engine_class(engine).require_package()  # before any conversion work
    entry = manifest.conversion_source(engine)
    source = store.resolve_file(manifest.name, entry, download)
    cached = store.cached_conversion(manifest, engine, entry.sha256)
    if cached is not None:
        return cached
    from .convert import convert

    out_dir = store.conversion_dir(manifest, engine)
    log.info("converting %s for %s into %s", manifest.name, engine, out_dir)
    result = convert(source, manifest.task, out_dir=out_dir, to=[engine], name=manifest.name, trust=True)
    return result.files[engine]


def _check_sidecar_files(config: Optional[ModelConfig], engine: str, files: List[Path]) -> None:
    """Files a sidecar lists with their sha256 must still have it (a damaged converted model is an error)."""
    entries = {e["name"]: e["sha256"] for e in ((config.raw.get("files") or {}).get(engine, []) if config else [])}
    for f in files:
        if f.name in entries:
            store.verify(f, entries[f.name])


def load(name_or_path: Union[str, os.PathLike], engine: Optional[str] = None, threads: Optional[int] = None, *,
         task: Optional[str] = None, fp16: bool = False, download: bool = True, trust: bool = False,
         **options: Any) -> TaskModel:
    """Load a model for inference.

    Args:
        name_or_path: a model name from the manifests (``edgecv info`` lists them), or a path to an
            ``.onnx``, ``.param`` (with its ``.bin`` beside it) or ``.mnn`` file.
        engine: ``"onnxruntime"``, ``"ncnn"`` or ``"mnn"``. Default: ONNX Runtime for names, the
            file's engine for paths.
        threads: engine threads (default: CPU cores, at most 4; at most 4 per core).
        task: force a task (``"scrfd"``); by default from the manifest, the file's
            ``.edgecv.json`` metadata, or the model's output names.
        fp16: let ncnn/MNN compute in half precision (default fp32; ONNX Runtime refuses it).
        download: allow downloading files missing from the mirror and cache.
        trust: skip the child-process check of a model file no manifest vouches for (also
            ``EDGECV_TRUST_MODELS=1``); see :mod:`edgecv.trust`.
        **options: task options (``edgecv.tasks.TASKS[name].options``), e.g. ``score_threshold``.
    """
    if not isinstance(name_or_path, (str, os.PathLike)) or not os.fspath(name_or_path):
        raise InvalidInputError(f"name_or_path must be a model name or a file path, got {name_or_path!r:.60}")
    if engine is not None:
        engine = get_target(engine).name
    if not all(isinstance(v, bool) for v in (fp16, download, trust)):
        raise InvalidInputError("fp16, download and trust must be True or False")
    threads = check_threads(threads)
    if task is not None:
        get_task(task)
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(text):
        path = Path(text).expanduser()
        file_target = target_for_file(path)
        if file_target is None:
            suffixes = ", ".join(t.suffix for t in TARGETS.values())
            raise InvalidInputError(f"{path}: unknown model file type; expected {suffixes}")
        if engine is not None and engine != file_target.name:
            raise InvalidInputError(f"{path} is a {file_target.name} model, not {engine}")
        if not path.is_file():
            raise ModelNotFoundError(f"model file not found: {path}")
        engine, config, default_name = file_target.name, store.read_sidecar(path), path.stem
        cls = engine_class(engine)
        files = cls.model_files([path])
        cls.check_files(files)  # edgecv's own checks first: cheap, and they need no child process
        _check_sidecar_files(config, engine, files)
        if not (trust or trusted_by_environment()):
            check_in_child(engine, files, task)
    else:
        manifest = store.get_manifest(text)
        engine = engine or "onnxruntime"
        files, config, default_name = model_files(manifest, engine, download), manifest.config(), manifest.name
    runtime = create_engine(engine, files, threads=threads, fp16=fp16)
    if config is None:  # no sidecar: metadata stored inside the model (ONNX), else none
        config = store.embedded_config(runtime.metadata(), str(files[0]), default_name) or ModelConfig(name=default_name)
    if config.task and task and config.task != task:
        log.info("%s says task %s; using %s as asked", default_name, config.task, task)
    return build(runtime, config, task, **options)


def fetch(name: str, engines: Optional[List[str]] = None, mirror: Optional[Path] = None) -> List[Path]:
    """Copy (from ``mirror``, else the ``EDGECV_MODELS`` mirrors) or download a model's files into the
    cache, verified; engines converted on first use get their source copied, then are converted into the
    cache. Returns the cached paths."""
    manifest = store.get_manifest(name)
    out: List[Path] = []
    for engine in [get_target(e).name for e in engines] if engines else manifest.engines:
        if engine in manifest.files:
            out += [store.fetch_file(name, f, mirror) for f in manifest.files[engine]]
        elif engine in manifest.convert:
            store.fetch_file(name, manifest.conversion_source(engine), mirror)
            out += _converted_files(manifest, engine, download=False)
        else:
            raise InvalidInputError(f"model '{name}' has no {engine} files (available: {manifest.engines})")
    return out


def available_models() -> Dict[str, Dict[str, bool]]:
    """For each manifest: which engines have all their files locally (mirror or cache)."""
    return {name: store.locally_available(m) for name, m in store.list_manifests().items()}
