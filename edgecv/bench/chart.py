"""The benchmark as a picture: one bar per configuration (``detect()`` p50, a whisker to p95, the engine call as a
darker inner bar), coloured by engine, with agreement and the gate verdict beside it. Drawn with OpenCV (already
a dependency), written atomically as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from ..fileio import write_bytes
from ..targets import ENGINE_NAMES

#: BGR colour per engine.
#: Bar colours (BGR), one per engine in the order of the engine table.
PALETTE = ((201, 135, 52), (60, 160, 60), (40, 110, 230), (150, 60, 170), (30, 170, 200), (110, 110, 110))
COLOURS = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(ENGINE_NAMES)}
ROW, LEFT, RIGHT, TOP = 30, 250, 170, 70


def draw(report, width: int = 1000) -> np.ndarray:
    """A BGR image of the report's rows (errors listed, not drawn)."""
    import cv2

    rows = [r for r in report.rows if r.error is None and r.detect_p50_ms is not None]
    failed = [r for r in report.rows if r.error is not None]
    height = TOP + ROW * max(1, len(rows)) + 40 + 18 * len(failed)
    img = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    title = f"{report.model} ({report.task}) on {report.device['cpu']}, {report.device['cores']} cores"
    cv2.putText(img, title[:110], (10, 24), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "detect() p50 (bar), p95 (whisker), engine call p50 (inner bar), ms; agreement with fp32 ORT",
                (10, 48), font, 0.45, (80, 80, 80), 1, cv2.LINE_AA)
    span = max([r.detect_p95_ms or r.detect_p50_ms for r in rows] or [1.0])
    scale = (width - LEFT - RIGHT) / span
    for i, r in enumerate(rows):
        y = TOP + i * ROW
        colour = COLOURS.get(r.engine, (128, 128, 128))
        size = f" {r.input_size}" if r.input_size else ""
        label = f"{r.engine} {r.precision} t{r.threads}{size}"
        cv2.putText(img, label, (10, y + 19), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        x0 = LEFT
        x1 = x0 + max(1, int(r.detect_p50_ms * scale))
        cv2.rectangle(img, (x0, y + 4), (x1, y + ROW - 6), colour, -1)
        if r.p50_ms is not None:
            inner = tuple(int(c * 0.6) for c in colour)
            cv2.rectangle(img, (x0, y + 11), (x0 + max(1, int(r.p50_ms * scale)), y + ROW - 13), inner, -1)
        if r.detect_p95_ms is not None:
            xp = x0 + int(r.detect_p95_ms * scale)
            cv2.line(img, (x1, y + ROW // 2 - 1), (xp, y + ROW // 2 - 1), (40, 40, 40), 1, cv2.LINE_AA)
            cv2.line(img, (xp, y + 7), (xp, y + ROW - 9), (40, 40, 40), 1, cv2.LINE_AA)
        agreement = "-" if r.agreement is None else f"{r.agreement:.3f}"
        verdict = "" if r.passes is None else (" pass" if r.passes else " FAIL")
        text = f"{r.detect_p50_ms:.1f} ms  agr {agreement}{verdict}"
        cv2.putText(img, text, (width - RIGHT + 5, y + 19), font, 0.45,
                    (0, 0, 0) if r.passes is not False else (0, 0, 200), 1, cv2.LINE_AA)
    y = TOP + ROW * max(1, len(rows)) + 20
    for r in failed:
        cv2.putText(img, f"{r.engine} {r.precision} t{r.threads}: {r.error}"[:130], (10, y), font, 0.42,
                    (0, 0, 200), 1, cv2.LINE_AA)
        y += 18
    return img


def write_chart(report, path: Union[str, Path], width: int = 1000) -> Path:
    """Draw the report and write it as PNG (atomically)."""
    import cv2

    ok, data = cv2.imencode(".png", draw(report, width))
    if not ok:
        from ..errors import OutputWriteError

        raise OutputWriteError(f"cannot encode the chart for {path}")
    return write_bytes(path, data.tobytes())


__all__ = ["draw", "write_chart", "COLOURS"]
