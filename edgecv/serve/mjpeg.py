"""Live annotated MJPEG views of ``--source`` streams.

A source runs only while someone watches: the first viewer starts a thread that drives ``model.stream``
(live: the newest frame wins when inference is slower than the source) and encodes each annotated frame
as JPEG; the last viewer leaving stops it. A video file is played at its own frame rate, in a loop.

Viewers are objects with an idempotent, synchronous ``close()``: the endpoint calls it in a ``finally`` that
runs even when the client's disconnect cancels the response, so a viewer that hangs up is always counted out
and an unwatched source stops. A source that cannot be opened (a dead camera, an unreachable URL) fails the
viewer's start with :class:`SourceError` (HTTP 503 with the reason) instead of an empty 200.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import numpy as np

from ..errors import EdgecvError, SourceError
from .models import ServedModel

log = logging.getLogger(__name__)

BOUNDARY = "edgecvframe"
JPEG_QUALITY = 80
#: A viewer's start waits this long beyond the source timeout for the first annotated frame.
FIRST_FRAME_GRACE = 20.0


def _looped_file(path: str, stop: threading.Event) -> Iterator[np.ndarray]:
    """Frames of a video file at its frame rate, from the start again at its end."""
    import cv2

    while not stop.is_set():
        cap = cv2.VideoCapture(path)
        period = 1.0 / (cap.get(cv2.CAP_PROP_FPS) or 25.0)
        shown = 0
        next_at = time.monotonic()
        while not stop.is_set():
            ok, frame = cap.read()
            if not ok:
                break
            shown += 1
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))
            yield frame
        cap.release()
        if not shown:
            raise SourceError(f"video file {path} gives no frames")


def _part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


class StreamView:
    """One ``--source``: its model, the newest annotated JPEG, and the viewers' reference count."""

    def __init__(self, name: str, source: str, served: ServedModel, timeout: float = 10.0) -> None:
        self.name, self.source, self.served, self.timeout = name, source, served, timeout
        self._cond = threading.Condition()
        self._jpeg: Optional[bytes] = None
        self._seq = 0
        self._viewers = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.error: Optional[str] = None
        self.frames = 0

    @property
    def viewers(self) -> int:
        return self._viewers

    def describe(self) -> Dict[str, Any]:
        return {"name": self.name, "model": self.served.name, "url": f"/v1/streams/{self.name}.mjpg",
                "viewers": self._viewers, "frames": self.frames, "error": self.error}

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self, stop: threading.Event) -> None:
        import cv2

        src: Any = self.source
        if Path(self.source).is_file():
            src = _looped_file(self.source, stop)
        try:
            with self.served.model.stream(src, live=True, track=True, timeout=self.timeout) as stream:
                for item in stream:
                    if stop.is_set():
                        break
                    ok, buf = cv2.imencode(".jpg", item.result.draw(item.frame), [cv2.IMWRITE_JPEG_QUALITY,
                                                                                    JPEG_QUALITY])
                    if ok:
                        with self._cond:
                            self._jpeg, self._seq = buf.tobytes(), self._seq + 1
                            self.frames += 1
                            self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - a dead camera is reported to viewers, the service lives on
            text = " ".join(str(exc).split())
            with self._cond:
                self.error = text if isinstance(exc, EdgecvError) else f"{type(exc).__name__}: {text}"
            log.warning("stream %s stopped: %s", self.name, self.error)
        finally:
            with self._cond:
                self._cond.notify_all()

    def open_viewer(self) -> "Viewer":
        """Join the viewers (starting the source if nobody watched) and wait for the first frame; SourceError
        (the viewer already counted out) when the source fails before giving one."""
        old = self._thread
        if old is not None and old.is_alive() and self._stop.is_set():  # the last viewer just left: let it stop
            old.join(5.0)
        with self._cond:
            self._viewers += 1
            if not self._running():
                self._stop = threading.Event()
                self.error, self._jpeg = None, None
                self._thread = threading.Thread(target=self._run, args=(self._stop,), daemon=True,
                                                name=f"edgecv-mjpeg-{self.name}")
                self._thread.start()
        viewer = Viewer(self)
        with self._cond:
            self._cond.wait_for(lambda: self._jpeg is not None or self.error is not None or not self._running(),
                                self.timeout + FIRST_FRAME_GRACE)
            error = self.error or (None if self._jpeg is not None else (
                "the source ended before its first frame" if not self._running() else
                f"no frame within {self.timeout + FIRST_FRAME_GRACE:g} s"))
        if error is not None:
            viewer.close()
            raise SourceError(f"stream {self.name}: {error}")
        return viewer

    def _leave(self) -> None:
        with self._cond:
            self._viewers -= 1
            if self._viewers == 0:
                self._stop.set()
            self._cond.notify_all()

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5.0)


class Viewer:
    """One watcher of a StreamView: ``next_part`` gives multipart parts of new frames; ``close`` (idempotent,
    never blocks) counts it out."""

    ENDED = b""

    def __init__(self, view: StreamView) -> None:
        self.view = view
        self._last = -1
        self._closed = False
        self._lock = threading.Lock()

    def next_part(self, wait: float = 1.0) -> Optional[bytes]:
        """The next new frame as a multipart part; None if none came within ``wait`` s; ``Viewer.ENDED`` when the
        source stopped or the viewer was closed."""
        view = self.view
        with view._cond:
            view._cond.wait_for(lambda: self._closed or view._seq != self._last or view.error is not None
                                or not view._running(), wait)
            if self._closed or view.error is not None or (not view._running() and view._seq == self._last):
                return self.ENDED
            if view._seq == self._last or view._jpeg is None:
                return None
            self._last = view._seq
            return _part(view._jpeg)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.view._leave()


__all__ = ["BOUNDARY", "StreamView", "Viewer"]
