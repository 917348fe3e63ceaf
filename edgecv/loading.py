"""``edgecv.load``: a model name or file path -> a ready task model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Union

from . import hub
from .engines import ENGINE_NAMES, create_engine, engine_for_file
from .errors import InvalidInputError, ModelContractError, ModelNotFoundError
from .tasks import ModelConfig, TaskModel, guess_task, task_class

METADATA_SUFFIX = ".edgecv.json"
#: key of the edgecv metadata inside ONNX metadata_props
METADATA_KEY = "edgecv"


def default_threads() -> int:
    """Default engine threads: the number of CPU cores, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def metadata_path(model_file: Path) -> Path:
    """``<dir>/<stem>.edgecv.json`` beside a model file (``x.opt.param`` -> ``x.opt.edgecv.json``)."""
    return model_file.with_name(model_file.stem + METADATA_SUFFIX)


def _config(d: dict, default_name: str) -> ModelConfig:
    return ModelConfig(name=d.get("name", default_name), task=d.get("task", ""),
                       input=d.get("input", {}), outputs=d.get("outputs", {}), fp16=bool(d.get("fp16")),
                       input_shapes=d.get("inputs", {}))


def _config_from_metadata(model_file: Path) -> Optional[ModelConfig]:
    """Config from ``<stem>.edgecv.json`` beside the model file, or None."""
    meta = metadata_path(model_file)
    if not meta.is_file():
        return None
    try:
        return _config(json.loads(meta.read_text()), model_file.stem)
    except (ValueError, AttributeError) as exc:
        raise ModelContractError(f"unreadable edgecv metadata {meta}: {exc}") from exc


def _looks_like_path(s: str) -> bool:
    return os.sep in s or "/" in s or engine_for_file(Path(s)) is not None or Path(s).exists()


def load(name_or_path: Union[str, os.PathLike], engine: Optional[str] = None,
         threads: Optional[int] = None, *, task: Optional[str] = None, fp16: bool = False,
         download: bool = True, **options: Any) -> TaskModel:
    """Load a model for inference.

    Args:
        name_or_path: a model name from the manifests (``edgecv info`` lists them), or a path to an
            ``.onnx``, ``.param`` (with its ``.bin`` beside it) or ``.mnn`` file.
        engine: ``"onnxruntime"``, ``"ncnn"`` or ``"mnn"``. Default: ONNX Runtime for names, the
            file's engine for paths.
        threads: engine threads (default: CPU cores, at most 4).
        task: force a task (``"scrfd"``); by default from the manifest, the file's
            ``.edgecv.json`` metadata, or the model's output names.
        fp16: let ncnn/MNN compute in half precision (default fp32).
        download: allow downloading files missing from the mirror and cache.
        **options: task options, e.g. ``input_size``, ``score_threshold``, ``iou_threshold``,
            ``max_faces`` for SCRFD.
    """
    if engine is not None and engine not in ENGINE_NAMES:
        raise InvalidInputError(f"unknown engine '{engine}'; choose one of {list(ENGINE_NAMES)}")
    threads = default_threads() if threads is None else int(threads)
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(text):
        path = Path(text).expanduser()
        file_engine = engine_for_file(path)
        if file_engine is None:
            raise InvalidInputError(f"{path}: unknown model file type; expected .onnx, .param or .mnn")
        if engine is not None and engine != file_engine:
            raise InvalidInputError(f"{path} is a {file_engine} model, not {engine}")
        if not path.is_file():
            raise ModelNotFoundError(f"model file not found: {path}")
        engine, files, config = file_engine, [path], _config_from_metadata(path)
    else:
        manifest = hub.get_manifest(text)
        engine = engine or "onnxruntime"
        files = hub.resolve_files(manifest, engine, download=download)
        config = ModelConfig(name=manifest.name, task=manifest.task, input=manifest.input,
                             outputs=manifest.outputs)
    runtime = create_engine(engine, files, threads=threads, fp16=fp16)
    if config is None:  # no sidecar: metadata stored inside the model (ONNX), else none
        embedded = runtime.metadata().get(METADATA_KEY)
        config = _config(json.loads(embedded), path.stem) if embedded else ModelConfig(name=path.stem)
    cls = task_class(task or config.task or guess_task(runtime.output_names))
    return cls(runtime, config, **options)
