"""Task models: preprocessing -> engine -> post-processing, one module per task."""

from __future__ import annotations

from typing import Dict, Sequence, Type

from ..errors import ModelContractError
from .base import ModelConfig, TaskModel
from .mvs import PatchmatchNet
from .openpose import OpenPose
from .scrfd import ScrfdDetector

TASKS: Dict[str, Type[TaskModel]] = {ScrfdDetector.task: ScrfdDetector, OpenPose.task: OpenPose,
                                     PatchmatchNet.task: PatchmatchNet}


def task_class(task: str) -> Type[TaskModel]:
    if task not in TASKS:
        raise ModelContractError(f"unknown task '{task}'; known tasks: {sorted(TASKS)}")
    return TASKS[task]


def guess_task(output_names: Sequence[str]) -> str:
    """Task of a model without metadata, from its output names."""
    for name, cls in TASKS.items():
        if cls.matches(output_names):
            return name
    raise ModelContractError(
        f"cannot tell the task of a model with outputs {list(output_names)}; pass task=... "
        f"(one of {sorted(TASKS)}) or rename the outputs by role with `edgecv convert --task ...`")


__all__ = ["TASKS", "ModelConfig", "TaskModel", "ScrfdDetector", "OpenPose", "PatchmatchNet", "task_class", "guess_task"]
