"""Tasks: one package per task (pipeline, result, drawing, converter roles, comparison) and the registry.

Adding a task means a new package beside these (with a ``SPEC``) and one line in ``_SPECS`` below.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from ..engines import Engine
from ..errors import ModelContractError
from ..store.metadata import ModelConfig
from . import mvs, openpose, scrfd, yunet
from .base import ImageTaskModel, Prepared, TaskModel
from .spec import IMAGE, VIEWS, Gate, GraphFacts, Option, RolePlan, TaskSpec

_SPECS = (
    scrfd.SPEC,
    yunet.SPEC,
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


def build(runtime: Engine, config: ModelConfig, task: Optional[str] = None, **options: Any) -> TaskModel:
    """The task model for a loaded engine: the task asked for, else the config's, else guessed from the
    output names. Metadata that passed the schema but does not fit the task is a ModelContractError."""
    spec = get_task(task) if task else (get_task(config.task) if config.task else guess_task(runtime.output_names))
    try:
        return spec.model(runtime, config, **options)
    except (KeyError, TypeError, AttributeError, IndexError, ZeroDivisionError) as exc:
        raise ModelContractError(f"{config.name or runtime.files[0].name}: metadata does not fit task {spec.name} "
                                 f"({type(exc).__name__}: {str(exc)[:120]})") from None


__all__ = ["TASKS", "get_task", "guess_task", "build", "TaskSpec", "TaskModel", "ImageTaskModel", "Prepared", "Option",
           "Gate", "GraphFacts", "RolePlan", "IMAGE", "VIEWS"]
