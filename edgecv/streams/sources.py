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

from ..errors import ImageReadError, InvalidInputError, SourceError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mjpeg",
                  ".mjpg", ".3gp")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
URL = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp)://", re.I)
CAMERA = re.compile(r"^(camera:(\d+)|/dev/video(\d+))$")
#: reconnection delays of a dropped live URL, seconds (then the last one repeats)
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)

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


def _capture(target: Union[int, str]):
    """cv2.VideoCapture; a camera index goes to the default backend (V4L2), files and URLs to FFmpeg."""
    import cv2

    return cv2.VideoCapture(target) if isinstance(target, int) else cv2.VideoCapture(target, cv2.CAP_FFMPEG)


class VideoSource(Source):
    """A video file, a camera (index or /dev/videoN) or an RTSP/HTTP URL, through OpenCV (FFmpeg, V4L2)."""

    def __init__(self, target: Union[int, str], live: bool, reconnect: bool = False, max_reconnects: Optional[int] = None):
        import cv2

        self.name, self.live, self.reconnect = str(target), live, reconnect
        self.max_reconnects = max_reconnects
        self._target = target
        self._cap = _capture(target)
        kind = "camera" if isinstance(target, int) else ("stream" if live else "video file")
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"cannot open {kind} {target}" + (" (missing or not a video?)" if kind == "video file" else ""))
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
            self._cap = _capture(self._target)

    def close(self) -> None:
        self._cap.release()


class ImageSequenceSource(Source):
    """Image files from a folder (sorted, natural order) or a glob pattern."""

    def __init__(self, paths: List[Path], name: str):
        if not paths:
            raise SourceError(f"no images in {name} (looked for {', '.join(IMAGE_SUFFIXES)})")
        self.paths, self.name, self.count = paths, name, len(paths)

    def frames(self) -> Iterator[Frame]:
        from ..image import read_image

        for index, path in enumerate(self.paths):
            try:
                frame = read_image(path)
            except ImageReadError as exc:
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
    return str(path)


def _natural(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def is_stream_source(text: str) -> bool:
    """Whether a command-line input is a stream (video file, camera, URL, folder, glob) rather than an image."""
    if URL.match(text) or CAMERA.match(text) or text.isdigit():
        return True
    path = Path(text)
    return path.suffix.lower() in VIDEO_SUFFIXES or path.is_dir() or any(c in text for c in "*?[")


def open_source(source: Any, *, live: Optional[bool] = None, reconnect: bool = False) -> Source:
    """The Source for ``source``: a video path, a camera (``0``, ``"camera:0"``, ``"/dev/video0"``), an RTSP/HTTP
    URL, an image folder or glob, or an iterable of frames. (Scenes come from the MVS model: SceneSource.)"""
    if isinstance(source, Source):
        return source
    if isinstance(source, bool):
        raise InvalidInputError("source must be a path, a camera index, a URL or an iterable of frames")
    if isinstance(source, int):
        return VideoSource(source, live=True if live is None else live)
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        m = CAMERA.match(text)
        if m or text.isdigit():
            return VideoSource(int(m.group(2) or m.group(3)) if m else int(text), live=True if live is None else live)
        if URL.match(text):
            return VideoSource(text, live=True if live is None else live, reconnect=reconnect)
        path = Path(text).expanduser()
        if path.is_dir():
            files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=_natural)
            return ImageSequenceSource(files, str(path))
        if any(c in text for c in "*?["):
            files = sorted((Path(p) for p in glob.glob(text) if Path(p).suffix.lower() in IMAGE_SUFFIXES), key=_natural)
            return ImageSequenceSource(files, text)
        if not path.is_file():
            raise SourceError(f"video file not found: {path}")
        return VideoSource(str(path), live=bool(live))
    if hasattr(source, "__iter__") and not isinstance(source, (bytes, dict)):
        return IterableSource(source, live=bool(live))
    raise InvalidInputError(f"cannot stream from {type(source).__name__}: give a video path, a camera, a URL, an image "
                            "folder or glob, or an iterable of frames")
