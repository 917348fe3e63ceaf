"""Where stream frames come from: video files, cameras, RTSP/HTTP URLs, image folders or globs, scenes (MVS)
and any Python iterable of frames. Each source yields ``(index, frame, captured_at)``; live sources (cameras,
URLs) may drop frames when inference is slower than they are."""

from __future__ import annotations

import glob
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Tuple, Union

from ..errors import EdgecvError, InvalidInputError, SourceError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mjpeg",
                  ".mjpg", ".3gp")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
URL = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp)://", re.I)
CAMERA = re.compile(r"^(camera:(\d+)|/dev/video(\d+))$", re.ASCII)
#: reconnection delays of a dropped live URL, seconds (then the last one repeats)
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)
#: seconds a URL source may take to open, or between two frames, before it is a SourceError (``timeout=``)
DEFAULT_TIMEOUT = 10.0
#: camera indices accepted (OpenCV's V4L2 backend crashes on negative ones and overflows on huge ones)
MAX_CAMERA_INDEX = 255

Frame = Tuple[int, Any, float]


class Source:
    """A frame source. ``frames()`` yields (index in the source, frame, time.monotonic() when read)."""

    name: str = ""
    live: bool = False
    fps: Optional[float] = None
    count: Optional[int] = None  # frames in the source when known (files)

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def camera_index(value: Any) -> int:
    """A camera index in [0, MAX_CAMERA_INDEX]; InvalidInputError otherwise (checked before OpenCV sees it)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAMERA_INDEX:
        raise InvalidInputError(f"a camera index must be a whole number in [0, {MAX_CAMERA_INDEX}], got {value!r:.40}")
    return value


def check_timeout(timeout: Any) -> float:
    """A source timeout in seconds, in (0, 3600]."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < float(timeout) <= 3600:
        raise InvalidInputError(f"timeout must be a number of seconds in (0, 3600], got {timeout!r:.40}")
    return float(timeout)


def _capture(target: Union[int, str], timeout: float = DEFAULT_TIMEOUT):
    """cv2.VideoCapture; a camera index goes to the default backend (V4L2), files and URLs to FFmpeg with open and
    read timeouts (OpenCV's own default is 30 s)."""
    import cv2

    if isinstance(target, int):
        return cv2.VideoCapture(camera_index(target))
    ms = int(timeout * 1000)
    return cv2.VideoCapture(target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                                                     cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])


class VideoSource(Source):
    """A video file, a camera (index or /dev/videoN) or an RTSP/HTTP URL, through OpenCV (FFmpeg, V4L2)."""

    def __init__(self, target: Union[int, str], live: bool, reconnect: bool = False,
                 max_reconnects: Optional[int] = None, timeout: float = DEFAULT_TIMEOUT,
                 max_pixels: Optional[int] = None):
        import cv2

        from ..image import check_pixels

        self.name, self.live, self.reconnect = str(target), live, reconnect
        self.max_reconnects = max_reconnects
        self._target = target
        self.timeout = check_timeout(timeout)
        kind = "camera" if isinstance(target, int) else ("stream" if live else "video file")
        self._cap = _capture(target, self.timeout)
        if not self._cap.isOpened():
            self._cap.release()
            why = " (missing or not a video?)" if kind == "video file" else (
                f" (no answer within {self.timeout:g} s, or not a video stream)" if kind == "stream" else "")
            raise SourceError(f"cannot open {kind} {target}{why}")
        width, height = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        try:  # frames over the pixel limit would be decoded whole on every read
            check_pixels(width, height, f"{kind} {target}", max_pixels)
        except EdgecvError as exc:
            self._cap.release()
            raise SourceError(str(exc)) from None
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.count = count if count > 0 and not live else None
        self._kind = kind

    def frames(self) -> Iterator[Frame]:
        index, failures = 0, 0
        while True:
            ok, frame = self._cap.read()
            now = time.monotonic()
            if ok and frame is not None:
                failures = 0
                yield index, frame, now
                index += 1
                continue
            if not self.live:
                if index == 0:
                    raise SourceError(f"cannot decode any frame of video file {self.name} (corrupt or empty?)")
                return
            if not self.reconnect or (self.max_reconnects is not None and failures >= self.max_reconnects):
                raise SourceError(f"{self._kind} {self.name} stopped sending frames after {index} frames"
                                  + ("" if not self.reconnect else f" ({failures} reconnections failed)"))
            delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
            failures += 1
            log.warning("%s %s dropped; reconnecting in %.1f s (attempt %d)", self._kind, self.name, delay, failures)
            time.sleep(delay)
            self._cap.release()
            self._cap = _capture(self._target, self.timeout)

    def close(self) -> None:
        self._cap.release()


