"""Default input contracts of each task (preprocessing), shared by the tasks and the converter."""

from __future__ import annotations

from typing import Any, Dict

#: task -> default input contract: colour order, per-channel mean/std in pixel units, default size (H, W)
TASK_INPUTS: Dict[str, Dict[str, Any]] = {
    "scrfd": {"layout": "NCHW", "color": "RGB", "mean": [127.5, 127.5, 127.5], "std": [128.0, 128.0, 128.0],
              "size": [640, 640]},
    "openpose": {"layout": "NCHW", "color": "BGR", "mean": [128.0, 128.0, 128.0], "std": [255.0, 255.0, 255.0],
                 "size": [256, 456]},
}


def default_input(task: str) -> Dict[str, Any]:
    """A copy of the task's default input contract ({} for unknown tasks)."""
    return {k: (list(v) if isinstance(v, list) else v) for k, v in TASK_INPUTS.get(task, {}).items()}
