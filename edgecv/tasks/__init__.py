"""Tasks: one package per task (pipeline, result, drawing, converter roles, comparison) and the registry.

Adding a task means a new package beside these (with a ``SPEC``) and one line in ``_SPECS`` below.
"""

from __future__ import annotations

from typing import Dict, Sequence

from ..errors import ModelContractError
from . import mvs, openpose, scrfd
from .base import ImageTaskModel, Prepared, TaskModel
from .spec import IMAGE, VIEWS, Gate, GraphFacts, Option, RolePlan, TaskSpec

_SPECS = (
    scrfd.SPEC,
    openpose.SPEC,
    mvs.SPEC,
)

#: task name -> spec, in registry order
TASKS: Dict[str, TaskSpec] = {s.name: s for s in _SPECS}


def get_task(name: str) -> TaskSpec:
    """The spec of task ``name``; ModelContractError naming the known tasks otherwise."""
    if name not in TASKS:
        raise ModelContractError(f"unknown task {name!r}; known tasks: {list(TASKS)}")
    return TASKS[name]


def guess_task(output_names: Sequence[str]) -> TaskSpec:
    """The task of a model without metadata, from its output names."""
    for spec in TASKS.values():
        if spec.matches(output_names):
            return spec
    raise ModelContractError(
        f"cannot tell the task of a model with outputs {list(output_names)[:12]}; pass task=... "
        f"(one of {list(TASKS)}) or rename the outputs by role with `edgecv convert --task ...`")


__all__ = ["TASKS", "get_task", "guess_task", "TaskSpec", "TaskModel", "ImageTaskModel", "Prepared", "Option",
           "Gate", "GraphFacts", "RolePlan", "IMAGE", "VIEWS"]
