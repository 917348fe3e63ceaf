"""Measurement of ``edgecv bench`` (the package docstring says what is measured and how)."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .. import store
from ..engines import check_threads
from ..errors import InvalidInputError, ModelNotFoundError
from ..loading import fetch, looks_like_path, source_model
from ..store.metadata import read_sidecar
from ..store.profiles import device, model_key, save_rows
from ..targets import ENGINE_NAMES, REFERENCE, TARGETS, parse_targets, target_for_file
from ..tasks import IMAGE, TaskSpec, get_task

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8")
#: Seconds one configuration may take (load + warmup + repeats) before it is reported as hung.
WORKER_TIMEOUT = 1800


@dataclass
class Candidate:
    """A model file set to measure: how the worker loads it and what it is."""

    engine: str
    precision: str
    model: str  # a name (with engine) or the main file
    files: List[str] = field(default_factory=list)


@dataclass
class BenchRow:
    model: str
    engine: str
    precision: str
    threads: int
    input_size: Optional[int]
    p50_ms: Optional[float] = None
    p95_ms: Optional[float] = None
    detect_p50_ms: Optional[float] = None
    detect_p95_ms: Optional[float] = None
    rss_mb: Optional[float] = None
    agreement: Optional[float] = None
    passes: Optional[bool] = None
    files: List[str] = field(default_factory=list)
    error: Optional[str] = None
    cpu: str = ""
    cores: int = 0


@dataclass
class BenchReport:
    model: str
    task: str
    device: Dict[str, Any]
    rows: List[BenchRow]
    profile: Optional[Path] = None

    def to_rows(self) -> List[Dict[str, Any]]:
        return [asdict(r) for r in self.rows]

    def table(self) -> str:
        head = (f"{'engine':12s} {'prec':5s} {'thr':>3s} {'size':>5s} {'p50 ms':>8s} {'p95 ms':>8s} "
                f"{'detect p50':>10s} {'detect p95':>10s} {'RSS MB':>7s} {'agree':>6s} {'gate':>5s}")
        lines = [f"{self.model} ({self.task}) on {self.device['cpu']}, {self.device['cores']} cores", head]

        def num(v, fmt):
            return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"

        for r in self.rows:
            if r.error:
                lines.append(f"{r.engine:12s} {r.precision:5s} {r.threads:>3d} {num(r.input_size, '>5d'):>5s} "
                             f"error: {r.error}")
                continue
            lines.append(f"{r.engine:12s} {r.precision:5s} {r.threads:>3d} {num(r.input_size, 'd'):>5s} "
                         f"{num(r.p50_ms, '8.1f')} {num(r.p95_ms, '8.1f')} {num(r.detect_p50_ms, '10.1f')} "
                         f"{num(r.detect_p95_ms, '10.1f')} {num(r.rss_mb, '7.0f')} {num(r.agreement, '6.3f')} "
                         f"{'pass' if r.passes else 'FAIL':>5s}")
        if self.profile:
            lines.append(f"device profile: {self.profile}")
        return "\n".join(lines)


def _is_name(model: Union[str, os.PathLike]) -> bool:
    return not isinstance(model, os.PathLike) and not looks_like_path(str(model))


def _profile_key(model: Union[str, os.PathLike], reference: Path) -> str:
    return model_key(str(model), None if _is_name(model) else reference)


def _work_dir(reference: Path) -> Path:
    return store.cache_dir() / "bench" / store.sha256_file(reference)[:16]


def _fp32_candidates(model, reference: Path, spec: TaskSpec, engines: Sequence[str]) -> List[Candidate]:
    if _is_name(model):
        fetch(str(model), list(engines))  # converted on first use, in the parent, once
        return [Candidate(e, "fp32", str(model)) for e in engines]
    from ..convert import convert

    work = _work_dir(reference)  # role-named files with metadata, converted once
    stem = f"{reference.stem}_fp32"
    config = read_sidecar(work / f"{stem}.onnx")
    done = set((config.raw.get("files") or {}) if config else ())
    if not set(engines) <= done:
        convert(reference, spec.name, out_dir=work, to=tuple(dict.fromkeys((REFERENCE,) + tuple(engines)
                                                                          + tuple(sorted(done)))), name=stem)
    out = []
    for e in engines:
        files = TARGETS[e].files_for(work, stem)
        out.append(Candidate(e, "fp32", str(files[0]), [str(f) for f in files]))
    return out


def _quantised_candidates(folders: Sequence[Path], engines: Sequence[str], precisions: Sequence[str]) -> List[Candidate]:
    out = []
    for folder in folders:
        paths = [folder] if folder.is_file() else sorted(folder.iterdir()) if folder.is_dir() else None
        if paths is None:
            raise ModelNotFoundError(f"{folder} does not exist")
        for p in paths:
            target = target_for_file(p)
            if target is None or not p.is_file() or p.name.startswith("."):
                continue
            config = read_sidecar(p)
            precision = config.precision if config else "fp32"
            if precision == "fp32" or precision not in precisions or target.name not in engines:
                continue
            files = target.companions_of(p)
            out.append(Candidate(target.name, precision, str(p), [str(f) for f in files]))
    return out


def _quantise_on_the_way(model, reference: Path, calib: Path, engines, precisions, threads: int,
                         progress) -> List[Path]:
    """Quantise into the cache (reused while the model and the calibration folder are the same)."""
    from ..convert import calibration
    from ..loading import quantize

    work = _work_dir(reference) / "quantized"
    folders = []
    for precision in precisions:
        if precision == "fp32":
            continue
        wanted = [e for e in engines if precision == "int8" or TARGETS[e].fp16]
        if not wanted:
            continue
        name = str(model) if _is_name(model) else reference.stem
        sidecar = read_sidecar(work / f"{name}_{precision}.onnx")
        done = set()
        if sidecar is not None:
            q = sidecar.raw.get("quantization") or {}
            spec = get_task(sidecar.task)
            same = q.get("calibration", {}).get("sha256") == calibration.split_calibration(spec, calib).describe()[
                "calibration"]["sha256"]
            done = set(sidecar.raw.get("files") or {}) if same else set()
        todo = [e for e in wanted if e not in done]
        if todo:
            from ..errors import QuantizationError

            try:
                quantize(model, calib, precision=precision, to=todo, out_dir=work, threads=threads, progress=progress)
            except QuantizationError as exc:  # engines that failed their gates are simply not benchmarked
                log.warning("%s", exc)
        folders.append(work)
    return folders


def bench(model: Union[str, os.PathLike], *, images: Optional[Sequence[Union[str, os.PathLike]]] = None,
          scene: Optional[Union[str, os.PathLike]] = None, refs: Optional[Sequence[int]] = None,
          engines: Optional[Sequence[str]] = None, precisions: Sequence[str] = ("fp32",),
          threads: Sequence[int] = (2,), input_sizes: Optional[Sequence[int]] = None,
          quantized: Sequence[Union[str, os.PathLike]] = (), calib: Optional[Union[str, os.PathLike]] = None,
          repeat: int = 20, warmup: int = 3, save_profile: bool = True,
          progress: Optional[Callable[[str, int, int], None]] = None) -> BenchReport:
    """Measure ``model`` (a name or an fp32 ``.onnx`` file) on this device; see the module docstring.

    ``engines``: default every engine of the table (:data:`edgecv.targets.ENGINE_NAMES`). ``precisions``: of fp32, fp16,
    int8 (fp16/int8 files from ``quantized`` folders, or quantised with ``calib``). ``input_sizes``: values of
    the task's input-size option (SCRFD ``input_size``, OpenPose ``input_height``). Returns a BenchReport;
    with ``save_profile`` the rows are stored as this device's profile for the model."""
    report = progress or (lambda stage, done, total: None)
    reference = source_model(model)
    if not reference.is_file():
        raise ModelNotFoundError(f"model file not found: {reference}")
    engines = parse_targets(engines) if engines else ENGINE_NAMES
    for p in precisions:
        if p not in PRECISIONS:
            raise InvalidInputError(f"precisions must be of {list(PRECISIONS)}, got {p!r:.30}")
    thread_counts = [check_threads(t) for t in threads]
    if not isinstance(repeat, int) or not 1 <= repeat <= 10000 or not isinstance(warmup, int) or not 0 <= warmup <= 1000:
        raise InvalidInputError("repeat must be an integer in [1, 10000] and warmup in [0, 1000]")
    from ..convert.quantize import task_of

    spec = task_of(reference, None)
    inputs, scene_refs = _inputs(spec, images, scene, refs)
    size_option = spec.model.size_option
    if input_sizes and not size_option:
        raise InvalidInputError(f"{spec.name} models have no input-size option")
    sizes: List[Optional[int]] = list(input_sizes) if input_sizes else [None]
    candidates = _fp32_candidates(model, reference, spec, [e for e in engines if "fp32" in precisions]
                                  or [REFERENCE])
    if not any(c.engine == REFERENCE and c.precision == "fp32" for c in candidates):  # the reference
        candidates = _fp32_candidates(model, reference, spec, [REFERENCE]) + candidates
    folders = [Path(q) for q in quantized]
    if calib is not None:
        folders += _quantise_on_the_way(model, reference, Path(calib), engines, precisions, max(thread_counts), report)
    candidates += _quantised_candidates(folders, engines, precisions)
    wanted = [c for c in candidates if c.precision in precisions or (c.engine, c.precision) == (REFERENCE, "fp32")]
    missing = [p for p in precisions if not any(c.precision == p for c in wanted)]
    if missing:
        raise InvalidInputError(f"no {'/'.join(missing)} files of this model for {', '.join(engines)}: run `edgecv "
                                f"quantize` and pass its --out folder, or give a calibration folder (--calib)")
    dev = device()
    rows: List[BenchRow] = []
    results: Dict[Tuple[int, Optional[int]], Any] = {}
    total = len(wanted) * len(thread_counts) * len(sizes)
    with tempfile.TemporaryDirectory(prefix="edgecv-bench-") as tmp:
        n = 0
        for size in sizes:
            for cand in wanted:
                for t in thread_counts:
                    n += 1
                    report("benchmark", n - 1, total)
                    row = BenchRow(str(model), cand.engine, cand.precision, t, size, files=cand.files, cpu=dev["cpu"],
                                   cores=dev["cores"])
                    options = {size_option: size} if size is not None else {}
                    out = _run_worker(cand, t, options, inputs, scene_refs, repeat, warmup, Path(tmp) / f"r{n}.pkl")
                    if "error" in out:
                        row.error = out["error"]
                    else:
                        for k in ("p50_ms", "p95_ms", "detect_p50_ms", "detect_p95_ms", "rss_mb"):
                            setattr(row, k, out[k])
                        results[id(row)] = out["results"]
                    rows.append(row)
            report("benchmark", n, total)
            _agreement(spec, [r for r in rows if r.input_size == size], results)
    path = save_rows(_profile_key(model, reference), [asdict(r) for r in rows]) if save_profile else None
    return BenchReport(str(model), spec.name, dev, rows, path)


