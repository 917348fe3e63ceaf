"""Precision-recall curves as a PNG (OpenCV drawing: no plotting library needed): one panel per subset, one line per
configuration."""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np

from ..fileio import write_bytes
from .runner import EvalReport

PANEL = (420, 360)  # width, height of one panel
MARGIN = 48
COLOURS = ((201, 135, 52), (60, 160, 60), (40, 110, 230), (150, 60, 170), (30, 170, 200), (110, 110, 110),
           (0, 0, 0), (180, 180, 40))


def draw_curves(report: EvalReport) -> np.ndarray:
    """The report's curves as a BGR image."""
    import cv2

    subsets: List[str] = []
    for curves in report.curves.values():
        subsets += [s for s in curves if s not in subsets]
    subsets = subsets or ["(no curves)"]
    w, h = PANEL
    legend = 22 * len(report.curves) + 16
    canvas = np.full((h + legend, w * len(subsets), 3), 255, np.uint8)
    for i, subset in enumerate(subsets):
        x0 = i * w
        left, top, right, bottom = x0 + MARGIN, 30, x0 + w - 16, h - MARGIN

        def point(r: float, p: float, box: Tuple[int, int, int, int] = (left, top, right, bottom)) -> Tuple[int, int]:
            x_min, y_min, x_max, y_max = box
            return int(round(x_min + r * (x_max - x_min))), int(round(y_max - p * (y_max - y_min)))

        cv2.rectangle(canvas, (left, top), (right, bottom), (0, 0, 0), 1)
        for t in np.linspace(0, 1, 6):
            cv2.putText(canvas, f"{t:.1f}", (left + int(t * (right - left)) - 10, bottom + 18),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(canvas, f"{t:.1f}", (x0 + 10, bottom - int(t * (bottom - top)) + 4),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(canvas, f"{subset}: precision / recall", (left, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                    cv2.LINE_AA)
        for n, curves in enumerate(report.curves.values()):
            if subset not in curves:
                continue
            recall, precision = curves[subset]
            ok = np.isfinite(recall) & np.isfinite(precision)
            pts = np.array([point(float(r), float(p)) for r, p in zip(recall[ok], precision[ok])], np.int32)
            if len(pts) > 1:
                cv2.polylines(canvas, [pts.reshape(-1, 1, 2)], False, COLOURS[n % len(COLOURS)], 2, cv2.LINE_AA)
    for n, row in enumerate(report.rows):
        y = h + 16 + 22 * n
        colour = COLOURS[n % len(COLOURS)]
        cv2.line(canvas, (16, y - 4), (40, y - 4), colour, 3)
        text = row.label + "  " + "  ".join(f"{k} {v:.3f}" for k, v in row.metrics.items() if k != "pixels")
        cv2.putText(canvas, text, (48, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def write_curves(report: EvalReport, path: Path) -> Path:
    """The curves as a PNG at ``path`` (written atomically)."""
    import cv2

    ok, buf = cv2.imencode(".png", draw_curves(report))
    return write_bytes(Path(path), buf.tobytes())


__all__ = ["draw_curves", "write_curves"]

