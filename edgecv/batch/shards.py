"""The Parquet dataset a batch run writes: shards written atomically, the run's settings, what is done.

Layout of ``--out``::

    _edgecv_batch.json          the run's model, engine, task and options (a resumed run must match them)
    .edgecv_batch.lock          locked by the run writing now (a second run at the same time is refused)
    part-<time>-<n>-<id>.parquet   complete shards, one row per finished item (columns: holder.COLUMNS)
    .part-....parquet.<pid>.part-*  a shard being written (renamed into place when complete; removed if stale)

A shard becomes visible only by an atomic rename after it is fsynced, so a run killed at any moment
leaves complete shards only; a resumed run reads their ``key`` column and skips those items. Readers
(pyarrow.dataset, pandas, DuckDB, Spark) ignore the ``_``/``.`` files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Set

from ..errors import FeatureNotInstalledError, InvalidInputError, OutputWriteError
from ..fileio import atomic_path, write_text
from .holder import COLUMNS

log = logging.getLogger(__name__)

RUN_FILE = "_edgecv_batch.json"
#: Held (flock) by the run writing into the folder; the OS releases it when that process ends, SIGKILL included.
LOCK_FILE = ".edgecv_batch.lock"
SHARD_ROWS = 256        # rows per shard at most
SHARD_SECONDS = 10.0    # a shard is written at least this often while rows come in
#: Settings a resumed run must share with the rows already written.
RUN_FIELDS = ("model", "engine", "task", "options", "every")


def pyarrow():
    """The pyarrow module, or FeatureNotInstalledError naming the extra."""
    try:
        import pyarrow as pa
        import pyarrow.parquet
    except ImportError as exc:
        raise FeatureNotInstalledError("edgecv batch writes Parquet with pyarrow, which is not installed: "
                                       "pip install 'edgecv[batch]' (or pip install pyarrow)") from exc
    return pa


def schema():
    pa = pyarrow()
    types = {"key": pa.string(), "path": pa.string(), "member": pa.string(), "frame": pa.int64(),
             "ok": pa.bool_(), "error": pa.string(), "count": pa.int32(), "result": pa.string(),
             "task": pa.string(), "model": pa.string(), "engine": pa.string(), "elapsed_ms": pa.float64()}
    return pa.schema([(c, types[c]) for c in COLUMNS])


def shard_files(out: Path) -> List[Path]:
    return sorted(p for p in out.glob("part-*.parquet") if p.is_file())


def check_run(out: Path, settings: Mapping[str, Any]) -> None:
    """Create ``out`` and its run file, or check that a previous run there used the same settings."""
    if out.exists() and not out.is_dir():
        raise OutputWriteError(f"--out {out} is a file, not a folder")
    run_file = out / RUN_FILE
    if run_file.is_file():
        try:
            before = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"{run_file} is unreadable ({exc}); move it away to start a new run") from exc
        differ = [f for f in RUN_FIELDS if before.get(f) != settings.get(f)]
        if differ:
            f = differ[0]
            raise InvalidInputError(f"{out} holds results of another run ({f} {before.get(f)!r}, now "
                                    f"{settings.get(f)!r}); use another --out to keep both")
        return
    if out.is_dir() and shard_files(out):
        raise InvalidInputError(f"{out} holds Parquet shards but no {RUN_FILE}: not an edgecv batch folder, "
                                "use another --out")
    write_text(run_file, json.dumps(dict(settings), indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for one run: a second run into the same folder at the same time is refused with
    OutputWriteError naming the process that holds it (two runs would write every item twice)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputWriteError(f"cannot write into {out}: {exc.strerror or exc}") from exc
    try:
        try:
            import fcntl as locking
        except ImportError:  # pragma: no cover - not POSIX: no lock (documented)
            locking = None  # type: ignore[assignment]
        if locking is not None:
            try:
                locking.flock(fd, locking.LOCK_EX | locking.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "another process"
                raise OutputWriteError(f"another edgecv batch run (pid {holder}) is writing into {out}: wait for it "
                                       "to end (re-running then resumes) or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def done_keys(out: Path) -> Set[str]:
    """Keys of the items in complete shards. A shard that cannot be read (copied half-way by hand, disk
    damage) is renamed ``*.unreadable`` (kept, never deleted) and its items are done again."""
    pq = pyarrow().parquet
    keys: Set[str] = set()
    for shard in shard_files(out):
        try:
            keys.update(pq.read_table(shard, columns=["key"]).column("key").to_pylist())
        except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError and others
            aside = shard.with_name(shard.name + ".unreadable")
            log.warning("%s cannot be read (%s); renamed to %s and its items will be done again", shard, exc,
                        aside.name)
            os.replace(shard, aside)
    return keys


class ShardWriter:
    """Buffers rows and writes them as shards of at most ``shard_rows`` rows, at least every SHARD_SECONDS."""

    def __init__(self, out: Path, shard_rows: int = SHARD_ROWS) -> None:
        self.out = out
        self.shard_rows = shard_rows
        self.rows: List[Dict[str, Any]] = []
        self.written = 0
        self.shards = 0
        self._since = time.monotonic()
        self._run = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"

    def add(self, rows: List[Dict[str, Any]]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= self.shard_rows or time.monotonic() - self._since >= SHARD_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._since = time.monotonic()
        while self.rows:
            chunk, self.rows = self.rows[:self.shard_rows], self.rows[self.shard_rows:]
            self._write(chunk)

    def _write(self, rows: List[Dict[str, Any]]) -> None:
        pa = pyarrow()
        table = pa.Table.from_pylist(rows, schema=schema())
        target = self.out / f"part-{self._run}-{self.shards:05d}.parquet"
        with atomic_path(target) as tmp:
            try:
                pa.parquet.write_table(table, tmp, compression="zstd")
            except OSError as exc:
                raise OutputWriteError(f"cannot write {target}: {exc}") from exc
        self.shards += 1
        self.written += len(rows)


def read_results(out: os.PathLike, columns: Optional[List[str]] = None):
    """The rows of a batch folder as one pyarrow Table, sorted by path, member and frame."""
    pq = pyarrow().parquet
    shards = shard_files(Path(out))
    if not shards:
        return pyarrow().Table.from_pylist([], schema=schema()).select(columns or list(COLUMNS))
    table = pyarrow().concat_tables([pq.read_table(s, columns=columns) for s in shards])
    keys = [(k, "ascending") for k in ("path", "member", "frame") if columns is None or k in columns]
    return table.sort_by(keys) if keys else table
