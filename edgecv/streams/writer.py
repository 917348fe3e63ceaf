"""Stream outputs: an annotated video written atomically (a hidden temporary file renamed when the stream ends,
also on Ctrl-C), and JSON Lines, one object per frame."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, TextIO, Tuple

import numpy as np

from ..errors import OutputWriteError
from ..fileio import remove_stale

#: container suffix -> FourCC that the OpenCV wheels can write everywhere
FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v"}


class VideoOutput:
    """Write BGR frames to ``path`` at ``fps``. The size is the first frame's; later frames of another size are
    resized to it. Nothing appears at ``path`` until :meth:`close` (a killed process leaves only a hidden
    temporary file, removed by the next write to the same path)."""

    def __init__(self, path: os.PathLike, fps: float) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in FOURCC:
            raise OutputWriteError(f"{self.path}: annotated videos are {', '.join(FOURCC)}")
        self.fps = float(fps) if fps and fps > 0 else 10.0
        self.size: Optional[Tuple[int, int]] = None
        self.frames = 0
        self._writer: Any = None
        self._tmp: Optional[Path] = None

    def write(self, frame: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            h, w = frame.shape[:2]
            self.size = (w, h)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                remove_stale(self.path.parent, f".{self.path.name}.")
                fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.{os.getpid()}.part-",
                                            suffix=self.path.suffix)
                os.close(fd)
            except OSError as exc:
                raise OutputWriteError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
            self._tmp = Path(name)
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter.fourcc(*FOURCC[self.path.suffix.lower()]),
                                           self.fps, self.size)
            if not self._writer.isOpened():
                self._discard()
                raise OutputWriteError(f"cannot write video {self.path} (no encoder for {self.path.suffix})")
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> Optional[Path]:
        """Finish the file and move it into place; returns its path (None when no frame was written)."""
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        try:
            if self._tmp is None or self._tmp.stat().st_size == 0:
                raise OSError("nothing was written")
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self._discard()
            raise OutputWriteError(f"cannot write video {self.path}: {getattr(exc, 'strerror', None) or exc}") from exc
        self._tmp = None
        return self.path

    def _discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __enter__(self) -> "VideoOutput":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def json_line(item: Any, fps: Optional[float], started_at: float) -> str:
    """One JSON Lines record: ``{"frame": i, "time_s": t, <the result's items>}``; ``time_s`` is the frame's time
    in the file (index / fps) or, for live sources, seconds since the stream started."""
    doc: Dict[str, Any] = {"frame": item.index,
                           "time_s": round(item.index / fps if fps else item.captured_at - started_at, 3)}
    result = item.result.to_dict()
    result.pop("task", None)
    doc.update(result)
    return json.dumps(doc, allow_nan=False)


def write_json_line(out: TextIO, item: Any, fps: Optional[float], started_at: float) -> None:
    out.write(json_line(item, fps, started_at) + "\n")
    out.flush()
