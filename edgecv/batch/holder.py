"""The model holder a batch worker keeps for the whole run, and the rows it makes.

``ModelSpec`` says what to load (picklable: it travels to worker processes and Ray actors); a
``ModelHolder`` loads it once and turns jobs into rows. Every failure of one item (unreadable file,
undecodable image, an engine error) becomes that item's error row; only failing to load the model stops
the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import ChecksumError, EdgecvError, ImageReadError
from .inputs import Item, Job, read_job

log = logging.getLogger(__name__)

#: Output columns, in order (``shards.SCHEMA`` gives their Arrow types).
COLUMNS = ("key", "path", "member", "frame", "ok", "error", "count", "result", "task", "model", "engine",
           "elapsed_ms")


@dataclass(frozen=True)
class ModelSpec:
    """What each worker loads: ``model`` (name, or absolute path), engine, explicit thread count, task options.
    ``files`` (Ray): the model's files as ``{file name: (sha256, bytes)}``, written into the worker's cache and
    checked there, for machines that do not share the driver's disk."""

    model: str
    engine: Optional[str]
    threads: int
    options: Dict[str, Any] = field(default_factory=dict)
    scene_options: Dict[str, Any] = field(default_factory=dict)
    files: Optional[Dict[str, Tuple[str, bytes]]] = None
    #: largest image decoded (None: EDGECV_MAX_PIXELS or 40 MP)
    max_pixels: Optional[int] = None


def ship_files(model_path: Path) -> Dict[str, Tuple[str, bytes]]:
    """A path model's files (with companions and metadata sidecar) as ``{name: (sha256, bytes)}``."""
    from ..engines import engine_class
    from ..store import metadata_path
    from ..targets import target_for_file

    target = target_for_file(model_path)
    files = list(engine_class(target.name).model_files([model_path])) if target else [model_path]
    sidecar = metadata_path(model_path)
    if sidecar.is_file():
        files.append(sidecar)
    out = {}
    for f in files:
        data = f.read_bytes()
        out[f.name] = (hashlib.sha256(data).hexdigest(), data)
    return out


def materialise(files: Dict[str, Tuple[str, bytes]], main: str) -> Path:
    """Write shipped files into this machine's cache (once per content) and check their sha256;
    returns the main file's path. ChecksumError when a file does not match."""
    from ..fileio import write_bytes
    from ..store import cache_dir

    digest = hashlib.sha256("".join(sorted(sha for sha, _ in files.values())).encode()).hexdigest()[:16]
    folder = cache_dir() / "batch-models" / digest
    for name, (sha, data) in files.items():
        target = folder / name
        if not (target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha):
            if hashlib.sha256(data).hexdigest() != sha:
                raise ChecksumError(f"model file {name} changed on its way to this worker (sha256 mismatch)")
            write_bytes(target, data)
    return folder / main


def error_row(item: Item, error: str, model: str, task: Optional[str] = None, engine: Optional[str] = None,
              elapsed_ms: Optional[float] = None) -> Dict[str, Any]:
    """The row of an item that failed: ``error`` is ``"Type: message"``."""
    return {"key": item.key, "path": item.shown_path, "member": item.shown_member, "frame": item.frame, "ok": False,
            "error": error, "count": None, "result": None, "task": task, "model": model, "engine": engine,
            "elapsed_ms": elapsed_ms}


def model_spec(model: str, engine: Optional[str], threads: int, options: Optional[Dict[str, Any]] = None,
               scene_options: Optional[Dict[str, Any]] = None, ship: bool = False,
               max_pixels: Optional[int] = None) -> ModelSpec:
    """A ModelSpec for ``model`` as the user gave it: paths made absolute (the ``model`` column and the workers
    see the same file), and with ``ship`` their files attached for workers on other machines."""
    from ..loading import looks_like_path

    label = os.fspath(model)
    path = looks_like_path(label)
    if path:
        label = str(Path(label).expanduser().resolve())
    return ModelSpec(label, engine, threads, dict(options or {}), dict(scene_options or {}),
                     ship_files(Path(label)) if ship and path else None, max_pixels)


class ModelHolder:
    """Loads ``spec`` once; ``run(job)`` -> one row (dict of COLUMNS) per item of the job."""

    def __init__(self, spec: ModelSpec) -> None:
        from ..loading import load

        where = spec.model
        if spec.files is not None:
            where = str(materialise(spec.files, Path(spec.model).name))
        # The driver already loaded these files (and checked them in a child process when untrusted).
        self.model = load(where, engine=spec.engine, threads=spec.threads, trust=True, **spec.options)
        self.label = spec.model
        self.scene_options = spec.scene_options
        self.max_pixels = spec.max_pixels
        self._scene: Optional[Tuple[str, Any]] = None
        log.debug("worker %d holds %r", os.getpid(), self.model)

    def run(self, job: Job) -> List[Dict[str, Any]]:
        """One row per item of ``job``, in order: exactly one, whatever reading or inference did."""
        rows: Dict[str, Dict[str, Any]] = {}
        if job.kind == "scene":
            for item in job.items:
                rows[item.key] = self._row(item, lambda item=item: self._depth(item))
        else:
            start = time.perf_counter()
            try:
                for item, image in read_job(job, self.max_pixels):
                    if isinstance(image, BaseException):
                        rows[item.key] = self._error(item, image, start)
                    else:
                        rows[item.key] = self._row(item, lambda image=image: self.model.detect(image), start)
                    start = time.perf_counter()
            except Exception as exc:  # noqa: BLE001 - a reader that fails as a whole fails its remaining items
                log.warning("%s: %s: %s", job.items[0].shown_path, type(exc).__name__, exc)
                for item in job.items:
                    rows.setdefault(item.key, self._error(item, exc, start))
        return [rows.get(item.key) or self._error(item, ImageReadError("no result was produced for this item"),
                                                  time.perf_counter()) for item in job.items]

    def _depth(self, item: Item) -> Any:
        from ..tasks.mvs import load_scene

        if self._scene is None or self._scene[0] != item.path:
            self._scene = (item.path, load_scene(item.path, **self.scene_options))
        return self.model.detect(self._scene[1], ref=item.frame)

    def _row(self, item: Item, compute: Any, start: Optional[float] = None) -> Dict[str, Any]:
        start = time.perf_counter() if start is None else start
        try:
            result = compute()
            doc = result.to_dict()
            text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
        except Exception as exc:  # noqa: BLE001 - one item's failure is its row, never the run's end
            if not isinstance(exc, EdgecvError):
                log.warning("%s: %s: %s", item.shown_path, type(exc).__name__, exc)
            return self._error(item, exc, start)
        return {"key": item.key, "path": item.shown_path, "member": item.shown_member, "frame": item.frame, "ok": True,
                "error": None, "count": int(doc.get("count", len(result))), "result": text, "task": self.model.task,
                "model": self.label, "engine": self.model.engine.name,
                "elapsed_ms": (time.perf_counter() - start) * 1e3}

    def _error(self, item: Item, exc: BaseException, start: float) -> Dict[str, Any]:
        message = " ".join(str(exc).split()) or type(exc).__name__
        return error_row(item, f"{type(exc).__name__}: {message}", self.label, self.model.task,
                         self.model.engine.name, (time.perf_counter() - start) * 1e3)
