"""``edgecv.load``: a model name or file path -> a ready task model; ``fetch``: fill the cache.

This is the layer that joins the model store (files), the converter (engines converted on first use),
the engines and the task registry; none of those imports it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

from . import store
from .engines import check_threads, create_engine, engine_class
from .errors import InvalidInputError, ModelNotFoundError
from .store import Manifest, ModelConfig
from .store.metadata import non_commercial
from .targets import REFERENCE, TARGETS, engine_for_file, get_target, target_for_file
from .tasks import TaskModel, build, get_task
from .trust import check_in_child, trusted_by_environment

log = logging.getLogger(__name__)


def looks_like_path(s: str) -> bool:
    return os.sep in s or "/" in s or target_for_file(Path(s)) is not None or Path(s).exists()


def model_files(manifest: Manifest, engine: str, download: bool = True) -> List[Path]:
    """Local, verified paths of a manifest model's files for ``engine``: from the mirror or cache, downloaded,
    or converted from the manifest's ONNX file on first use (then cached and re-verified on every load)."""
    source = manifest.files_source(engine)
    if source is not None:
        return [store.resolve_file(manifest, f, download) for f in manifest.files[source]]
    if engine in manifest.convert:
        return _converted_files(manifest, engine, download)
    raise ModelNotFoundError(
        f"model '{manifest.name}' has no {engine} files (available: {manifest.engines}); convert the ONNX file "
        f"with `edgecv convert --to {engine}` and load the result by path")


def _converted_files(manifest: Manifest, engine: str, download: bool) -> List[Path]:
    from .engines import engine_class

    engine_class(engine).require_package()  # before any conversion work
    entry = manifest.conversion_source(engine)
    source = store.resolve_file(manifest, entry, download)
    cached = store.cached_conversion(manifest, engine, entry.sha256)
    if cached is not None:
        return cached
    from .convert import convert

    out_dir = store.conversion_dir(manifest, engine)
    log.info("converting %s for %s into %s", manifest.name, engine, out_dir)
    result = convert(source, manifest.task, out_dir=out_dir, to=[engine], name=manifest.name, trust=True,
                     licence=manifest.licence, origin=manifest.source)
    return result.files[engine]


def _check_sidecar_files(config: Optional[ModelConfig], engine: str, files: List[Path]) -> None:
    """Files a sidecar lists with their sha256 must still have it (a damaged converted model is an error)."""
    entries = {e["name"]: e["sha256"] for e in ((config.raw.get("files") or {}).get(engine, []) if config else [])}
    for f in files:
        if f.name in entries:
            store.verify(f, entries[f.name])


