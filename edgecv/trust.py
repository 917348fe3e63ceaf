"""Untrusted model files are opened in a child process first.

The engines' parsers are not ours, and a few changed bytes in a model file can kill a process (SIGFPE,
SIGSEGV, heap corruption). A file that no manifest sha256 vouches for, and that edgecv has not checked
before, is loaded and run once on a valid input in a short-lived child process. A signal, an abort, a
memory blow-up or a hang there becomes :class:`ModelLoadError` naming what happened and the file; the
verdict is cached by the files' sha256 (``<cache>/trust/``) so each file costs this once.
``trust=True`` (``edgecv.load``) or ``EDGECV_TRUST_MODELS=1`` skips the check.

The child runs ``python -m edgecv.trust`` with a memory limit (the machine's RAM, or
``EDGECV_PROBE_MEMORY_MB``) and a deadline (``EDGECV_PROBE_TIMEOUT``, default 300 s).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from . import errors
from .errors import EdgecvError, ModelLoadError
from .store.files import cache_dir, sha256_file
from .store.metadata import ModelConfig, embedded_config, metadata_path, read_sidecar
from .targets import get_target
from .versions import __version__, package_version

log = logging.getLogger(__name__)

ENV_TRUST = "EDGECV_TRUST_MODELS"
ENV_TIMEOUT = "EDGECV_PROBE_TIMEOUT"
ENV_MEMORY = "EDGECV_PROBE_MEMORY_MB"
DEFAULT_TIMEOUT = 300.0


def trusted_by_environment() -> bool:
    return os.environ.get(ENV_TRUST, "") not in ("", "0")


def verdict_key(engine: str, files: Sequence[Path], task: Optional[str]) -> str:
    """What a verdict is about: edgecv's version, the engine and its package's version, the task and the sha256 of
    every file and of the metadata sidecar beside the first (it changes what the check runs)."""
    engine_version = package_version(get_target(engine).distribution) or ""
    h = hashlib.sha256(f"{__version__}|{engine}|{engine_version}|{task or ''}".encode())
    sidecar = metadata_path(Path(files[0]))
    for f in [*files, *([sidecar] if sidecar.is_file() else [])]:
        h.update(sha256_file(Path(f)).encode())
    return h.hexdigest()


def _verdict_file(key: str) -> Path:
    return cache_dir() / "trust" / f"{key}.json"


def _read_verdict(key: str) -> Optional[Dict[str, Any]]:
    try:
        doc = json.loads(_verdict_file(key).read_text())
        return doc if isinstance(doc, dict) and doc.get("verdict") in ("ok", "crash") else None
    except (OSError, ValueError):
        return None


def _write_verdict(key: str, doc: Dict[str, Any]) -> None:
    from .fileio import write_text

    try:
        write_text(_verdict_file(key), json.dumps(doc, indent=2) + "\n")
    except EdgecvError as exc:  # an unwritable cache only costs the check again next time
        log.warning("cannot cache the model check verdict: %s", exc)


def signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _memory_limit() -> int:
    if os.environ.get(ENV_MEMORY):
        return int(float(os.environ[ENV_MEMORY]) * 2**20)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def check_in_child(engine: str, files: Sequence[Path], task: Optional[str] = None,
                   default_size: Optional[Sequence[int]] = None) -> None:
    """Load ``files`` on ``engine`` and run them once in a child process, unless a cached verdict says they
    were fine. ``task`` (or the files' metadata) picks the valid input: the task's sample; with no task,
    zeros of the declared input shapes (dynamic sizes: ``default_size``). Raises ModelLoadError (or the
    typed error the child raised) otherwise."""
    files = [Path(f) for f in files]
    key = verdict_key(engine, files, task)
    cached = _read_verdict(key)
    if cached is not None:
        if cached["verdict"] == "crash":
            raise ModelLoadError(f"{files[0]}: {cached['reason']} (cached verdict of an earlier check)")
        return
    # Absolute paths: the child runs in another folder (see below), where a relative path names nothing.
    request = {"engine": engine, "files": [str(f.resolve()) for f in files], "task": task,
               "default_size": list(default_size) if default_size else None}
    timeout = float(os.environ.get(ENV_TIMEOUT, DEFAULT_TIMEOUT))
    start = time.perf_counter()
    try:
        # Run from the folder that holds this very edgecv package, so the child imports the same one (a source
        # checkout in the working directory would shadow it otherwise).
        proc = subprocess.run([sys.executable, "-m", "edgecv.trust", json.dumps(request)], capture_output=True,
                              text=True, timeout=timeout, cwd=Path(__file__).resolve().parents[1],
                              env={**os.environ, "EDGECV_PROBE_MEMORY_LIMIT": str(_memory_limit())})
    except subprocess.TimeoutExpired:
        raise ModelLoadError(f"{files[0]}: loading and running it once did not finish within {timeout:.0f} s "
                             f"(a hang? raise {ENV_TIMEOUT} for very slow machines)") from None
    seconds = round(time.perf_counter() - start, 2)
    report = _last_json(proc.stdout)
    base = {"engine": engine, "files": [f.name for f in files], "task": task, "seconds": seconds,
            "edgecv": __version__}
    if proc.returncode < 0 or (proc.returncode != 0 and report is None):
        what = signal_name(proc.returncode) if proc.returncode < 0 else f"exit status {proc.returncode}"
        clues = [ln for ln in proc.stderr.strip().splitlines()
                 if re.search(r"error|abort|assert|fault|killed", ln, re.I)]
        tail = " ".join(clues[-2:])[-160:]
        reason = f"the {engine} engine crashed ({what}) loading or running this file once" + \
                 (f": {tail}" if tail else "")
        if proc.returncode < 0:  # killed by a signal: the file crashes the engine, remembered for this file
            _write_verdict(key, {**base, "verdict": "crash", "reason": reason})
        raise ModelLoadError(f"{files[0]}: {reason}; checked in a child process, this process is unaffected")
    if report and report.get("error"):
        cls = getattr(errors, str(report.get("type")), None)
        cls = cls if isinstance(cls, type) and issubclass(cls, EdgecvError) else ModelLoadError
        raise cls(report["error"])
    log.info("checked %s on %s in a child process (%.2f s)", files[0].name, engine, seconds)
    _write_verdict(key, {**base, "verdict": "ok"})


def _last_json(text: str) -> Optional[Dict[str, Any]]:
    for line in reversed(text.strip().splitlines()):
        try:
            doc = json.loads(line)
            if isinstance(doc, dict):
                return doc
        except ValueError:
            continue
    return None


def _probe(request: Dict[str, Any]) -> None:
    """In the child: load and run once."""
    import numpy as np

    from .engines import create_engine
    from .tasks import TASKS, build

    files = [Path(f) for f in request["files"]]
    runtime = create_engine(request["engine"], files, threads=1)
    task = request.get("task")
    config = read_sidecar(files[0]) or embedded_config(runtime.metadata(), str(files[0]), files[0].stem)
    if not task and not (config and config.task):  # a task its outputs fit, if any: run its whole pipeline
        task = next((s.name for s in TASKS.values() if s.matches(runtime.output_names)), None)
    if task or (config and config.task):
        model = build(runtime, config or ModelConfig(name=files[0].stem), task)
        model.detect(model.sample_input())
        return
    size = request.get("default_size") or [64, 64]
    feeds = {}
    for t in runtime.inputs:
        shape = list(t.shape) if t.shape else [1, 3, *size]
        if len(shape) == 4:
            shape = [shape[0] or 1, shape[1] or 3, shape[2] or size[0], shape[3] or size[1]]
        feeds[t.name] = np.zeros([d or 1 for d in shape], np.float32)
    runtime.run(feeds)


def main() -> int:
    limit = int(os.environ.get("EDGECV_PROBE_MEMORY_LIMIT", "0") or 0)
    if limit > 0:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass
    try:
        _probe(json.loads(sys.argv[1]))
    except EdgecvError as exc:
        print(json.dumps({"type": type(exc).__name__, "error": str(exc)[:500]}))
        return 3
    except MemoryError:
        print(json.dumps({"type": "ModelLoadError", "error": "the file made the engine run out of memory"}))
        return 3
    print(json.dumps({"ok": True}))
    return 0


__all__ = ["check_in_child", "verdict_key", "trusted_by_environment", "ENV_TRUST"]

if __name__ == "__main__":
    sys.exit(main())
