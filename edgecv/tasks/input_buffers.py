"""Network input arrays reused from call to call by ``detect()`` and streams (a bounded pool per model).

A 640x640 input is 4.9 MB of float32. Writing it into an array that already holds the same padding skips the
padding (31-43 % of the bytes for landscape photos). Only calls that own the whole prepare -> engine sequence
borrow (``TaskModel.run_engine``): the array goes back once the engine has returned, so the arrays of
``prepare()``, which callers keep, are never reused. The arrays come from the engine (``Engine.new_input``): MNN's are
its own host tensors' memory, which it then reads without the copy its documented call makes.
"""

from __future__ import annotations

import threading
from typing import Callable, Hashable, List, Optional, Tuple

import numpy as np


class InputBuffer:
    """One reusable float32 array and the padding it holds (``layout``: a key of everything that decides the
    padding's position and values; None when unknown, e.g. after a failed write)."""

    __slots__ = ("array", "layout")

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.layout: Optional[Hashable] = None

    def fill(self, layout: Hashable, write: Callable[..., np.ndarray]) -> np.ndarray:
        """``write(out=array, pad_written=...)``: pad_written when the array already holds the padding of ``layout``.
        The layout is unknown while writing (a write that fails leaves it so), ``layout`` once it has finished."""
        written, self.layout = self.layout == layout, None
        result = write(out=self.array, pad_written=written)
        self.layout = layout
        return result


class Lease:
    """The buffer one call uses (taken on first :meth:`get`), a context manager that gives it back to the pool."""

    def __init__(self, pool: "InputBuffers") -> None:
        self._pool = pool
        self.buffer: Optional[InputBuffer] = None

    def get(self, shape: Tuple[int, ...]) -> InputBuffer:
        """An idle buffer of ``shape`` from the pool, or a new one (a buffer of another shape held so far goes
        back to the pool)."""
        if self.buffer is None or self.buffer.array.shape != shape:
            if self.buffer is not None:
                self._pool._give(self.buffer)
            self.buffer = self._pool._take(shape)
        return self.buffer

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.buffer is not None:
            self._pool._give(self.buffer)


class InputBuffers:
    """A thread-safe pool of at most ``keep`` idle :class:`InputBuffer` s; concurrent callers each get their own
    (created on demand by ``allocate(shape)``, e.g. :meth:`edgecv.engines.Engine.new_input`), the oldest idle ones
    are dropped beyond ``keep``."""

    def __init__(self, keep: int = 2, allocate: Optional[Callable[[Tuple[int, ...]], np.ndarray]] = None) -> None:
        self._keep = keep
        self._allocate = allocate or (lambda shape: np.empty(shape, np.float32))
        self._idle: List[InputBuffer] = []
        self._lock = threading.Lock()

    def borrow(self) -> Lease:
        """A :class:`Lease` (``with pool.borrow() as lease``) whose buffer returns to the pool on exit."""
        return Lease(self)

    def _give(self, buffer: InputBuffer) -> None:
        with self._lock:
            self._idle.append(buffer)
            del self._idle[:-self._keep]

    def _take(self, shape: Tuple[int, ...]) -> InputBuffer:
        with self._lock:
            for i in range(len(self._idle) - 1, -1, -1):
                if self._idle[i].array.shape == shape:
                    return self._idle.pop(i)
        return InputBuffer(self._allocate(shape))

    def __len__(self) -> int:
        return len(self._idle)
