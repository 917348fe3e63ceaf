"""``quantize()``: INT8 or FP16 models for ONNX Runtime, ncnn and MNN, each judged against its fp32 reference on
held-out inputs the calibration never saw, with the sensitive layers kept in fp32 until the task's gates hold.

Steps, for every engine asked for:

1. The source ONNX model is converted as ``convert()`` does (roles, metadata) into a private staging folder:
   the fp32 reference (ONNX Runtime) and the fp32 file of each engine.
2. The calibration folder is split (``calibration.split_calibration``); the calibration inputs go through the
   reference model's own ``prepare()``; the reference's results on the held-out inputs are computed once.
3. INT8: the engine's quantiser (the ``quantizer`` of its row in :data:`edgecv.targets.TARGETS`) builds the model
   with every weighted layer quantised, and the task's "quantize" gates (``TaskSpec.gates``) judge it on the held-out
   inputs. If a gate fails, groups of layers are tried in fp32, in this order: the first weighted layers (they
   see raw pixels) with the heads (they write the raw results), then the layers adding the most quantisation
   noise (``layers.rank_by_noise``, measured on calibration inputs) 1, 2, 4, 8... at a time. A group is kept
   only when it brings the metrics closer to the gates (``TaskSpec.gate_shortfall``: the summed relative
   gaps of the failing gates); the search stops when the
   gates hold, after MAX_ATTEMPTS builds, or at half the weighted layers, and then the engine fails with the
   metrics that missed. Every layer kept in fp32 costs speed, so none is kept before a gate asks for it.
   FP16: the engine's fp16 file (``convert(fp16=True)``) must give finite outputs on the calibration inputs,
   no fp32 activation of the reference may exceed the fp16 range, and the gates must hold; otherwise that
   engine falls back to its fp32 model, and the result says why.
4. The files of the engines that passed are moved into ``out_dir``, metadata last (``<name>_<precision>.*`` and
   one ``<name>_<precision>.edgecv.json`` listing each file's sha256, the calibration and held-out set hashes,
   the method, the layers kept in fp32 and the accuracy report). A failed or killed run leaves nothing
   ``load`` would accept.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import (ConversionError, EdgecvError, InvalidInputError, ModelContractError, ModelNotFoundError,
                      OutputWriteError, QuantizationError)
from ..fileio import remove_stale, write_text
from ..store.files import sha256_file
from ..store.metadata import METADATA_KEY, config_from_dict, dumps, metadata_path, parse_metadata, read_sidecar
from ..engines import engine_class
from ..targets import REFERENCE, TARGETS, check_fp16, parse_targets
from ..tasks import TaskSpec, get_task, guess_task
from ..trust import check_in_child, trusted_by_environment
from ..versions import __version__, package_version
from . import calibration, onnx_graph
from .converter import check_stem, convert
from .layers import NoiseMeter, rank_by_noise

log = logging.getLogger(__name__)

PRECISIONS = ("int8", "fp16")
#: Largest share of a model's weighted layers the fallback keeps in fp32 before an engine fails.
MAX_FP32_SHARE = 0.5
#: Most builds per engine (the first, fully quantised, included).
MAX_ATTEMPTS = 8
#: Calibration inputs used to rank layers by the quantisation noise they add.
RANK_INPUTS = 4
#: Largest finite fp16 value.
FP16_MAX = 65504.0
#: A quantised model is written only when its engine call is at least this much faster than fp32 on this device
#: (``min_speedup``; ``keep_slower`` writes it anyway): below it the accuracy risk buys nothing.
MIN_SPEEDUP = 1.15
#: Calibration inputs timed (each engine call alternated between fp32 and the candidate, medians).
SPEED_INPUTS = 2
SPEED_REPEATS = 7
#: Threads of the engines that compute calibration statistics: fixed, so a run gives the same files whatever
#: ``threads`` is (float sums in other orders differ in the last bits).
CALIBRATION_THREADS = 1

Progress = Callable[[str, int, int], None]


@dataclass
class EngineOutcome:
    """What quantisation did for one engine."""

    engine: str
    #: the precision of the file written ("fp32" when fp16 fell back)
    precision: str
    files: List[Path] = field(default_factory=list)
    passed: bool = False
    summary: Dict[str, Any] = field(default_factory=dict)
    failures: List[str] = field(default_factory=list)
    method: Dict[str, Any] = field(default_factory=dict)
    layers: int = 0
    fp32_layers: List[str] = field(default_factory=list)
    attempts: int = 0
    #: why fp16 fell back to fp32 (None otherwise)
    fallback: Optional[str] = None
    #: engine time of the fp32 model and of the written one on this device (ms), and their ratio
    ms_fp32: Optional[float] = None
    ms: Optional[float] = None
    #: passed its gates but is not faster than fp32 by ``min_speedup``: not written (None otherwise)
    not_written: Optional[str] = None

    @property
    def speedup(self) -> Optional[float]:
        return self.ms_fp32 / self.ms if self.ms_fp32 and self.ms else None

    def describe(self) -> Dict[str, Any]:
        doc = {"precision": self.precision, "method": self.method, "passed": self.passed, "report": self.summary,
               "attempts": self.attempts}
        if self.speedup is not None:
            doc.update({"speedup": round(self.speedup, 3), "ms_fp32": round(self.ms_fp32 or 0.0, 3),
                        "ms": round(self.ms or 0.0, 3)})
        if self.not_written:
            doc["not_written"] = self.not_written
        if self.layers:
            doc.update({"weighted_layers": self.layers, "fp32_layers": self.fp32_layers})
        if self.fallback:
            doc["fallback"] = self.fallback
        if self.failures:
            doc["failures"] = self.failures
        return doc


@dataclass
class QuantizationResult:
    """Files written per engine, their metadata files, and each engine's outcome."""

    files: Dict[str, List[Path]] = field(default_factory=dict)
    metadata_files: List[Path] = field(default_factory=list)
    outcomes: Dict[str, EngineOutcome] = field(default_factory=dict)
    calibration: Dict[str, Any] = field(default_factory=dict)
    gates: Dict[str, float] = field(default_factory=dict)
    #: gates by truth (``truth=``): the dataset metric judged, the fp32 model's value and the largest drop allowed
    truth: Dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> Dict[str, List[str]]:
        return {e: o.failures for e, o in self.outcomes.items() if not o.passed}

    def to_dict(self) -> Dict[str, Any]:
        return {"files": {e: [str(p) for p in ps] for e, ps in self.files.items()},
                "metadata_files": [str(p) for p in self.metadata_files], "calibration": self.calibration,
                "gates": self.gates, "truth": self.truth,
                "engines": {e: o.describe() for e, o in self.outcomes.items()}}

    def table(self) -> str:
        """One line per engine: precision written, layers kept in fp32, the agreement metrics (and the dataset metric
        with gates by truth), the speed-up over fp32 on this device, the verdict."""
        lines = []
        metrics = list(self.gates) + ([self.truth["metric"], "drop"] if self.truth else [])
        head = f"{'engine':12s} {'precision':9s} {'fp32 layers':>11s} " + " ".join(f"{m[:14]:>14s}" for m in metrics)
        lines.append(head + f" {'speed-up':>9s}  verdict")
        if self.truth:
            lines.insert(0, f"judged by {self.truth['metric']} on {self.truth['dataset']} (fp32: "
                            f"{self.truth['reference']:.4f}; largest drop {self.truth['max_drop']:g}); "
                            "agreement with fp32 is shown, not judged")
        for engine, o in self.outcomes.items():
            kept = f"{len(o.fp32_layers)}/{o.layers}" if o.layers else "-"
            cells = " ".join(f"{o.summary.get(m, float('nan')):14.4g}" for m in metrics)
            verdict = "passed" if o.passed else "FAILED"
            if o.passed and o.not_written:
                verdict = "not written"
            speed = f"{o.speedup:8.2f}x" if o.speedup is not None else f"{'-':>9s}"
            lines.append(f"{engine:12s} {o.precision:9s} {kept:>11s} {cells} {speed}  {verdict}")
            if o.fallback:
                lines.append(f"  {engine}: {o.fallback}")
            if o.not_written:
                lines.append(f"  {engine}: {o.not_written}")
            for failure in o.failures:
                lines.append(f"  {engine}: {failure}")
        for engine, paths in self.files.items():
            lines.append(f"{engine}: " + ", ".join(str(p) for p in paths))
        return "\n".join(lines)


