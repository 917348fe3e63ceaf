"""What a service serves: ``MODEL[=NAME]`` arguments -> loaded models, and ``NAME=SOURCE`` stream sources."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import InvalidInputError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class ServedModel:
    """A loaded model under the ``name`` used in URLs."""

    name: str
    source: str
    model: Any

    def describe(self) -> Dict[str, Any]:
        m = self.model
        size = m.settings.get(m.size_option) if m.size_option else None
        if size is None and hasattr(m, "static_input_size"):
            size = m.static_input_size()
        if size is None and getattr(m, "size", None) is not None:
            size = m.size
        extra = {"num_views": m.num_views} if hasattr(m, "num_views") else {}
        return {"name": self.name, "model": self.source, "task": m.task, "engine": m.engine.name, **extra,
                "threads": m.engine.threads, "input_size": list(size) if isinstance(size, tuple) else size,
                "options": sorted(o.name for o in m.options
                                   if o.per_call and o.kind != "object" and o.name not in ("format", "rotation"))}


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise InvalidInputError(f"{what} name {name!r:.70} must be 1-64 letters, digits, '.', '_' or '-'")
    return name


def split_model_arg(text: str) -> Tuple[str, str]:
    """``MODEL[=NAME]`` -> (model, name); the name defaults to the model's file stem or name."""
    from pathlib import Path

    model, _, name = text.partition("=")
    if not model:
        raise InvalidInputError(f"model argument {text!r:.70} has no model before '='")
    if not name:
        name = Path(model).stem if ("/" in model or "." in Path(model).name) else model
    return model, check_name(name, "model")


def load_models(args: Sequence[str], engine: Optional[str], threads: Optional[int], trust: bool = False
                ) -> List[ServedModel]:
    """Load every ``MODEL[=NAME]`` (all before serving: a bad one stops the start with its own error)."""
    from ..loading import load

    served: Dict[str, ServedModel] = {}
    for text in args:
        model, name = split_model_arg(text)
        if name in served:
            raise InvalidInputError(f"two models are served as {name!r}: give one another name (MODEL=NAME)")
        # several models, MJPEG sources and requests share the cores: engine threads sleep when idle
        served[name] = ServedModel(name, model, load(model, engine=engine, threads=threads, trust=trust,
                                                     busy_wait=False))
    if not served:
        raise InvalidInputError("no model to serve")
    return list(served.values())


def split_source_arg(text: str, models: Sequence[ServedModel]) -> Tuple[str, str, ServedModel]:
    """``NAME=VIDEO_OR_CAMERA`` (the first image model annotates it) or ``NAME@MODEL=...`` ->
    (name, source, served model)."""
    head, sep, source = text.partition("=")
    if not sep or not source:
        raise InvalidInputError(f"--source {text!r:.70}: expected NAME=VIDEO_OR_CAMERA (or NAME@MODEL=...)")
    name, _, model_name = head.partition("@")
    check_name(name, "stream")
    image_models = [m for m in models if hasattr(m.model, "static_input_size")]
    if model_name:
        match = [m for m in models if m.name == model_name]
        if not match:
            raise InvalidInputError(f"--source {name}: no model served as {model_name!r}")
        chosen = match[0]
    elif image_models:
        chosen = image_models[0]
    else:
        raise InvalidInputError(f"--source {name}: no image model is served to annotate it")
    if chosen not in image_models:
        raise InvalidInputError(f"--source {name}: {chosen.name} is a {chosen.model.task} model; streams need an "
                                "image model")
    return name, source, chosen
