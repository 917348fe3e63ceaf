"""``edgecv validate``: run the same inputs through several files of one model and check that every engine
gives the reference's raw outputs and task results, for every task (faces, people, depth maps).

The task-level comparison and its gates come from the task registry (``TaskSpec.compare``/``gates``):
profile ``convert`` (files of one model on different engines: every input must pass) or ``quantize`` (a
lower-precision model against its fp32 reference: the metrics over all inputs must pass).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .errors import InvalidInputError, ModelNotFoundError
from .image import read_image
from .loading import load
from .store.metadata import METADATA_SUFFIX, read_sidecar
from .targets import target_for_file
from .tasks import IMAGE, TaskModel, TaskSpec, get_task

PROFILES = ("convert", "quantize")
#: Per-output raw difference limits (profile convert): fp32 files, and when any file is fp16.
MAX_ABS_DIFF = {"fp32": 1e-3, "fp16": 5e-2}


@dataclass
class Report:
    reference: str = ""
    task: str = ""
    profile: str = "convert"
    outputs: List[dict] = field(default_factory=list)
    tasks: List[dict] = field(default_factory=list)
    summary: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    failures: List[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {"reference": self.reference, "task": self.task, "profile": self.profile, "passed": self.passed,
                "outputs": self.outputs, "tasks": self.tasks, "summary": self.summary, "failures": self.failures}

    def table(self) -> str:
        lines = [f"reference: {self.reference}  (task {self.task}, gates: {self.profile})", "",
                 f"{'model file':40s} {'input':16s} {'output':10s} {'max abs diff':>13s} {'mean abs diff':>14s}"]
        for r in self.outputs:
            lines.append(f"{r['model']:40s} {r['input']:16s} {r['output']:10s} {r['max_abs_diff']:13.3g} "
                         f"{r['mean_abs_diff']:14.3g}")
        if self.tasks:
            keys = [k for k in self.tasks[0] if k not in ("model", "input")]
            lines += ["", f"{'model file':40s} {'input':16s} " + " ".join(f"{k[:15]:>15s}" for k in keys)]
            rows = self.tasks + [{"model": m, "input": "(all)", **s} for m, s in self.summary.items()]
            for r in rows:
                cells = [f"{r[k]:15.4g}" if isinstance(r.get(k), float) else f"{r.get(k, ''):>15}" for k in keys]
                lines.append(f"{r['model']:40s} {r['input']:16s} " + " ".join(cells))
        lines += ["", "PASSED" if self.passed else "FAILED:"] + [f"  {f}" for f in self.failures]
        return "\n".join(lines)


def collect_model_files(paths: Sequence[Union[str, Path]]) -> List[Path]:
    """Model files from paths: files, directories (every model file inside) and ``.edgecv.json``
    metadata (the files it lists beside it). ONNX files come first (the reference)."""
    found: List[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if target_for_file(q) and q.is_file() and not q.name.startswith("."))
        elif p.name.endswith(METADATA_SUFFIX):
            if not p.is_file():
                raise ModelNotFoundError(f"metadata file not found: {p}")
            config = read_sidecar(p.with_name(p.name[: -len(METADATA_SUFFIX)] + ".onnx"))
            files = (config.raw.get("files") if config else None) or {}
            found += [p.parent / entries[0]["name"] for entries in files.values()]
        elif target_for_file(p):
            if not p.is_file():
                raise ModelNotFoundError(f"model file not found: {p}")
            found.append(p)
        else:
            raise InvalidInputError(f"{p}: not a model file, directory or {METADATA_SUFFIX} file")
    unique = list(dict.fromkeys(q.resolve() for q in found))
    if len(unique) < 2:
        raise InvalidInputError(f"validate needs at least two model files, got {[str(q) for q in unique]}")
    return sorted(unique, key=lambda q: q.suffix.lower() != ".onnx")


def _inputs(spec: TaskSpec, images, scene, refs) -> List[tuple]:
    """(label, input, detect options) per input of the task's kind."""
    if spec.inputs == IMAGE:
        if scene is not None or refs:
            raise InvalidInputError(f"{spec.name} models are validated on --images, not a scene")
        if not images:
            raise InvalidInputError("validate needs at least one image (--images)")
        return [(Path(p).name, read_image(p), {}) for p in images]
    from .tasks.mvs import Scene, load_scene

    if images:
        raise InvalidInputError(f"{spec.name} models are validated on a scene (--scene DIR [--refs 0,1]), not images")
    if scene is None:
        raise InvalidInputError(f"{spec.name} models are validated on a scene: give --scene DIR")
    loaded = scene if isinstance(scene, Scene) else load_scene(scene)
    chosen = list(refs) if refs else loaded.views[:1]
    unknown = [r for r in chosen if r not in loaded.cameras]
    if unknown:
        raise InvalidInputError(f"views {unknown} are not in the scene (views: {loaded.views})")
    return [(f"view {r}", loaded, {"ref": r}) for r in chosen]


