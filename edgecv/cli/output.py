"""What commands print and write: JSON on stdout, images written atomically, progress bars on stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

from ..errors import OutputWriteError


def emit_json(doc: Any) -> None:
    json.dump(doc, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def write_image(path: Path, image) -> Path:
    """Encode by suffix and write atomically; OutputWriteError when either fails."""
    import cv2

    from ..fileio import write_bytes

    ok, buf = cv2.imencode(path.suffix or ".jpg", image)
    if not ok:
        raise OutputWriteError(f"cannot encode {path.name}")
    return write_bytes(path, buf.tobytes())


def progress_bar(total: Optional[int], unit: str, desc: str = ""):
    """A progress bar on stderr (tqdm), refreshed at most every 0.25 s."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, mininterval=0.25, dynamic_ncols=True,
                leave=True, disable=None if total is None else False)


def out_dir(text: Optional[str]) -> Optional[Path]:
    """An output folder, created now (before any work); OutputWriteError if it cannot be."""
    if not text:
        return None
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise OutputWriteError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".edgecv-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputWriteError(f"cannot write into --out {out}: {exc.strerror or exc}") from exc
    return out


class StageBars:
    """``progress(stage, done, total)`` callbacks as one tqdm bar per stage, on stderr."""

    def __init__(self) -> None:
        self.stage: Optional[str] = None
        self.bar: Any = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage or self.bar is None:
            self.close()
            self.stage, self.bar = stage, progress_bar(total, "step", stage)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