def load(name_or_path: Union[str, os.PathLike], engine: Optional[str] = None, threads: Optional[int] = None, *,
         task: Optional[str] = None, fp16: Optional[bool] = None, download: bool = True, trust: bool = False,
         busy_wait: bool = True, **options: Any) -> TaskModel:
    """Load a model for inference.

    Args:
        name_or_path: a model name from the manifests (``edgecv info`` lists them), or the path of an engine's
            model file (``.onnx``, ``.param`` with its ``.bin`` beside it, ``.mnn``...).
        engine: an engine of :data:`edgecv.targets.TARGETS` (``"onnxruntime"``, ``"ncnn"``, ``"mnn"``...) or
            ``"auto"``. Default: ONNX Runtime for names, the file's engine for paths (engines that read ONNX load
            ``.onnx`` paths when named). ``"auto"``: the fastest engine and precision that passed their accuracy
            gates in this device's profile (``edgecv bench``), with its thread count unless ``threads`` is given;
            ONNX Runtime fp32 when the model has no profile here.
        threads: engine threads (default: CPU cores, at most 4; at most 4 per core).
        task: force a task (``"scrfd"``); by default from the manifest, the file's
            ``.edgecv.json`` metadata, or the model's output names.
        fp16: let ncnn/MNN compute in half precision where the CPU can (default: for models whose metadata
            says fp16, from ``edgecv quantize --precision fp16``; ONNX Runtime refuses it).
        download: allow downloading files missing from the mirror and cache.
        trust: skip the child-process check of a model file no manifest vouches for (also
            ``EDGECV_TRUST_MODELS=1``); see :mod:`edgecv.trust`.
        busy_wait: let idle engine threads spin between operators (ONNX Runtime's intra-op spinning; the other
            engines manage their own): the default, faster for a model computing alone; False where several models
            compute at once on the same cores (``edgecv serve`` does so).
        **options: task options (``edgecv.tasks.TASKS[name].options``), e.g. ``score_threshold``.
    """
    if not isinstance(name_or_path, (str, os.PathLike)) or not os.fspath(name_or_path):
        raise InvalidInputError(f"name_or_path must be a model name or a file path, got {name_or_path!r:.60}")
    if engine == AUTO:
        name_or_path, engine, threads = _auto(name_or_path, threads)
    if engine is not None:
        engine = get_target(engine).name
    if (not all(isinstance(v, bool) for v in (download, trust, busy_wait))
            or not (fp16 is None or isinstance(fp16, bool))):
        raise InvalidInputError("fp16 (or None), download, trust and busy_wait must be True or False")
    threads = check_threads(threads)
    if task is not None:
        get_task(task)
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or looks_like_path(text):
        path = Path(text).expanduser()
        engine = engine_for_file(path, engine).name
        if not path.is_file():
            raise ModelNotFoundError(f"model file not found: {path}")
        config, default_name = store.read_sidecar(path), path.stem
        cls = engine_class(engine)
        files = cls.model_files([path])
        cls.check_files(files)  # edgecv's own checks first: cheap, and they need no child process
        _check_sidecar_files(config, engine, files)
        if not (trust or trusted_by_environment()):
            check_in_child(engine, files, task)
    else:
        manifest = store.get_manifest(text)
        engine = engine or REFERENCE
        files, config, default_name = model_files(manifest, engine, download), manifest.config(), manifest.name
    if fp16 is None:
        fp16 = bool(config is not None and config.precision == "fp16" and TARGETS[engine].fp16)
    runtime = create_engine(engine, files, threads=threads, fp16=fp16, busy_wait=busy_wait)
    if config is None:  # no sidecar: metadata stored inside the model (ONNX), else none
        config = (store.embedded_config(runtime.metadata(), str(files[0]), default_name)
                  or ModelConfig(name=default_name))
    if config.task and task and config.task != task:
        log.info("%s says task %s; using %s as asked", default_name, config.task, task)
    if non_commercial(config.licence):
        log.info("%s: licence %r (%s): not for commercial products; the yunet_* models are licence-clean",
                 config.name or default_name, config.licence, config.origin or "see its manifest")
    return build(runtime, config, task, **options)


AUTO = "auto"


def _auto(name_or_path: Union[str, os.PathLike], threads: Optional[int]):
    """(what to load, engine, threads) for ``engine="auto"``: this device's best profiled configuration."""
    from .store import profiles

    text = os.fspath(name_or_path)
    is_path = isinstance(name_or_path, os.PathLike) or looks_like_path(text)
    if is_path and Path(text).suffix.lower() != ".onnx":
        raise InvalidInputError(f'engine="auto" picks among the files of an fp32 ONNX model or a model name; '
                                f"{Path(text).name} is already one engine's file")
    if is_path and not Path(text).is_file():
        raise ModelNotFoundError(f"model file not found: {text}")
    key = profiles.model_key(text, Path(text) if is_path else None)
    best = profiles.best_config(key)
    fallback = (name_or_path, None if is_path else REFERENCE, threads)
    if best is None:
        log.info("no benchmark of %s on this device (%s): ONNX Runtime fp32; `edgecv bench` makes one",
                 Path(text).name if is_path else text, profiles.device()["key"])
        return fallback
    threads = threads if threads is not None else best.get("threads")
    files = [Path(f) for f in best.get("files") or []]
    if files:
        if not all(f.is_file() for f in files):
            log.warning("the profiled %s %s files of %s are gone: ONNX Runtime fp32", best["engine"],
                        best.get("precision"), text)
            return fallback
        return files[0], None, threads
    log.info("auto: %s %s, %s threads (device profile)", best["engine"], best.get("precision"), threads)
    return name_or_path, best["engine"], threads


@dataclass
class ModelFiles:
    """One engine's copy of a model, ready to load: ``model`` is a name (loaded with ``engine``) or the main file, and
    ``files`` all its files (empty for names)."""

    engine: str
    precision: str
    model: str
    files: List[str] = field(default_factory=list)


