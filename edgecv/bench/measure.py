"""Measurement of ``edgecv bench`` (the package docstring says what is measured and how)."""

from __future__ import annotations

import functools
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
from ..fileio import write_text
from ..loading import ModelFiles, fp32_models, looks_like_path, quantized_models, source_model
from ..store.metadata import read_sidecar
from ..store.profiles import device, model_key, save_rows
from ..targets import ENGINE_NAMES, REFERENCE, TARGETS, parse_targets
from ..tasks import IMAGE, TaskSpec

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8")
#: Seconds one configuration may take (load + warmup + repeats) before it is reported as hung.
WORKER_TIMEOUT = 1800


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
    #: with a labelled dataset (``truth``): its metric, and its drop from ONNX Runtime fp32
    eval_metric: Optional[float] = None
    eval_drop: Optional[float] = None
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
        truth = any(r.eval_metric is not None for r in self.rows)
        head = (f"{'engine':12s} {'prec':5s} {'thr':>3s} {'size':>5s} {'p50 ms':>8s} {'p95 ms':>8s} "
                f"{'detect p50':>10s} {'detect p95':>10s} {'RSS MB':>7s} {'agree':>6s}"
                + (f" {'eval':>7s} {'drop':>7s}" if truth else "") + f" {'gate':>5s}")
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
                         + (f"{num(r.eval_metric, '7.4f')} {num(r.eval_drop, '+7.4f')} " if truth else "")
                         + f"{'pass' if r.passes else 'FAIL':>5s}")
        if self.profile:
            lines.append(f"device profile: {self.profile}")
        return "\n".join(lines)


def _is_name(model: Union[str, os.PathLike]) -> bool:
    return not isinstance(model, os.PathLike) and not looks_like_path(str(model))


def _profile_key(model: Union[str, os.PathLike], reference: Path) -> str:
    return model_key(str(model), None if _is_name(model) else reference)


def _quantise_on_the_way(spec: TaskSpec, model, reference: Path, calib: Path, engines, precisions, threads: int,
                         progress) -> List[Path]:
    """Quantise into the cache (reused while the model and the calibration folder are the same). An engine whose
    files failed their gates on this calibration folder is remembered (``<name>_<precision>.failed.json``) and not
    searched again: MNN's layer search takes minutes; delete that file to retry."""
    from ..convert import calibration
    from ..errors import QuantizationError
    from ..loading import quantize

    work = store.cache_dir() / "bench" / store.sha256_file(reference)[:16] / "quantized"

    @functools.lru_cache(maxsize=1)
    def calib_sha() -> str:  # read the calibration set only when something cached must be matched against it
        return calibration.split_calibration(spec, calib).describe()["calibration"]["sha256"]

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
            if q.get("calibration", {}).get("sha256") == calib_sha():
                done = set(sidecar.raw.get("files") or {})
        failures_file = work / f"{name}_{precision}.failed.json"
        failed_before = _read_failures(failures_file, calib_sha)
        for engine in [e for e in wanted if e in failed_before and e not in done]:
            log.warning("%s %s failed its gates on this calibration folder in an earlier bench (%s); not quantised "
                        "again (delete %s to retry)", engine, precision, "; ".join(failed_before[engine]),
                        failures_file)
        todo = [e for e in wanted if e not in done and e not in failed_before]
        if todo:
            try:
                # bench measures every candidate, faster or not: the table says which pays
                quantize(model, calib, precision=precision, to=todo, out_dir=work, threads=threads, progress=progress,
                         keep_slower=True)
            except QuantizationError as exc:  # engines that failed their gates are simply not benchmarked
                log.warning("%s", exc)
                if exc.result is not None and exc.result.failed:
                    sha = exc.result.calibration["calibration"]["sha256"]  # the set quantize() judged on
                    doc = {"calibration": sha, "engines": {**failed_before, **exc.result.failed}}
                    write_text(failures_file, json.dumps(doc, indent=1, sort_keys=True))
        folders.append(work)
    return folders