class ImageSequenceSource(Source):
    """Image files from a folder (sorted, natural order) or a glob pattern."""

    def __init__(self, paths: List[Path], name: str, max_pixels: Optional[int] = None):
        if not paths:
            raise SourceError(f"no images in {name} (looked for {', '.join(IMAGE_SUFFIXES)})")
        self.paths, self.name, self.count = paths, name, len(paths)
        self.max_pixels = max_pixels

    def frames(self) -> Iterator[Frame]:
        from ..image import read_image

        for index, path in enumerate(self.paths):
            try:
                frame = read_image(path, self.max_pixels)
            except EdgecvError as exc:
                raise SourceError(f"{name_of(path)}: {exc}") from None
            yield index, frame, time.monotonic()


class IterableSource(Source):
    """Any iterable of frames (numpy arrays in the stream's ``format``)."""

    def __init__(self, frames: Iterable[Any], live: bool, fps: Optional[float] = None):
        self._frames, self.live, self.fps, self.name = frames, live, fps, type(frames).__name__
        self.count = len(frames) if hasattr(frames, "__len__") else None  # type: ignore[arg-type]

    def frames(self) -> Iterator[Frame]:
        for index, frame in enumerate(self._frames):
            yield index, frame, time.monotonic()


class SceneSource(Source):
    """Reference views of a multi-view scene: each item is (view index, the scene)."""

    def __init__(self, scene: Any, refs: Optional[List[int]] = None):
        self.scene, self.refs = scene, list(refs if refs is not None else scene.views)
        self.name, self.count = str(getattr(scene, "root", "scene")), len(self.refs)

    def frames(self) -> Iterator[Frame]:
        for ref in self.refs:
            yield ref, self.scene, time.monotonic()


def name_of(path: Path) -> str:
    """A path as text that prints anywhere (undecodable bytes of a file name escaped)."""
    return printable(str(path))


def printable(text: str) -> str:
    """``text`` with the lone surrogates of undecodable file-name bytes written as ``\\xNN`` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _number(text: str) -> bool:
    """ASCII digits only ("²" and other Unicode digits are not camera numbers)."""
    return text.isascii() and text.isdigit()


def _natural(path: Path) -> list:
    return [int(t) if _number(t) else t.lower() for t in re.split(r"([0-9]+)", path.name)]


def is_stream_source(text: str) -> bool:
    """Whether a command-line input is a stream (video file, camera, URL, folder, glob) rather than an image."""
    if URL.match(text) or CAMERA.match(text) or _number(text):
        return True
    path = Path(text)
    return path.suffix.lower() in VIDEO_SUFFIXES or path.is_dir() or any(c in text for c in "*?[")


def open_source(source: Any, *, live: Optional[bool] = None, reconnect: bool = False,
                timeout: float = DEFAULT_TIMEOUT, max_pixels: Optional[int] = None) -> Source:
    """The Source for ``source``: a video path, a camera (``0``, ``"camera:0"``, ``"/dev/video0"``), an RTSP/HTTP
    URL, an image folder or glob, or an iterable of frames. (Scenes come from the MVS model: SceneSource.)
    ``timeout``: seconds a URL may take to open or between frames; ``max_pixels``: largest frame or image."""
    timeout = check_timeout(timeout)
    if isinstance(source, Source):
        return source
    if isinstance(source, bool):
        raise InvalidInputError("source must be a path, a camera index, a URL or an iterable of frames")
    if isinstance(source, int):
        return VideoSource(camera_index(source), live=True if live is None else live, max_pixels=max_pixels)
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        m = CAMERA.match(text)
        if m or _number(text):
            index = int(m.group(2) or m.group(3)) if m else int(text)
            return VideoSource(camera_index(index), live=True if live is None else live, max_pixels=max_pixels)
        if URL.match(text):
            return VideoSource(text, live=True if live is None else live, reconnect=reconnect, timeout=timeout,
                               max_pixels=max_pixels)
        path = Path(text).expanduser()
        if path.is_dir():
            files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                           key=_natural)
            return ImageSequenceSource(files, name_of(path), max_pixels)
        if any(c in text for c in "*?["):
            files = sorted((Path(p) for p in glob.glob(text) if Path(p).suffix.lower() in IMAGE_SUFFIXES), key=_natural)
            return ImageSequenceSource(files, printable(text), max_pixels)
        if not path.is_file():
            raise SourceError(f"video file not found: {name_of(path)}")
        return VideoSource(str(path), live=bool(live), timeout=timeout, max_pixels=max_pixels)
    if hasattr(source, "__iter__") and not isinstance(source, (bytes, dict)):
        return IterableSource(source, live=bool(live))
    raise InvalidInputError(f"cannot stream from {type(source).__name__}: give a video path, a camera, a URL, an image "
                            "folder or glob, or an iterable of frames")