def validate(paths: Sequence[Union[str, Path]], images: Optional[Sequence[Union[str, Path]]] = None, *,
             scene: Optional[Union[str, Path]] = None, refs: Optional[Sequence[int]] = None, threads: int = 2,
             profile: Optional[str] = None, limits: Optional[Mapping[str, float]] = None,
             max_abs_diff: Optional[float] = None, trust: bool = False) -> Report:
    """Compare every model file against the first ONNX one (or the first file) on ``images`` (image tasks)
    or on reference views ``refs`` of ``scene`` (MVS: a folder or a loaded Scene). ``limits`` overrides gate
    limits by metric name; ``trust`` skips the child-process check of the files (edgecv.trust)."""
    if profile is not None and profile not in PROFILES:
        raise InvalidInputError(f"profile must be one of {PROFILES}, got {profile!r}")
    if max_abs_diff is not None and (not isinstance(max_abs_diff, (int, float)) or not math.isfinite(max_abs_diff)
                                     or max_abs_diff < 0):
        raise InvalidInputError(f"max_abs_diff must be a finite number >= 0, got {max_abs_diff!r}")
    files = collect_model_files(paths)
    models: List[TaskModel] = [load(f, threads=threads, trust=trust) for f in files]
    tasks = {m.task for m in models}
    if len(tasks) != 1:
        raise InvalidInputError(f"the files are of different tasks: {sorted(tasks)}")
    spec = get_task(models[0].task)
    precisions = {m.config.precision for m in models}
    profile = profile or ("quantize" if "int8" in precisions or len(precisions) > 1 else "convert")
    lim = spec.gate_limits(profile, limits)
    fp16 = any(m.engine.fp16 or m.config.fp16 for m in models)
    raw_limit = max_abs_diff if max_abs_diff is not None else MAX_ABS_DIFF["fp16" if fp16 else "fp32"]
    inputs = _inputs(spec, images, scene, refs)
    report = Report(reference=str(files[0]), task=spec.name, profile=profile)
    ref = models[0]
    per_model: Dict[str, List[dict]] = {}
    for label_in, item, opts in inputs:
        ref_prepared = ref.prepare(item, **opts)
        ref_raw = ref.infer(ref_prepared)
        ref_result = ref.postprocess(ref_raw, ref_prepared)
        for f, model in zip(files[1:], models[1:]):
            label = f"{f.name} ({model.engine.name})"
            prepared = model.prepare(item, **opts)
            raw = model.infer(prepared)
            _compare_raw(report, label, label_in, ref_raw, raw, raw_limit, check=profile == "convert" and spec.raw_gate)
            row = spec.compare(ref_result, model.postprocess(raw, prepared))
            report.tasks.append({"model": label, "input": label_in, **row})
            per_model.setdefault(label, []).append(row)
            if profile == "convert":
                _gate(report, f"{label} {label_in}", row, spec, profile, lim)
    for label, rows in per_model.items():
        report.summary[label] = spec.summarize(rows)
        if profile != "convert":
            _gate(report, f"{label} (all inputs)", report.summary[label], spec, profile, lim)
    return report


def _compare_raw(report: Report, label: str, label_in: str, ref_raw: Dict[str, np.ndarray],
                 raw: Dict[str, np.ndarray], limit: float, check: bool) -> None:
    for name, value in ref_raw.items():
        other = raw[name]
        if other.size != value.size:
            report.failures.append(f"{label}: output {name} has {other.size} values, reference {value.size}")
            continue
        diff = np.abs(other.reshape(-1).astype(np.float64) - value.reshape(-1))
        worst = float(diff.max()) if diff.size else 0.0
        row = {"model": label, "input": label_in, "output": name, "max_abs_diff": worst,
               "mean_abs_diff": float(diff.mean()) if diff.size else 0.0}
        report.outputs.append(row)
        if check and not worst <= limit:
            report.failures.append(f"{label} {label_in} {name}: max abs diff {worst:.3g} > {limit:g}")


def _gate(report: Report, where: str, row: Dict[str, Any], spec: TaskSpec, profile: str,
          limits: Dict[str, float]) -> None:
    report.failures += [f"{where}: {failure}" for failure in spec.gate_failures(row, profile, limits)]