def fp32_models(model: Union[str, os.PathLike], reference: Path, task: str, engines: Sequence[str]) -> List[ModelFiles]:
    """The fp32 model of ``model`` (a name, or the fp32 ONNX file ``reference``) for each engine: names are fetched
    (engines converted on first use are converted now, once); an ONNX file is converted once into the cache
    (``<cache>/converted/<sha256>/``), role-named with metadata, and reused while it is unchanged."""
    if not (isinstance(model, os.PathLike) or looks_like_path(str(model))):
        fetch(str(model), list(engines))
        return [ModelFiles(e, "fp32", str(model)) for e in engines]
    from .convert import convert

    work = store.cache_dir() / "converted" / store.sha256_file(reference)[:16]
    stem = f"{reference.stem}_fp32"
    config = store.read_sidecar(work / f"{stem}.onnx")
    done = set((config.raw.get("files") or {}) if config else ())
    if not set(engines) <= done:
        wanted = tuple(dict.fromkeys((REFERENCE,) + tuple(engines) + tuple(sorted(done))))
        convert(reference, task, out_dir=work, to=wanted, name=stem)
    out = []
    for e in engines:
        files = TARGETS[e].files_for(work, stem)
        out.append(ModelFiles(e, "fp32", str(files[0]), [str(f) for f in files]))
    return out


def quantized_models(folders: Sequence[Path], engines: Sequence[str], precisions: Sequence[str]) -> List[ModelFiles]:
    """The quantised files (int8, fp16: their metadata says which) in ``folders`` (or files, as ``edgecv quantize
    --out`` writes them) for ``engines`` and ``precisions``."""
    out = []
    for folder in map(Path, folders):
        paths = [folder] if folder.is_file() else sorted(folder.iterdir()) if folder.is_dir() else None
        if paths is None:
            raise ModelNotFoundError(f"{folder} does not exist")
        for p in paths:
            target = target_for_file(p)
            if target is None or not p.is_file() or p.name.startswith("."):
                continue
            config = store.read_sidecar(p)
            precision = config.precision if config else "fp32"
            if precision == "fp32" or precision not in precisions or target.name not in engines:
                continue
            out.append(ModelFiles(target.name, precision, str(p), [str(f) for f in target.companions_of(p)]))
    return out


def fetch(name: str, engines: Optional[List[str]] = None, mirror: Optional[Path] = None) -> List[Path]:
    """Copy (from ``mirror``, else the ``EDGECV_MODELS`` mirrors) or download a model's files into the
    cache, verified; engines converted on first use get their source copied, then are converted into the
    cache. Returns the cached paths."""
    manifest = store.get_manifest(name)
    out: List[Path] = []
    for engine in [get_target(e).name for e in engines] if engines else manifest.engines:
        source = manifest.files_source(engine)
        if source is not None:
            out += [store.fetch_file(manifest, f, mirror) for f in manifest.files[source]]
        elif engine in manifest.convert:
            store.fetch_file(manifest, manifest.conversion_source(engine), mirror)
            out += _converted_files(manifest, engine, download=False)
        else:
            raise InvalidInputError(f"model '{name}' has no {engine} files (available: {manifest.engines})")
    return out


def available_models() -> Dict[str, Dict[str, bool]]:
    """For each manifest: which engines have all their files locally (mirror or cache)."""
    return {name: store.locally_available(m) for name, m in store.list_manifests().items()}


def source_model(name_or_path: Union[str, os.PathLike], download: bool = True) -> Path:
    """The fp32 ONNX file of a model name (from the mirror, cache or a download), or the path given."""
    if not isinstance(name_or_path, (str, os.PathLike)) or not os.fspath(name_or_path):
        raise InvalidInputError(f"model must be a model name or a file path, got {name_or_path!r:.60}")
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or looks_like_path(text):
        return Path(text).expanduser()
    manifest = store.get_manifest(text)
    if REFERENCE not in manifest.files:
        raise InvalidInputError(f"model '{text}' has no ONNX file to start from")
    return model_files(manifest, REFERENCE, download)[0]


def quantize(model: Union[str, os.PathLike], calib: Union[str, os.PathLike], *, name: Optional[str] = None,
             **options: Any):
    """:func:`edgecv.convert.quantize` for a model name (its fp32 ONNX file; files named after the model) or an
    ``.onnx`` path."""
    from .convert import quantize as quantize_file

    path = source_model(model)
    if not looks_like_path(os.fspath(model)):
        manifest = store.get_manifest(os.fspath(model))
        name = name or manifest.name
        options = {"licence": manifest.licence, "origin": manifest.source, **options}
    return quantize_file(path, calib, name=name, **options)
