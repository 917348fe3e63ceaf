"""``run()``: one model over many inputs, rows into a resumable Parquet folder, on a local pool or Ray."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from ..engines import cpu_count
from ..errors import InvalidInputError
from ..image import pixel_limit
from ..loading import load
from ..tasks import VIEWS, get_task
from ..versions import __version__
from .holder import ModelSpec, model_spec
from .inputs import ArchiveLimits, expand, jobs_of, plan
from .shards import SHARD_ROWS, ShardWriter, check_run, done_keys, pyarrow, run_lock

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")


@dataclass
class BatchSummary:
    """What a run did: ``items`` in the inputs, ``skipped`` (done by an earlier run into the same folder),
    ``processed`` now, ``errors`` among them, wall ``seconds``, ``items_per_s`` (processed / seconds)."""

    out: str
    backend: str
    workers: int
    threads_per_worker: int
    items: int
    skipped: int
    processed: int
    errors: int
    seconds: float
    items_per_s: float
    shards: int

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        rate = f"{self.items_per_s:.1f} items/s" if self.processed else "nothing left to do"
        skipped = f", {self.skipped} done before" if self.skipped else ""
        return (f"{self.processed} items, {self.errors} errors{skipped}, {rate} ({self.backend}, {self.workers} "
                f"worker{'s' if self.workers != 1 else ''} x {self.threads_per_worker} thread"
                f"{'s' if self.threads_per_worker != 1 else ''}) -> {self.out}")


def _positive(value: Any, what: str) -> Optional[int]:
    """``value`` if it is a whole number >= 1, None for None; InvalidInputError otherwise."""
    return None if value is None else _whole(value, what)


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{what} must be a whole number >= 1, got {value!r:.40}")
    return value


def split_cores(workers: Optional[int], threads: Optional[int], cores: int, check: bool = True):
    """(workers, threads per worker) with workers x threads <= cores: many single-thread workers by default.
    Asking for more than ``cores`` engine threads in total is an InvalidInputError (when ``check``)."""
    if workers is None:
        workers = max(1, cores // (threads or 1))
    if threads is None:
        threads = max(1, cores // workers)
    if check and workers * threads > cores:
        raise InvalidInputError(f"{workers} workers x {threads} threads = {workers * threads} engine threads on "
                                f"{cores} CPU cores would oversubscribe them; lower --workers or "
                                "--threads-per-worker")
    return workers, threads


def run(inputs: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]], model: str, *,
        out: Union[str, os.PathLike], engine: Optional[str] = None, backend: str = "local",
        workers: Optional[int] = None, threads_per_worker: Optional[int] = None, address: Optional[str] = None,
        every: int = 1, trust: bool = False, options: Optional[Dict[str, Any]] = None,
        depth_format: str = "auto", scale_intrinsics: bool = False, shard_rows: int = SHARD_ROWS,
        limits: Optional[ArchiveLimits] = None, max_pixels: Optional[int] = None,
        progress: Optional[Callable[[int, int, int], None]] = None) -> BatchSummary:
    """Run ``model`` over ``inputs`` and write one row per item into the Parquet folder ``out``.

    Args:
        inputs: folders (walked recursively), globs, ``.txt`` files listing paths, image files, tar/zip archives
            (read in place), video files (every ``every``-th frame); for multi-view stereo models, scene folders
            (one row per reference view).
        model: a model name or file path, as for :func:`edgecv.load`; ``engine``, ``trust`` and ``options`` too.
        out: the output folder. Re-running into the same folder skips finished items (rows are never
            duplicated); a folder of another model, engine, task, options or ``every`` is refused, and so is a
            folder another run is writing into now (OutputWriteError).
        backend: ``"local"`` (worker processes here) or ``"ray"`` (an actor pool; a local Ray is started when
            ``address`` is None).
        workers: worker processes or actors (default: one single-thread worker per CPU core). Locally (and on a
            local Ray), workers x threads must not exceed the cores.
        threads_per_worker: engine threads of each worker (default: the cores divided among the workers).
        shard_rows: rows per Parquet shard at most (smaller shards: less redone after a crash, more files).
        limits: what one archive may cost (:class:`ArchiveLimits`: member size, inflated total, compression
            ratio); members over them become error rows. ``max_pixels``: largest image decoded (default: the
            ``EDGECV_MAX_PIXELS`` limit, 40 MP).
        progress: ``progress(done, total, errors)`` once before the first job and after each job.

    Returns a :class:`BatchSummary`; read the rows with :func:`read_results`.
    """
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r:.40}")
    every = _whole(every, "every")
    shard_rows = _whole(shard_rows, "shard_rows")
    workers = _positive(workers, "workers")
    threads_per_worker = _positive(threads_per_worker, "threads_per_worker")
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not inputs:
        raise InvalidInputError("no inputs given")
    pyarrow()
    if backend == "ray":
        from .ray_backend import ray_module

        ray_module()
    cores = cpu_count()
    workers, threads = split_cores(workers, threads_per_worker, cores, check=address is None)

    options = dict(options or {})
    # engine="auto" is resolved by each worker from its machine's device profile (edgecv bench).
    spec = model_spec(model, engine, threads, options,
                      {"depth_format": depth_format, "scale_intrinsics": scale_intrinsics},
                      max_pixels=None if max_pixels is None else pixel_limit(max_pixels))
    label = spec.model
    # Load once here: a bad model, engine or option fails now, with its own error, before any worker starts.
    probe = load(label, engine=engine, threads=1, trust=trust, **options)
    task, engine_name = probe.task, probe.engine.name
    del probe
    settings = {"model": label, "engine": engine_name, "task": task, "every": every,
                "options": json.loads(json.dumps(options, default=str)), "edgecv": __version__}
    out = Path(out).expanduser()
    scenes = get_task(task).inputs == VIEWS
    paths = expand([os.fspath(i) for i in inputs], scenes=scenes)
    limits = limits or ArchiveLimits()
    with run_lock(out):
        check_run(out, settings)
        if engine != "auto":
            spec = replace(spec, engine=engine_name)
        if backend == "ray":  # the files travel with the jobs, for machines that do not share this disk
            spec = model_spec(spec.model, spec.engine, threads, options, spec.scene_options, ship=True,
                              max_pixels=max_pixels)
        todo, skipped = plan(paths, every, done_keys(out), _scene_views(spec.scene_options) if scenes else None, limits)
        total = len(todo)
        log.info("%d items to do, %d done before; %s backend, %d workers x %d threads", total, skipped, backend,
                 workers, threads)

        writer = ShardWriter(out, shard_rows)
        errors = processed = 0
        if progress is not None:
            progress(0, total, 0)
        start = time.perf_counter()
        try:
            for rows in _rows(backend, spec, jobs_of(todo, limits), workers, address, cores):
                writer.add(rows)
                processed += len(rows)
                errors += sum(1 for r in rows if not r["ok"])
                if progress is not None:
                    progress(processed, total, errors)
        finally:
            writer.flush()  # rows already computed are kept, also on Ctrl-C or an error
    seconds = time.perf_counter() - start
    return BatchSummary(str(out), backend, workers, threads, total + skipped, skipped, processed, errors,
                        round(seconds, 3), round(processed / seconds, 2) if seconds > 0 and processed else 0.0,
                        writer.shards)


def _rows(backend: str, spec: ModelSpec, jobs: Iterator, workers: int, address: Optional[str], cores: int
          ) -> Iterator[List[Dict[str, Any]]]:
    if backend == "ray":
        from .ray_backend import run_ray

        return run_ray(spec, jobs, workers, address, cores)
    from .local import run_local

    return run_local(spec, jobs, workers)


def _scene_views(scene_options: Dict[str, Any]) -> Callable[[Path], List[Optional[int]]]:
    """Reference views of a scene folder (an unreadable scene gives no views: one error row for the folder)."""
    from ..errors import EdgecvError
    from ..tasks.mvs import load_scene

    def views(path: Path) -> List[Optional[int]]:
        try:
            return list(load_scene(path, **scene_options).views)
        except EdgecvError as exc:
            log.warning("%s: %s", path, exc)
            return [None]

    return views
