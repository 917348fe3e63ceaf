"""Live annotated MJPEG views of ``--source`` streams.

A source runs only while someone watches: the first viewer starts a thread that drives ``model.stream``
(live: the newest frame wins when inference is slower than the source) and encodes each annotated frame
as JPEG; the last viewer leaving stops it. A video file is played at its own frame rate, in a loop.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import numpy as np

from .models import ServedModel

log = logging.getLogger(__name__)

BOUNDARY = "edgecvframe"
JPEG_QUALITY = 80


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
            log.warning("%s gives no frames", path)
            return


class StreamView:
    """One ``--source``: its model, the newest annotated JPEG, and the viewers' reference count."""

    def __init__(self, name: str, source: str, served: ServedModel) -> None:
        self.name, self.source, self.served = name, source, served
        self._cond = threading.Condition()
        self._jpeg: Optional[bytes] = None
        self._seq = 0
        self._viewers = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.error: Optional[str] = None
        self.frames = 0

    def describe(self) -> Dict[str, Any]:
        return {"name": self.name, "model": self.served.name, "url": f"/v1/streams/{self.name}.mjpg",
                "viewers": self._viewers, "frames": self.frames, "error": self.error}

    def _run(self) -> None:
        import cv2

        src: Any = self.source
        if Path(self.source).is_file():
            src = _looped_file(self.source, self._stop)
        try:
            stream = self.served.model.stream(src, live=True, track=True)
            with stream:
                for item in stream:
                    if self._stop.is_set():
                        break
                    image = item.result.draw(item.frame)
                    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                    if ok:
                        with self._cond:
                            self._jpeg, self._seq = buf.tobytes(), self._seq + 1
                            self.frames += 1
                            self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - a dead camera is reported on the page, the service lives on
            self.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            log.warning("stream %s stopped: %s", self.name, self.error)
        finally:
            with self._cond:
                self._cond.notify_all()

    def _join(self) -> None:
        with self._cond:
            self._viewers += 1
            if self._thread is None or not self._thread.is_alive():
                self._stop = threading.Event()
                self.error = None
                self._thread = threading.Thread(target=self._run, name=f"edgecv-mjpeg-{self.name}", daemon=True)
                self._thread.start()

    def _leave(self) -> None:
        with self._cond:
            self._viewers -= 1
            if self._viewers == 0:
                self._stop.set()

    def frames_for_viewer(self, stop: threading.Event, timeout: float = 1.0) -> Iterator[bytes]:
        """multipart/x-mixed-replace parts, one per new annotated frame, until ``stop`` or the source ends."""
        self._join()
        try:
            seen = last = -1
            while not stop.is_set():
                with self._cond:
                    self._cond.wait_for(lambda: self._seq != seen or self.error is not None
                                        or not (self._thread and self._thread.is_alive()), timeout)
                    jpeg, seen = self._jpeg, self._seq
                    ended = self.error is not None or not (self._thread and self._thread.is_alive())
                if jpeg is not None and seen != last:
                    last = seen
                    yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                           ).encode() + jpeg + b"\r\n"
                if ended:
                    return
        finally:
            self._leave()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
