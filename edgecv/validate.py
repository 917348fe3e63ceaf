"""``edgecv validate``: run the same images through several converted files of one model and check
that every engine gives the same raw outputs and the same task results as the reference."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .compare import compare_faces, compare_poses
from .engines import engine_for_file
from .errors import InvalidInputError, ModelNotFoundError
from .image import read_image
from .loading import METADATA_SUFFIX, load


@dataclass
class Tolerances:
    """Pass/fail limits. ``max_abs_diff`` is per raw output; None picks 1e-3 (fp32) or 5e-2 (fp16)."""

    max_abs_diff: Optional[float] = None
    min_iou: float = 0.98
    max_landmark_px: float = 1.0
    max_keypoint_px: float = 2.0


@dataclass
class Report:
    reference: str = ""
    outputs: List[dict] = field(default_factory=list)
    tasks: List[dict] = field(default_factory=list)
    failures: List[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {"reference": self.reference, "passed": self.passed, "outputs": self.outputs,
                "tasks": self.tasks, "failures": self.failures}

    def table(self) -> str:
        lines = [f"reference: {self.reference}", "",
                 f"{'model file':40s} {'image':16s} {'output':10s} {'max abs diff':>13s} {'mean abs diff':>14s}"]
        for r in self.outputs:
            lines.append(f"{r['model']:40s} {r['image']:16s} {r['output']:10s} {r['max_abs_diff']:13.3g} "
                         f"{r['mean_abs_diff']:14.3g}")
        if self.tasks:
            keys = [k for k in self.tasks[0] if k not in ("model", "image")]
            lines += ["", f"{'model file':40s} {'image':16s} " + " ".join(f"{k:>15s}" for k in keys)]
            for r in self.tasks:
                cells = [f"{r[k]:15.4g}" if isinstance(r[k], float) else f"{r[k]:>15}" for k in keys]
                lines.append(f"{r['model']:40s} {r['image']:16s} " + " ".join(cells))
        lines += ["", "PASSED" if self.passed else "FAILED:"] + [f"  {f}" for f in self.failures]
        return "\n".join(lines)


def collect_model_files(paths: Sequence[Path]) -> List[Path]:
    """Model files from paths: files, directories (every model file inside) and ``.edgecv.json``
    metadata (the files it lists beside it). ONNX files come first (the reference)."""
    found: List[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if engine_for_file(q))
        elif p.name.endswith(METADATA_SUFFIX):
            meta = json.loads(p.read_text())
            found += [p.parent / f[0]["name"] for f in meta.get("files", {}).values()]
        elif engine_for_file(p):
            if not p.is_file():
                raise ModelNotFoundError(f"model file not found: {p}")
            found.append(p)
        else:
            raise InvalidInputError(f"{p}: not a model file, directory or {METADATA_SUFFIX} file")
    unique = list(dict.fromkeys(q.resolve() for q in found))
    if len(unique) < 2:
        raise InvalidInputError(f"validate needs at least two model files, got {[str(q) for q in unique]}")
    return sorted(unique, key=lambda q: engine_for_file(q) != "onnxruntime")


def validate(paths: Sequence[Path], images: Sequence[Path], *, threads: int = 2,
             tolerances: Optional[Tolerances] = None) -> Report:
    """Compare every model file against the first ONNX one (or the first file) on ``images``."""
    tol = tolerances or Tolerances()
    files = collect_model_files(paths)
    if not images:
        raise InvalidInputError("validate needs at least one image")
    models = [load(f, threads=threads) for f in files]
    ref = models[0]
    tasks = {m.task for m in models}
    if len(tasks) != 1:
        raise InvalidInputError(f"the files are of different tasks: {sorted(tasks)}")
    fp16 = any(m.engine.fp16 or m.config.fp16 for m in models)
    max_abs = tol.max_abs_diff if tol.max_abs_diff is not None else (5e-2 if fp16 else 1e-3)
    report = Report(reference=str(files[0]))
    for image_path in images:
        image = read_image(image_path)
        blob = ref.preprocess(image)[0]
        ref_raw = ref.infer(blob)
        ref_result = ref.detect(image)
        for f, model in zip(files[1:], models[1:]):
            label = f"{f.name} ({model.engine.name})"
            raw = model.infer(blob)
            for name, value in ref_raw.items():
                other = raw[name]
                if other.size != value.size:
                    report.failures.append(f"{label}: output {name} has {other.size} values, reference {value.size}")
                    continue
                diff = np.abs(other.reshape(-1).astype(np.float64) - value.reshape(-1))
                row = {"model": label, "image": Path(image_path).name, "output": name,
                       "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
                report.outputs.append(row)
                if row["max_abs_diff"] > max_abs:
                    report.failures.append(f"{label} {row['image']} {name}: max abs diff {row['max_abs_diff']:.3g} > {max_abs:g}")
            task_row = _compare_task(ref.task, ref_result, model.detect(image), tol, report.failures, label,
                                     Path(image_path).name)
            report.tasks.append({"model": label, "image": Path(image_path).name, **task_row})
    return report


def _compare_task(task: str, ref, other, tol: Tolerances, failures: List[str], label: str, image: str) -> Dict:
    where = f"{label} {image}"
    if task == "scrfd":
        row = compare_faces(ref, other, min_iou=0.5)
        if row["missing"] or row["extra"]:
            failures.append(f"{where}: faces differ ({row['missing']} missing, {row['extra']} extra)")
        if row["min_iou"] < tol.min_iou:
            failures.append(f"{where}: face IoU {row['min_iou']:.4f} < {tol.min_iou}")
        if row["max_landmark_px"] > tol.max_landmark_px:
            failures.append(f"{where}: landmark error {row['max_landmark_px']:.3f} px > {tol.max_landmark_px}")
        return row
    if task == "openpose":
        row = compare_poses(ref, other)
        if row["missing"] or row["extra"]:
            failures.append(f"{where}: people differ ({row['missing']} missing, {row['extra']} extra)")
        if row["max_keypoint_px"] > tol.max_keypoint_px:
            failures.append(f"{where}: keypoint error {row['max_keypoint_px']:.3f} px > {tol.max_keypoint_px}")
        return row
    raise InvalidInputError(f"validate has no task-level comparison for task '{task}'")