def _read_failures(path: Path, calib_sha: Callable[[], str]) -> Dict[str, List[str]]:
    """Engine -> reasons its files failed their gates in an earlier bench on the calibration set whose digest
    ``calib_sha()`` gives (empty when there were none, the set changed or the file is unreadable)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or not isinstance(doc.get("engines"), dict) or doc.get("calibration") != calib_sha():
        return {}
    return {str(e): [str(r) for r in reasons] for e, reasons in doc["engines"].items() if isinstance(reasons, list)}


def bench(model: Union[str, os.PathLike], *, images: Optional[Sequence[Union[str, os.PathLike]]] = None,
          scene: Optional[Union[str, os.PathLike]] = None, refs: Optional[Sequence[int]] = None,
          engines: Optional[Sequence[str]] = None, precisions: Sequence[str] = ("fp32",),
          threads: Sequence[int] = (2,), input_sizes: Optional[Sequence[int]] = None,
          quantized: Sequence[Union[str, os.PathLike]] = (), calib: Optional[Union[str, os.PathLike]] = None,
          repeat: int = 20, warmup: int = 3, save_profile: bool = True,
          progress: Optional[Callable[[str, int, int], None]] = None, truth: Any = None,
          max_drop: float = 0.01) -> BenchReport:
    """Measure ``model`` (a name or an fp32 ``.onnx`` file) on this device; see the module docstring.

    ``engines``: default every engine of the table (:data:`edgecv.targets.ENGINE_NAMES`). ``precisions``: of fp32, fp16,
    int8 (fp16/int8 files from ``quantized`` folders, or quantised with ``calib``). ``input_sizes``: values of
    the task's input-size option (SCRFD ``input_size``, OpenPose ``input_height``). ``truth``: a labelled dataset
    (``edgecv.evaluate.TruthJudge``) whose images are run (unless ``images`` are given) and whose metric decides
    ``passes`` (a drop of at most ``max_drop`` from ONNX Runtime fp32) instead of agreement. Returns a BenchReport;
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
    if (not isinstance(repeat, int) or not 1 <= repeat <= 10000
            or not isinstance(warmup, int) or not 0 <= warmup <= 1000):
        raise InvalidInputError("repeat must be an integer in [1, 10000] and warmup in [0, 1000]")
    from ..convert.quantize import task_of

    spec = task_of(reference, None)
    eval_options: Dict[str, Any] = {}
    if truth is not None:
        if images:
            raise InvalidInputError("give --images or --eval, not both: with --eval the labelled images are run")
        images = truth.image_paths()
        eval_options = truth.options()
    inputs, scene_refs = _inputs(spec, images, scene, refs)
    size_option = spec.model.size_option
    if input_sizes and not size_option:
        raise InvalidInputError(f"{spec.name} models have no input-size option")
    sizes: List[Optional[int]] = list(input_sizes) if input_sizes else [None]
    candidates = fp32_models(model, reference, spec.name, [e for e in engines if "fp32" in precisions] or [REFERENCE])
    if not any(c.engine == REFERENCE and c.precision == "fp32" for c in candidates):  # the reference
        candidates = fp32_models(model, reference, spec.name, [REFERENCE]) + candidates
    folders = [Path(q) for q in quantized]
    if calib is not None:
        folders += _quantise_on_the_way(spec, model, reference, Path(calib), engines, precisions, max(thread_counts),
                                        report)
    candidates += quantized_models(folders, engines, precisions)
    wanted = [c for c in candidates if c.precision in precisions or (c.engine, c.precision) == (REFERENCE, "fp32")]
    missing = [p for p in precisions if not any(c.precision == p for c in wanted)]
    if missing:
        raise InvalidInputError(f"no {'/'.join(missing)} files of this model for {', '.join(engines)}: run `edgecv "
                                f"quantize` and pass its --out folder, or give a calibration folder (--calib)")
    dev = device()
    rows: List[BenchRow] = []
    results: Dict[int, Any] = {}  # id(row) -> that row's results
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
                    options = {**eval_options, **({size_option: size} if size is not None else {})}
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
            if truth is not None:
                _by_truth(truth, [r for r in rows if r.input_size == size], results, max_drop)
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


def _run_worker(cand: ModelFiles, threads: int, options, inputs, refs, repeat: int, warmup: int,
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


def _by_truth(truth: Any, rows: List[BenchRow], results: Dict[int, Any], max_drop: float) -> None:
    """Each row's dataset metric, its drop from ONNX Runtime fp32, and ``passes`` by that drop."""
    for r in rows:
        if id(r) in results:
            r.eval_metric = round(float(truth.measure_results(results[id(r)])[truth.metric]), 5)
    reference = next((r for r in rows if (r.engine, r.precision) == (REFERENCE, "fp32") and r.eval_metric is not None),
                     None)
    for r in rows:
        if r.eval_metric is not None and reference is not None and reference.eval_metric is not None:
            r.eval_drop = round(reference.eval_metric - r.eval_metric, 5)
            r.passes = r.eval_drop <= max_drop


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
