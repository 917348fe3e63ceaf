"""Keeping a native library's printf notices off stdout, without touching anyone else's output.

MNN's C++ code prints notices with ``printf`` (CPU features at import, "MNN use high precision", shape errors),
which would corrupt a program's own output (``edgecv detect --json``, a server's JSON lines). ``printf`` writes
through the C library's global ``stdout`` stream (a ``FILE *``); Python's ``print`` and ``sys.stdout`` write file
descriptor 1 directly and never go through it. So while MNN runs, edgecv points the C ``stdout`` stream at a
stream on a duplicate of stderr and back afterwards: fd 1 is never changed, and other threads' Python output
stays on stdout whatever MNN does meanwhile. Holders are counted under one lock (the first swaps, the last
restores), so concurrent MNN models cannot leave the stream swapped.

Where the C stream cannot be swapped (musl, whose ``stdout`` is a constant; Windows), the fallback points fd 1
itself at stderr around the call, which also diverts other threads' writes for that moment.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import platform
import sys
import threading
from typing import Any, Iterator, Optional

log = logging.getLogger(__name__)

_IONBF = 2  # setvbuf: unbuffered


def _c_stdout_symbol() -> Optional[Any]:
    """(libc, the ``FILE *`` variable printf writes through) where it can be swapped safely, else None."""
    if sys.platform.startswith("linux"):
        if platform.libc_ver()[0] != "glibc":
            return None
        name = "stdout"
    elif sys.platform == "darwin":
        name = "__stdoutp"
    else:
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        variable = ctypes.c_void_p.in_dll(libc, name)
        libc.fdopen.restype = ctypes.c_void_p
        libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
        libc.fflush.argtypes = [ctypes.c_void_p]
        libc.setvbuf.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t]
        return libc, variable
    except (OSError, ValueError, AttributeError) as exc:  # no such symbol in this C library
        log.debug("cannot reach the C stdout stream: %s", exc)
        return None


class NativeStdoutToStderr:
    """Re-entrant, thread-safe context manager: C-level ``printf`` output goes to stderr inside."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._saved: Optional[int] = None  # the C stdout pointer, or the saved fd 1 (fallback)
        self._c = _c_stdout_symbol()
        self._err_stream: Optional[int] = None

    @property
    def swaps_c_stream(self) -> bool:
        """True when fd 1 stays untouched (the C stream is swapped); False: the fd fallback."""
        return self._c is not None

    def _enter(self) -> None:
        if self._c is not None:
            libc, variable = self._c
            if self._err_stream is None:  # one stream on a duplicate of stderr, for the life of the process
                stream = libc.fdopen(os.dup(2), b"w")
                if not stream:
                    self._c = None
                    return self._enter()
                libc.setvbuf(stream, None, _IONBF, 0)
                self._err_stream = stream
            libc.fflush(variable.value)  # what C code already wrote keeps its place on stdout
            self._saved = variable.value
            variable.value = self._err_stream
            return
        try:
            sys.stdout.flush()
            saved = os.dup(1)
            os.dup2(2, 1)
            self._saved = saved
        except (OSError, ValueError, AttributeError):  # no usable fd 1 (embedded interpreters)
            self._saved = None

    def _leave(self) -> None:
        if self._saved is None:
            return
        if self._c is not None:
            libc, variable = self._c
            libc.fflush(self._err_stream)
            variable.value = self._saved
        else:
            os.dup2(self._saved, 1)
            os.close(self._saved)
        self._saved = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._enter()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    self._leave()


#: The one instance of this process (the C stream and fd 1 are process-wide).
native_stdout_to_stderr = NativeStdoutToStderr()

__all__ = ["native_stdout_to_stderr", "NativeStdoutToStderr"]