def _inputs(spec: TaskSpec, images, scene, refs) -> Tuple[List[str], Optional[List[int]]]:
    if spec.inputs == IMAGE:
        if not images or scene is not None:
            raise InvalidInputError(f"benchmarking a {spec.name} model needs images (--images) like those it will see")
        paths = [str(Path(p)) for p in images]
        bad = [p for p in paths if not Path(p).is_file()]
        if bad:
            raise InvalidInputError(f"image(s) not found: {bad[:3]}")
        return paths, None
    if scene is None or images:
        raise InvalidInputError(f"benchmarking a {spec.name} model needs a scene folder (--scene DIR [--refs 0])")
    return [str(Path(scene))], list(refs) if refs else None


def _run_worker(cand: Candidate, threads: int, options, inputs, refs, repeat: int, warmup: int,
                results: Path) -> Dict[str, Any]:
    request = {"model": cand.model, "engine": cand.engine, "threads": threads, "options": options, "inputs": inputs,
               "refs": refs, "repeat": repeat, "warmup": warmup, "results": str(results)}
    try:
        proc = subprocess.run([sys.executable, "-m", "edgecv.bench.worker", json.dumps(request)], capture_output=True,
                              text=True, timeout=WORKER_TIMEOUT, cwd=Path(__file__).resolve().parents[2])
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {WORKER_TIMEOUT} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        from ..trust import signal_name

        reason = signal_name(proc.returncode) if proc.returncode < 0 else f"exit {proc.returncode}"
        return {"error": f"the worker died ({reason}): " + " ".join(proc.stderr.strip().splitlines()[-2:])[:200]}
    out = json.loads(lines[-1])
    if "error" not in out:
        with open(results, "rb") as f:
            out["results"] = pickle.load(f)
    return out


def _agreement(spec: TaskSpec, rows: List[BenchRow], results: Dict[int, Any]) -> None:
    reference = next((r for r in rows if (r.engine, r.precision) == (REFERENCE, "fp32") and id(r) in results), None)
    if reference is None:
        return
    ref = results[id(reference)]
    limits = spec.gate_limits("quantize")
    for r in rows:
        if id(r) not in results:
            continue
        summary = spec.summarize([spec.compare(a, b) for a, b in zip(ref, results[id(r)])])
        r.agreement = round(float(summary.get(spec.agreement, float("nan"))), 4)
        r.passes = not spec.gate_failures(summary, "quantize", limits)


__all__ = ["bench", "BenchReport", "BenchRow", "PRECISIONS"]
