"""Local batch backend: a pool of worker processes on this machine, each holding one loaded model.

Processes (not threads) because one engine per process with few threads scales better on small CPUs than
one engine with many threads (see benchmarks/bench_batch.py), and because a native crash on one input
then costs one worker, not the run: the pool is restarted, the jobs that were in flight are redone one
item at a time, and the item that kills a worker again becomes an error row.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Deque, Dict, Iterable, Iterator, List, Optional, Tuple

from ..errors import EngineRuntimeError
from .holder import ModelHolder, ModelSpec, error_row
from .inputs import Job

log = logging.getLogger(__name__)

MAX_RESTARTS = 3

# The one model this worker process holds (set by the pool's initializer; worker processes only).
_worker: Dict[str, Any] = {}


def _orphan_watch(parent: int) -> None:
    """Exit when the driver is gone (SIGKILL gives it no chance to stop us, and the pool's queue pipe stays
    open in the workers themselves, so they would wait forever holding a loaded model)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _init(spec: ModelSpec) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    threading.Thread(target=_orphan_watch, args=(os.getppid(),), daemon=True, name="edgecv-orphan-watch").start()
    try:
        _worker["holder"] = ModelHolder(spec)
    except BaseException as exc:  # noqa: BLE001 - reported with the first job, not as a broken pool
        _worker["error"] = exc


def _run(job: Job) -> List[Dict[str, Any]]:
    if "error" in _worker:
        raise _worker["error"]
    return _worker["holder"].run(job)


def _split(job: Job) -> List[Job]:
    return [Job(job.kind, job.path, [item], {k: v for k, v in job.data.items() if k == item.key})
            for item in job.items]


def run_local(spec: ModelSpec, jobs: Iterable[Job], workers: int) -> Iterator[List[Dict[str, Any]]]:
    """Rows of every job, as each job completes (not in input order)."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold engine threads
    source = iter(jobs)
    suspects: Deque[Job] = deque()  # jobs in flight when a worker died: redone one item at a time
    pool: Optional[ProcessPoolExecutor] = None
    pending: Dict[Future, Tuple[Job, bool]] = {}

    restarts = 0  # in a row, without a job finishing in between

    def restart() -> None:
        """The pool broke: its unfinished jobs become suspects; a new pool starts on the next round."""
        nonlocal pool, restarts
        restarts += 1
        if restarts > MAX_RESTARTS:
            raise EngineRuntimeError(f"the worker processes died {restarts} times in a row without finishing an "
                                     "item (out of memory? interpreter shutting down?); stopping the run")
        for job, alone in pending.values():
            suspects.extend([job] if alone else _split(job))
        pending.clear()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        pool = None

    try:
        while True:
            if pool is None:
                pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(spec,))
            isolating = bool(suspects) or any(alone for _, alone in pending.values())
            broken = False
            while len(pending) < (1 if isolating else 2 * workers):
                if suspects:
                    job, alone = suspects.popleft(), True
                elif isolating:
                    break
                else:
                    job, alone = next(source, None), False  # type: ignore[assignment]
                    if job is None:
                        break
                try:
                    pending[pool.submit(_run, job)] = (job, alone)
                except (BrokenProcessPool, RuntimeError):  # a worker died since the last round
                    suspects.appendleft(job) if alone else suspects.extendleft(reversed(_split(job)))
                    broken = True
                    break
            if broken:
                restart()
                continue
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job, alone = pending.pop(future)
                try:
                    rows = future.result()
                    restarts = 0
                    yield rows
                except BrokenProcessPool:
                    broken = True
                    if alone:
                        log.warning("a worker died on %s %s; recorded as an error row", job.path,
                                    job.items[0].member or job.items[0].frame or "")
                        restarts = 0
                        yield [error_row(job.items[0], "WorkerCrash: the worker process died on this input (a native "
                                         "crash in a decoder or engine)", spec.model)]
                    else:
                        suspects.extend(_split(job))
            if broken:
                restart()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