def task_of(src: Path, task: Optional[str]) -> TaskSpec:
    """The task asked for, else the model's embedded metadata's, else the one its output names match."""
    if task:
        return get_task(task)
    sidecar = read_sidecar(src)
    if sidecar is not None and sidecar.task:
        return get_task(sidecar.task)
    model = onnx_graph.load(src)
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY in props:
        config = parse_metadata(props[METADATA_KEY], f"{src} (embedded metadata)")
        if config.task:
            return get_task(config.task)
    try:
        return guess_task(list(onnx_graph.output_names(model)))
    except ModelContractError as exc:
        raise ModelContractError(f"{src.name}: {exc}") from None


def check_precision(precision: str, engines: Sequence[str]) -> None:
    """InvalidInputError for an unknown precision; PrecisionNotSupportedError for an engine that cannot run it."""
    if precision not in PRECISIONS:
        raise InvalidInputError(f"precision must be one of {list(PRECISIONS)}, got {precision!r:.40}")
    if precision == "fp16":
        check_fp16(engines)
    else:
        for engine in engines:
            TARGETS[engine].quantizer_class(precision)


def quantize(model: Union[str, os.PathLike], calib: Union[str, os.PathLike], *, precision: str = "int8",
             to: Union[str, Sequence[str]] = (REFERENCE,), out_dir: Union[str, os.PathLike] = ".",
             task: Optional[str] = None, holdout: Optional[Union[str, os.PathLike]] = None,
             name: Optional[str] = None, limits: Optional[Mapping[str, float]] = None, fallback: bool = True,
             minimum: Optional[Tuple[int, int]] = None, threads: Optional[int] = None, trust: bool = False,
             progress: Optional[Progress] = None, licence: Optional[str] = None,
             origin: Optional[str] = None, truth: Any = None, max_drop: float = 0.01,
             min_speedup: float = MIN_SPEEDUP, keep_slower: bool = False) -> QuantizationResult:
    """Quantise an fp32 ONNX model for the engines in ``to``; see the module docstring.

    Args:
        model: an fp32 ``.onnx`` file (raw or converted by ``edgecv convert``).
        calib: a folder of images like those the model will see (MVS: a scene folder); a quarter of it (by
            content hash) is held out to judge the result, unless ``holdout`` names another folder.
        precision: ``"int8"`` or ``"fp16"`` (ncnn and MNN only).
        to: engines (``onnxruntime``, ``ncnn``, ``mnn``).
        out_dir: receives ``<name>_<precision>.<suffix>`` per engine and one ``.edgecv.json``.
        task: the task, when the model's metadata or output names do not tell it.
        name: base name of the files written (default: the model file's stem).
        limits: gate limits by metric (``TaskSpec.gates["quantize"]``), e.g. ``{"recall": 0.99}``.
        fallback: keep more layers in fp32 while a gate fails (False: judge the first build only).
        minimum: (calibrate, held out) inputs required (default: the task's ``min_calibration``).
        threads: engine threads for calibration and judging.
        trust: skip the child-process checks of the source and of the files written (``edgecv.trust``).
        progress: called as ``progress(stage, done, total)`` while work proceeds.
        licence: the weights' licence for the metadata (default: the model's own metadata).
        origin: where the weights come from, for the metadata (default: the model's own metadata).
        truth: judge by a labelled dataset instead of agreement with fp32: an object with ``metric`` (the metric's
            name), ``describe()`` and ``measure(model) -> metrics`` (``edgecv.evaluate.TruthJudge``); a candidate
            passes when its metric is at most ``max_drop`` below the fp32 model's. Agreement is still reported.
        max_drop: the largest drop of the dataset metric allowed with ``truth``.
        min_speedup: a model that passes is written only when its engine call is this much faster than fp32 here.
        keep_slower: write models that pass but are not faster by ``min_speedup``.

    Raises QuantizationError (with ``.result``: what was written for the engines that passed) when an engine's
    model fails its gates; CalibrationError, PrecisionNotSupportedError, ModelContractError on bad input.
    """
    from ..engines import check_threads, create_engine

    src = Path(model)
    if not src.is_file():
        raise ModelNotFoundError(f"model file not found: {src}")
    if src.suffix.lower() != ".onnx":
        raise InvalidInputError(f"quantize starts from the fp32 ONNX model (the reference every engine is judged "
                                f"against); {src.name} is not an .onnx file")
    targets = parse_targets(to)
    check_precision(precision, targets)
    if not all(isinstance(v, bool) for v in (fallback, trust, keep_slower)):
        raise InvalidInputError("fallback, trust and keep_slower must be True or False")
    for what, value in (("max_drop", max_drop), ("min_speedup", min_speedup)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"{what} must be a finite number >= 0, got {value!r:.40}")
    threads = check_threads(threads)
    base = check_stem(name or src.stem)
    stem = check_stem(f"{base}_{precision}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"--out {out_dir} is a file, not a folder")
    spec = task_of(src, task)
    gates = spec.gate_limits("quantize", limits)
    split = calibration.split_calibration(spec, calib, holdout, minimum=minimum)
    if truth is not None:
        calibration.check_disjoint(split, truth)
    trust = trust or trusted_by_environment()
    report = progress or (lambda stage, done, total: None)

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale(out_dir, ".quantize-")  # what killed runs left, whatever their names
        staging = Path(tempfile.mkdtemp(prefix=f".quantize-{os.getpid()}-{stem}-", dir=out_dir))
    except OSError as exc:
        raise OutputWriteError(f"cannot write into {out_dir}: {exc.strerror or exc}") from exc
    result = QuantizationResult(calibration=split.describe(), gates=gates)
    try:
        report("fp32 reference", 0, 1)
        reference_stem = check_stem(f"{base}_fp32")
        conv = convert(src, spec.name, out_dir=staging / "fp32", to=tuple(dict.fromkeys((REFERENCE,) + targets)),
                       name=reference_stem, trust=trust, licence=licence, origin=origin)
        report("fp32 reference", 1, 1)
        meta = {k: v for k, v in conv.metadata.items() if k != "files"}
        config = config_from_dict(meta, reference_stem)
        reference = spec.model(create_engine(REFERENCE, conv.files[REFERENCE], threads=threads), config)
        samples = []
        for i, feeds in enumerate(calibration.feeds(reference, split.calibrate)):
            samples.append(feeds)
            report("calibration inputs", i + 1, len(split.calibrate))
        references = []
        for i, s in enumerate(split.holdout):
            references.append(reference.detect(s.item, **s.options))
            report("fp32 results on held-out inputs", i + 1, len(split.holdout))
        judge = _Judge(spec, split.holdout, references, gates, threads, trust, config)
        if truth is not None:
            report(f"fp32 {truth.metric} on the labelled data", 0, 1)
            judge.by_truth(truth, truth.measure(reference), max_drop)
            result.truth = judge.truth_doc()
            report(f"fp32 {truth.metric} on the labelled data", 1, 1)
        for engine in targets:
            work = staging / engine
            work.mkdir()
            if precision == "int8":
                outcome = _int8(engine, conv.files[engine], work, samples, judge, fallback, threads, report)
            else:
                outcome = _fp16(engine, src, spec, base, staging, conv.files[engine], reference, samples, judge,
                                trust, report)
            if outcome.passed and outcome.precision != "fp32":
                report(f"{engine} {precision}: speed against fp32", 0, 1)
                outcome.ms_fp32, outcome.ms = _engine_ms(engine, conv.files[engine], outcome.files,
                                                         samples[:SPEED_INPUTS], threads, outcome.precision == "fp16")
                report(f"{engine} {precision}: speed against fp32", 1, 1)
                if (outcome.speedup or 0.0) < min_speedup and not keep_slower:
                    outcome.not_written = (f"not written: {outcome.speedup:.2f}x the fp32 speed on this device "
                                           f"({outcome.ms:.1f} vs {outcome.ms_fp32:.1f} ms per call; it must be "
                                           f"{min_speedup:g}x to pay for its accuracy risk; --keep-slower writes it)")
                    log.warning("%s %s: %s", engine, precision, outcome.not_written)
            result.outcomes[engine] = outcome
        _write(result, out_dir, base, meta, precision, split)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    failed = result.failed
    if failed:
        written = "; ".join(f"{e}: {', '.join(str(p) for p in ps)}" for e, ps in result.files.items())
        lines = [f"{e}: {'; '.join(f)}" for e, f in failed.items()]
        raise QuantizationError(
            f"{precision} {spec.name} model fails its gates on {len(split.holdout)} held-out inputs, with up to "
            f"{MAX_FP32_SHARE:.0%} of its layers in fp32: " + " | ".join(lines)
            + (f" (written for the engines that passed: {written})" if written else " (nothing written)")
            + ". Calibrate on more, and more varied, inputs like those the model will see.", result)
    return result


class _Judge:
    """The task's "quantize" gates on the held-out inputs, against the fp32 reference's results; or, with a labelled
    dataset (``by_truth``), the drop of its metric, agreement still reported."""

    def __init__(self, spec: TaskSpec, holdout, references, gates: Dict[str, float], threads: int, trust: bool,
                 config) -> None:
        self.spec, self.holdout, self.references, self.gates = spec, holdout, references, gates
        self.threads, self.trust, self.config = threads, trust, config
        self.truth: Any = None
        self.truth_reference = 0.0
        self.max_drop = 0.0

    def by_truth(self, truth: Any, reference_metrics: Mapping[str, float], max_drop: float) -> None:
        self.truth, self.max_drop = truth, float(max_drop)
        self.truth_reference = float(reference_metrics[truth.metric])

    def truth_doc(self) -> Dict[str, Any]:
        return {"metric": self.truth.metric, "reference": self.truth_reference, "max_drop": self.max_drop,
                "dataset": self.truth.describe()}

    def load(self, engine: str, files: Sequence[Path], precision: str, fp16: bool = False):
        from ..engines import create_engine

        if not self.trust:
            try:
                check_in_child(engine, files, self.spec.name, default_size=self.config.input.get("size"))
            except EdgecvError as exc:
                raise ConversionError(f"the {precision} {engine} model does not load: {exc}") from None
        config = config_from_dict({**self.config.raw, "precision": precision, "fp16": precision == "fp16"},
                                  self.config.name)
        return self.spec.model(create_engine(engine, files, threads=self.threads, fp16=fp16), config)

    def margin(self, summary: Dict[str, Any]) -> float:
        if self.truth is not None:
            excess = summary["drop"] - self.max_drop
            return 0.0 if excess <= 0 else -excess / max(self.max_drop, 1e-6)
        return self.spec.gate_shortfall(summary, "quantize", self.gates)

    def __call__(self, model) -> Tuple[Dict[str, Any], List[str]]:
        rows = [self.spec.compare(ref, model.detect(s.item, **s.options))
                for s, ref in zip(self.holdout, self.references)]
        summary = self.spec.summarize(rows)
        if self.truth is None:
            return summary, self.spec.gate_failures(summary, "quantize", self.gates)
        value = float(self.truth.measure(model)[self.truth.metric])
        drop = self.truth_reference - value
        summary.update({self.truth.metric: value, "drop": drop})
        failures = [] if drop <= self.max_drop else [
            f"{self.truth.metric} {value:.4f} is {drop:.4f} below the fp32 model's {self.truth_reference:.4f} "
            f"(largest drop allowed {self.max_drop:g})"]
        return summary, failures


def _int8(engine: str, fp32_files: List[Path], work: Path, samples, judge: _Judge, fallback: bool, threads: int,
          report: Progress) -> EngineOutcome:
    report(f"{engine} int8: calibrating", 0, 1)
    q = TARGETS[engine].quantizer_class()(fp32_files, work, samples, threads=CALIBRATION_THREADS)
    report(f"{engine} int8: calibrating", 1, 1)
    weighted = [la.name for la in q.network.weighted]
    structural = q.network.structural()
    outcome = EngineOutcome(engine, "int8", method=q.method, layers=len(weighted))
    limit = max(len(structural), int(MAX_FP32_SHARE * len(weighted)))

    def attempt(keep: List[str]) -> float:
        outcome.attempts += 1
        stage = f"{engine} int8: build {outcome.attempts}, {len(keep)} layers in fp32"
        report(stage, 0, 1)
        target = work / f"attempt{outcome.attempts}" / "model"
        target.parent.mkdir()
        files = q.build(keep, TARGETS[engine].files_for(target.parent, target.name)[0])
        summary, failures = judge(judge.load(engine, files, "int8"))
        report(stage, 1, 1)
        margin = judge.margin(summary)
        log.info("%s int8 attempt %d (%d/%d layers in fp32): %s", engine, outcome.attempts, len(keep), len(weighted),
                 "; ".join(failures) or "gates hold")
        if not outcome.files or margin > best[0]:
            best[0] = margin
            outcome.files, outcome.summary, outcome.failures, outcome.fp32_layers = files, summary, failures, list(keep)
        return margin

    best = [-math.inf]
    attempt([])
    if outcome.failures and fallback:
        ranking = _rank(engine, q, fp32_files, outcome.files, samples[:RANK_INPUTS], CALIBRATION_THREADS)
        groups: List[List[str]] = [structural] if structural else []
        rest = [n for n in ranking if n not in structural]
        size = 1
        while rest:
            groups.append(rest[:size])
            rest = rest[size:]
            size *= 2
        for group in groups:
            keep = outcome.fp32_layers + [n for n in group if n not in outcome.fp32_layers]
            if outcome.attempts >= MAX_ATTEMPTS or len(keep) > limit:
                break
            attempt(keep)  # kept only when it brings the metrics closer to the gates
            if not outcome.failures:
                break
    outcome.passed = not outcome.failures
    return outcome


def _engine_ms(engine: str, fp32_files: Sequence[Path], files: Sequence[Path], samples, threads: int,
               fp16: bool) -> Tuple[float, float]:
    """Median engine-call time (ms) of the fp32 model and of ``files`` on ``samples``, calls alternated so that
    the machine's drift hits both alike."""
    import statistics
    import time

    from ..engines import create_engine

    models = [create_engine(engine, fp32_files, threads=threads),
              create_engine(engine, files, threads=threads, fp16=fp16)]
    times: List[List[float]] = [[], []]
    for feeds in samples:
        for m in models:
            m.run(feeds)
    for _ in range(SPEED_REPEATS):
        for feeds in samples:
            for i, m in enumerate(models):
                start = time.perf_counter()
                m.run(feeds)
                times[i].append(time.perf_counter() - start)
    return statistics.median(times[0]) * 1e3, statistics.median(times[1]) * 1e3


def _rank(engine: str, q, fp32_files, int8_files, samples, threads: int) -> List[str]:
    """Weighted layers by the quantisation noise they add, largest first (network order if unmeasurable)."""
    from ..engines import create_engine

    weighted = [la.name for la in q.network.weighted]
    probes = q.network.probes(weighted)
    tensors = list(dict.fromkeys(t for pair in probes.values() for t in pair))
    meter = NoiseMeter()
    try:
        fp32 = create_engine(engine, fp32_files, threads=threads)
        quantised = create_engine(engine, int8_files, threads=threads)
        inputs = set(q.network.inputs)
        asked = [t for t in tensors if t not in inputs]
        for feeds in samples:
            meter.add(fp32.probe(feeds, asked), quantised.probe(feeds, asked))
    except EdgecvError as exc:
        log.info("%s: cannot measure per-layer noise (%s); keeping layers in fp32 from the output end", engine, exc)
        return list(reversed(weighted))
    ranked = [name for name, _ in rank_by_noise(probes, meter)]
    log.debug("%s noisiest layers: %s", engine, ranked[:10])
    return ranked


def _fp16(engine: str, src: Path, spec: TaskSpec, base: str, staging: Path, fp32_files: List[Path], reference,
          samples, judge: _Judge, trust: bool, report: Progress) -> EngineOutcome:
    report(f"{engine} fp16: converting", 0, 1)
    conv = convert(src, spec.name, out_dir=staging / engine / "fp16", to=[engine], fp16=True,
                   name=check_stem(f"{base}_fp16"), trust=trust)
    report(f"{engine} fp16: converting", 1, 1)
    files = conv.files[engine]
    outcome = EngineOutcome(engine, "fp16", files=files, attempts=1,
                            method={"weights": "fp16", "arithmetic": engine_class(engine).fp16_arithmetic()})
    problems = []
    peaks = _activation_peaks(reference, samples)
    over = {t: v for t, v in peaks.items() if v > FP16_MAX}
    if over:
        worst = max(over, key=over.__getitem__)
        problems.append(f"{len(over)} fp32 activations exceed the fp16 range (tensor '{worst}' reaches "
                        f"{over[worst]:.3g} > {FP16_MAX:g})")
    model = judge.load(engine, files, "fp16", fp16=True)
    bad = 0
    for feeds in samples:
        outputs = model.engine.run(feeds, model.output_names)
        bad += any(not np.isfinite(v).all() for v in outputs.values())
    if bad:
        problems.append(f"NaN or inf outputs on {bad} of {len(samples)} calibration inputs")
    summary, failures = judge(model)
    outcome.summary = summary
    problems += failures
    if problems:
        outcome.fallback = (f"fp16 is not safe for this model on {engine} ({'; '.join(problems)}): "
                            f"the fp32 model was written instead")
        log.warning("%s: %s", engine, outcome.fallback)
        outcome.precision, outcome.files = "fp32", fp32_files
        outcome.method = {"weights": "fp32"}
    outcome.passed = True
    return outcome


def _activation_peaks(reference, samples) -> Dict[str, float]:
    """Largest |value| of every tensor of the fp32 reference over the calibration inputs."""
    onnx = onnx_graph.import_onnx()
    model = onnx.shape_inference.infer_shapes(onnx_graph.load(reference.engine.files[0]))
    floats = {v.name for v in model.graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    floats |= {v.name for v in model.graph.output}
    tensors = [o for n in model.graph.node if n.op_type != "Constant" for o in n.output if o in floats]
    peaks: Dict[str, float] = {}
    for feeds in samples:
        for name, value in reference.engine.probe(feeds, tensors).items():
            if value.size and np.issubdtype(value.dtype, np.floating):
                peak = float(np.abs(value).max())
                peaks[name] = max(peaks.get(name, 0.0), peak if math.isfinite(peak) else math.inf)
    return peaks


def _write(result: QuantizationResult, out_dir: Path, base: str, meta: Dict[str, Any], precision: str,
           split) -> None:
    """Move each passing engine's files into ``out_dir`` under ``<base>_<precision written>``, metadata last."""
    groups: Dict[str, List[EngineOutcome]] = {}
    for outcome in result.outcomes.values():
        if outcome.passed and not outcome.not_written:
            groups.setdefault(outcome.precision, []).append(outcome)
    for written, outcomes in groups.items():
        stem = f"{base}_{written}"
        doc = {**meta, "name": stem, "precision": written, "fp16": written == "fp16",
               "tools": {**meta.get("tools", {}), "edgecv": __version__,
                         REFERENCE: package_version(TARGETS[REFERENCE].distribution)},
               "quantization": {"requested": precision, **split.describe(), "gates": result.gates,
                                "engines": {o.engine: o.describe() for o in outcomes}}}
        for o in outcomes:
            if o.files[0].suffix == ".onnx":  # an ONNX file carries its metadata inside as well, without this
                # device's timings: the same command writes the same bytes (the sidecar keeps the timings)
                engines = {e: {k: v for k, v in d.items() if k not in ("speedup", "ms", "ms_fp32")}
                           for e, d in doc["quantization"]["engines"].items()}
                onnx_model = onnx_graph.load(o.files[0])
                onnx_graph.set_metadata(onnx_model,
                                        {**doc, "quantization": {**doc["quantization"], "engines": engines}})
                onnx_graph.save(onnx_model, o.files[0])
        moves: List[Tuple[Path, Path]] = []
        files_doc: Dict[str, List[Dict[str, str]]] = {}
        for o in outcomes:
            finals = TARGETS[o.engine].files_for(out_dir, stem)
            files_doc[o.engine] = [{"name": f.name, "sha256": sha256_file(p)} for p, f in zip(o.files, finals)]
            moves += list(zip(o.files, finals))
        previous = _previous_entries(out_dir, stem, meta, set(files_doc))
        doc["files"] = {**previous.get("files", {}), **files_doc}
        doc["quantization"]["engines"] = {**previous.get("engines", {}), **doc["quantization"]["engines"]}
        sidecar = metadata_path(out_dir / f"{stem}.onnx")
        try:
            for staged, final in moves:
                os.replace(staged, final)
        except OSError as exc:
            raise OutputWriteError(f"cannot write into {out_dir}: {exc.strerror or exc}") from exc
        write_text(sidecar, dumps(doc))  # last: until it is there, the new files are not listed as checked
        for o in outcomes:
            o.files = [final for staged, final in moves if staged in o.files]
            result.files[o.engine] = o.files
        result.metadata_files.append(sidecar)


def _previous_entries(out_dir: Path, stem: str, meta: Dict[str, Any], replaced: set) -> Dict[str, Any]:
    """Entries of an earlier run's metadata for the same source model and engines not redone now (their files
    still present and unchanged), so quantising one engine at a time keeps the others loadable."""
    path = metadata_path(out_dir / f"{stem}.onnx")
    try:
        old = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return {}
    if not isinstance(old, dict) or (old.get("source") or {}).get("sha256") != meta["source"]["sha256"]:
        return {}
    files, engines = {}, {}
    for engine, entries in (old.get("files") or {}).items():
        if engine in replaced or not isinstance(entries, list):
            continue
        try:
            if all((out_dir / e["name"]).is_file() and sha256_file(out_dir / e["name"]) == e["sha256"]
                   for e in entries):
                files[engine] = entries
                engines[engine] = ((old.get("quantization") or {}).get("engines") or {}).get(engine, {})
        except (OSError, KeyError, TypeError):
            continue
    return {"files": files, "engines": engines}
