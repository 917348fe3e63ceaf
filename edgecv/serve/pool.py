"""The bounded inference pool: worker threads off the event loop, and admission control.

At most ``max_queue`` requests are admitted (running or waiting); one more is refused at once with
``Busy`` (HTTP 503 + Retry-After) instead of queueing without limit. Engines release the GIL, so threads
run inference in parallel; engines that are not re-entrant take their own lock.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ..errors import EdgecvError


class Busy(EdgecvError):
    """The service has ``max_queue`` requests in hand; ``retry_after`` is a guess in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InferencePool:
    def __init__(self, workers: int, max_queue: int) -> None:
        self.workers = workers
        self.max_queue = max_queue
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="edgecv-serve")
        self._lock = threading.Lock()
        self.depth = 0
        self._mean = 0.05  # seconds per request, moving average (for Retry-After)

    def _admit(self) -> None:
        with self._lock:
            if self.depth >= self.max_queue:
                wait = math.ceil(self.depth * self._mean / self.workers)
                raise Busy(f"the service is busy ({self.depth} requests in hand, --max-queue {self.max_queue}); "
                           "retry later", max(1, wait))
            self.depth += 1

    def _done(self, seconds: float) -> None:
        with self._lock:
            self.depth -= 1
            self._mean = 0.9 * self._mean + 0.1 * seconds

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on a worker thread; Busy when ``max_queue`` requests are already in hand."""
        self._admit()

        def job() -> Any:  # the books are kept by the thread: a client that hangs up does not free a slot early
            start = time.perf_counter()
            try:
                return fn()
            finally:
                self._done(time.perf_counter() - start)

        try:
            future = self._executor.submit(job)
        except RuntimeError:  # shutting down
            self._done(0.0)
            raise Busy("the service is shutting down", 5) from None
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
