"""Atomic file writes: write a temporary file in the target's folder, flush it to disk, rename it over
the target. A reader sees the old file or the new one, never half of one; a failed write raises
:class:`OutputWriteError` and leaves no temporary file behind. Temporary names are hidden and carry the
writer's pid (``.<name>.<pid>.part-XXXX<suffix>``): leftovers of a killed writer are removed by the next
write to the same target."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Union

from .errors import OutputWriteError

PathLike = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def atomic_path(target: PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target`` (same suffix unless given, so tools that pick a format
    by suffix still work); on success it replaces ``target``. Any failure removes it and raises
    OutputWriteError (OSError) naming ``target``."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target.parent, f".{target.name}.")
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.part-",
                                        suffix=suffix or target.suffix)
        os.close(fd)
    except OSError as exc:
        raise OutputWriteError(f"cannot write {target}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        yield tmp  # the caller's errors propagate unchanged (the temporary file is removed)
        try:
            if not tmp.is_file():
                raise OutputWriteError(f"cannot write {target}: nothing was written")
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            # mkstemp makes 0600 files: keep an existing target's mode, else the usual 0644.
            os.chmod(tmp, target.stat().st_mode & 0o7777 if target.exists() else 0o644)
            os.replace(tmp, target)
        except OSError as exc:
            if isinstance(exc, OutputWriteError):
                raise
            raise OutputWriteError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale(folder: Path, prefix: str) -> None:
    """Remove ``<prefix><pid>.*`` files and folders in ``folder`` whose writer process is gone."""
    import shutil

    try:
        entries = [e for e in folder.iterdir() if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(prefix):].split(".", 1)[0].split("-", 1)[0]
        if pid.isascii() and pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()


def write_with(target: PathLike, writer: Callable[[BinaryIO], object]) -> Path:
    """Atomically write ``target`` through ``writer(file_object)``; OSErrors (disk full...) become
    OutputWriteError."""
    with atomic_path(target) as tmp:
        try:
            with open(tmp, "wb") as f:
                writer(f)
        except OutputWriteError:
            raise
        except OSError as exc:
            raise OutputWriteError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return Path(target)


def write_bytes(target: PathLike, data: bytes) -> Path:
    """Atomically write ``data`` to ``target``."""
    return write_with(target, lambda f: f.write(data))


def write_text(target: PathLike, text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``target``."""
    return write_bytes(target, text.encode("utf-8"))
