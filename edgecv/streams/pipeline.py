"""The stream pipeline: three stages on threads with bounded queues.

    read/decode  ->  prepare + engine  ->  post-process + track  ->  your loop

Decoding (OpenCV), the engines and the C++ post-processing release the GIL, so the stages overlap. A file is
never dropped from: every frame comes out, in order. A live source (cameras, URLs, or ``live=True``) keeps only
the newest frame while the engine is busy, so latency stays bounded; ``frames_dropped`` says how many were
skipped. ``close()`` (also on leaving a ``with`` block, breaking out of the loop, or Ctrl-C) stops the reader,
joins every thread and releases the source.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Optional

from .sources import Source

log = logging.getLogger(__name__)
_END = object()
_POLL = 0.05  # seconds between checks of the stop flag while waiting


@dataclass
class StreamItem:
    """One processed frame: ``index`` (frame number in the source), ``result`` (the task's result, in the frame's
    coordinates), ``captured_at`` / ``done_at`` (``time.monotonic()`` when the frame was read / its result was
    ready) and the frame itself (``frame``: BGR, as given; ``raw``: in the stream's format)."""

    index: int
    result: Any
    captured_at: float
    done_at: float
    raw: Any = field(repr=False, default=None)
    #: the frames' pixel format; None when the inputs are not frames (scene views): ``frame`` is then the result's
    #: own picture (a depth map's reference image)
    format: Optional[str] = "bgr"
    _bgr: Any = field(repr=False, default=None)

    @property
    def frame(self):
        """The decoded frame as BGR (H, W, 3), in its stored orientation (converted once, on first use)."""
        if self._bgr is None:
            if self.format is None:  # not a frame stream (views): the picture the result carries
                self._bgr = self.result.image
            else:
                from ..frames import to_bgr

                self._bgr = to_bgr(self.raw, self.format)
        return self._bgr

    @property
    def latency(self) -> float:
        """Seconds from reading the frame to its result (frame age)."""
        return self.done_at - self.captured_at


class _Latest:
    """A one-slot buffer that keeps only the newest item (live sources); counts what it replaced."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._full = False
        self._ended = False
        self.dropped = 0

    def put(self, item: Any, stop: threading.Event) -> bool:
        with self._cond:
            if item is _END:
                self._ended = True
            else:
                self.dropped += int(self._full)
                self._item, self._full = item, True
            self._cond.notify()
        return True

    def get(self, stop: threading.Event) -> Any:
        with self._cond:
            while not self._full:
                if stop.is_set() or self._ended:
                    return _END
                self._cond.wait(_POLL)
            item, self._item, self._full = self._item, None, False
            return item


class _Bounded:
    """A bounded FIFO whose put/get give up when the stream stops."""

    def __init__(self, size: int) -> None:
        self._q: "queue.Queue[Any]" = queue.Queue(maxsize=size)
        self.dropped = 0

    def put(self, item: Any, stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                self._q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def get(self, stop: threading.Event) -> Any:
        while True:
            try:
                return self._q.get(timeout=_POLL)
            except queue.Empty:
                if stop.is_set():
                    return _END


class Stream:
    """A running stream over ``source`` for ``model`` (any task model: prepare / infer / postprocess).
    Iterate it for :class:`StreamItem` objects; use it as a context manager or call ``close()``."""

    def __init__(self, model: Any, source: Source, *, options: Optional[Dict[str, Any]] = None,
                 item_options: Optional[Callable[[int], Dict[str, Any]]] = None, tracker: Any = None,
                 queue_size: int = 4, format: Optional[str] = "bgr") -> None:
        self.model, self.source, self.tracker = model, source, tracker
        self.options = dict(options or {})
        self._item_options = item_options or (lambda index: {})
        self.format = format
        self._stop = threading.Event()
        self._frames: Any = _Latest() if source.live else _Bounded(queue_size)
        self._prepared = _Bounded(max(1, queue_size // 2))
        self._out = _Bounded(queue_size)
        self.frames_read = 0
        self.frames_done = 0
        self.started_at = time.monotonic()
        self._last_size: Any = None
        self._failure: Optional[BaseException] = None
        stages = (("read", self._read, self._frames), ("infer", self._infer, self._prepared),
                  ("post", self._post, self._out))
        self._threads = [threading.Thread(target=self._guard(fn, queue), name=f"edgecv-stream-{name}", daemon=True)
                         for name, fn, queue in stages]
        for t in self._threads:
            t.start()

    # -- stages ----------------------------------------------------------------------------------
    def _guard(self, stage: Callable[[], None], downstream: Any) -> Callable[[], None]:
        """Run a stage; a failure ends the stream after the items already past it (the consumer re-raises it)."""
        def run() -> None:
            try:
                stage()
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
                if self._failure is None:
                    self._failure = exc
                downstream.put(_END, self._stop)
        return run

    def _read(self) -> None:
        for index, frame, captured_at in self.source.frames():
            if self._stop.is_set():
                return
            self.frames_read += 1
            self._frames.put((index, frame, captured_at), self._stop)
        self._frames.put(_END, self._stop)

    def _infer(self) -> None:
        while True:
            item = self._frames.get(self._stop)
            if item is _END:
                self._prepared.put(item, self._stop)
                return
            index, frame, captured_at = item
            outputs, prepared = self.model.run_engine(frame, **self.options, **self._item_options(index))
            if not self._prepared.put((index, frame, captured_at, prepared, outputs), self._stop):
                return

    def _post(self) -> None:
        while True:
            item = self._prepared.get(self._stop)
            if item is _END:
                self._out.put(_END, self._stop)
                return
            index, frame, captured_at, prepared, outputs = item
            result = self.model.postprocess(outputs, prepared)
            if self.tracker is not None:
                size = prepared.context.get("image_hw")
                if self._last_size is not None and size != self._last_size:
                    log.info("frame size changed from %s to %s: tracks restart", self._last_size, size)
                    self.tracker.reset()
                self._last_size = size
                result = self.tracker.update(result)
            out = StreamItem(index, result, captured_at, time.monotonic(), frame, self.format)
            if not self._out.put(out, self._stop):
                return

    # -- consumer --------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[StreamItem]:
        try:
            while True:
                item = self._out.get(self._stop)
                if item is _END:
                    if self._failure is not None:
                        raise self._failure
                    return
                self.frames_done += 1
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading, join the stage threads, release the source. Safe to call more than once."""
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=10)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("stream threads still busy after close(): %s", alive)
        self.source.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def frames_dropped(self) -> int:
        """Frames a live source skipped because inference was busy (0 for files)."""
        return self._frames.dropped

    @property
    def fps(self) -> float:
        """Frames processed per second since the stream started."""
        elapsed = time.monotonic() - self.started_at
        return self.frames_done / elapsed if elapsed > 0 else 0.0
