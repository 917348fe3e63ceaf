"""``edgecv eval``: one model, one or several engine/precision configurations, the same labelled images, the official
metrics, in one run.

Every configuration's predictions are cached as they are made (``<cache>/eval/<dataset>/<configuration>.jsonl``,
one line per image, flushed), so an interrupted run resumes where it stopped; a configuration is the model files'
sha256, the engine, the precision and the options, so changing any of them starts afresh. Metrics are always
computed from the cached form, so a resumed run and a fresh one give the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import store
from ..errors import EdgecvError, InvalidInputError, OutputWriteError
from ..fileio import write_text
from ..loading import ModelFiles, fp32_models, load, quantized_models, source_model
from ..targets import REFERENCE, parse_targets
from ..versions import __version__
from . import coco as coco_eval
from . import depth as depth_eval
from . import widerface
from .datasets import BoxSample, Dataset, coco_document, ground_truth_depth, load_dataset

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8")
#: Face detectors run with this score threshold in ``eval`` (AP needs the low-score detections as well).
FACE_SCORE_THRESHOLD = 0.02
Progress = Callable[[str, int, int], None]


@dataclass
class EvalRow:
    """One configuration's metrics, their difference from ONNX Runtime fp32, and its speed."""

    label: str
    engine: str
    precision: str
    metrics: Dict[str, float]
    delta: Dict[str, float] = field(default_factory=dict)
    images: int = 0
    images_per_s: float = float("nan")
    files: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {"config": self.label, "engine": self.engine, "precision": self.precision, **self.metrics,
                **{f"delta_{k}": v for k, v in self.delta.items()}, "images": self.images,
                "images_per_s": self.images_per_s, "files": self.files}


@dataclass
class EvalReport:
    """What ``evaluate`` measured: the dataset, one row per configuration, the primary metric, and the curves."""

    model: str
    task: str
    dataset: Dict[str, Any]
    metric: str
    rows: List[EvalRow]
    #: label -> subset -> (recall, precision) for plots
    curves: Dict[str, Dict[str, Tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    predictions: List[str] = field(default_factory=list)

    def row(self, engine: str = REFERENCE, precision: str = "fp32") -> EvalRow:
        return next(r for r in self.rows if (r.engine, r.precision) == (engine, precision))

    def to_rows(self) -> List[Dict[str, Any]]:
        return [r.to_dict() for r in self.rows]

    def table(self) -> str:
        names = list(self.rows[0].metrics) if self.rows else []
        head = f"{'configuration':24s} " + " ".join(f"{n:>12s}" for n in names) + \
            " " + " ".join(f"{'Δ ' + n:>12s}" for n in names) + f" {'images/s':>9s}"
        lines = [f"{self.model} ({self.task}) on {self.dataset['format']} {self.dataset['root']} "
                 f"({self.dataset['samples']} {'views' if self.task == 'mvs' else 'images'})", head]
        for r in self.rows:
            cells = " ".join(f"{r.metrics[n]:12.4f}" for n in names)
            deltas = " ".join(f"{r.delta.get(n, float('nan')):+12.4f}" if r.delta else f"{'':>12s}" for n in names)
            lines.append(f"{r.label:24s} {cells} {deltas} {r.images_per_s:9.2f}")
        for p in self.predictions:
            lines.append(f"predictions: {p}")
        return "\n".join(lines)


def _sha_files(files: Sequence[Path]) -> List[str]:
    return [store.sha256_file(Path(f)) for f in files]


class _Cache:
    """One configuration's predictions on disk: id -> line, appended and flushed one image at a time."""

    def __init__(self, path: Optional[Path]) -> None:
        self.path = path
        self.lines: Dict[str, Dict[str, Any]] = {}
        self._file: Any = None
        if path is not None and path.is_file():
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        doc = json.loads(line)
                    except ValueError:
                        continue  # a line cut by a kill: done again
                    if isinstance(doc, dict) and isinstance(doc.get("id"), str):
                        self.lines[doc["id"]] = doc

    def add(self, doc: Dict[str, Any]) -> None:
        self.lines[doc["id"]] = doc
        if self.path is None:
            return
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(json.dumps(doc, allow_nan=True) + "\n")
            self._file.flush()
        except OSError as exc:
            log.warning("cannot cache eval predictions in %s (%s): the run goes on without", self.path, exc)
            self.path = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _floats(a: np.ndarray) -> list:
    """float32 values as JSON numbers that read back as the same float32."""
    return np.asarray(a, np.float32).astype(np.float64).tolist()


def _configurations(model: Union[str, os.PathLike], reference: Path, task: str, engines: Sequence[str],
                    precisions: Sequence[str], quantized: Sequence[Union[str, os.PathLike]]) -> List[ModelFiles]:
    fp32_engines = [e for e in engines if "fp32" in precisions]
    configs = fp32_models(model, reference, task, list(dict.fromkeys([REFERENCE] + fp32_engines)))
    if REFERENCE not in fp32_engines and "fp32" not in precisions:
        configs = configs[:1]
    lower = [p for p in precisions if p != "fp32"]
    if lower:
        found = quantized_models([Path(q) for q in quantized], engines, lower)
        missing = [(e, p) for e in engines for p in lower if not any((c.engine, c.precision) == (e, p) for c in found)]
        if missing:
            text = ", ".join(f"{e} {p}" for e, p in missing)
            raise InvalidInputError(f"no {text} files of this model in {[str(q) for q in quantized] or 'any folder'}: "
                                    "run `edgecv quantize` and pass its --out folder with --quantized")
        configs += found
    return configs


def _label(c: ModelFiles) -> str:
    return f"{c.engine} {c.precision}"


def evaluate(model: Union[str, os.PathLike], data: Union[str, os.PathLike, Dataset], *, format: Optional[str] = None,
             labels: Optional[Union[str, os.PathLike]] = None, engines: Union[str, Sequence[str]] = (REFERENCE,),
             precisions: Sequence[str] = ("fp32",), quantized: Sequence[Union[str, os.PathLike]] = (),
             threads: Optional[int] = None, limit: Optional[int] = None, options: Optional[Dict[str, Any]] = None,
             predictions: Optional[Union[str, os.PathLike]] = None, cache: bool = True, trust: bool = False,
             progress: Optional[Progress] = None) -> EvalReport:
    """Measure ``model`` (a name or an fp32 ``.onnx`` file) against the labels of ``data``.

    Args:
        model: a model name or an fp32 ONNX file (other engines' files are converted once into the cache).
        data: a dataset folder (``edgecv.evaluate.datasets``) or a loaded :class:`Dataset`.
        format: ``widerface``, ``coco``, ``voc-faces`` or ``mvs`` (default: told from the files).
        labels: the ground truth when it is not inside ``data`` (WIDER FACE's .mat folder, a COCO JSON...).
        engines: engines to evaluate; ONNX Runtime fp32 is always evaluated too, as the reference of the deltas.
        precisions: of fp32, int8, fp16; int8/fp16 files come from ``quantized`` folders (``edgecv quantize --out``).
        threads: engine threads.
        limit: the first N images (views) only.
        options: task options for every configuration (face detectors default to ``score_threshold`` 0.02:
            AP needs the low-score detections).
        predictions: write the predictions: WIDER FACE's submission format (a folder of one txt per image) or a
            COCO results JSON; with several configurations, one per configuration (the label in the name).
        cache: keep predictions per configuration in the cache, so an interrupted run resumes.
        trust: skip the child-process check of model files (``edgecv.trust``).
        progress: ``progress(stage, done, total)`` while images are run.

    Returns an :class:`EvalReport` (``table()``, ``to_rows()``, ``curves``).
    """
    report_progress = progress or (lambda stage, done, total: None)
    for p in precisions:
        if p not in PRECISIONS:
            raise InvalidInputError(f"precisions must be of {list(PRECISIONS)}, got {p!r:.30}")
    engine_list = parse_targets(engines)
    dataset = data if isinstance(data, Dataset) else load_dataset(data, format, labels)
    dataset = dataset.limited(limit)
    if not dataset.samples:
        raise InvalidInputError(f"{dataset.root}: no images to evaluate on")
    reference = source_model(model)
    if not reference.is_file():
        raise InvalidInputError(f"model file not found: {reference}")
    from ..convert.quantize import task_of

    spec = task_of(reference, None)
    kind = _task_kind(spec)
    if kind != dataset.kind:
        raise InvalidInputError(f"{model} is a {spec.name} model ({kind}); {dataset.root} is a {dataset.kind} dataset")
    opts = dict(options or {})
    if kind == "faces":
        opts.setdefault("score_threshold", FACE_SCORE_THRESHOLD)
    configs = _configurations(model, reference, spec.name, engine_list, precisions, quantized)
    data_key = hashlib.sha256(json.dumps([dataset.format, str(dataset.root.resolve()), kind]).encode()).hexdigest()[:16]
    rows: List[EvalRow] = []
    report = EvalReport(str(model), spec.name, dataset.describe(), primary_metric(dataset), rows)
    for n, config in enumerate(configs):
        loaded = load(config.model, engine=config.engine if not config.files else None, threads=threads,
                      trust=trust, **opts)
        files = [str(f) for f in loaded.engine.files]
        key = hashlib.sha256(json.dumps([__version__, config.engine, config.precision, _sha_files(loaded.engine.files),
                                         sorted((k, repr(v)) for k, v in opts.items())]).encode()).hexdigest()[:16]
        path = store.cache_dir() / "eval" / data_key / f"{key}.jsonl" if cache else None
        stage = f"{_label(config)} ({n + 1}/{len(configs)})"
        docs = _predict(loaded, dataset, _Cache(path), stage, report_progress)
        metrics, curves = _metrics(dataset, docs)
        ms = [d["ms"] for d in docs if isinstance(d.get("ms"), (int, float))]
        rows.append(EvalRow(_label(config), config.engine, config.precision, metrics, images=len(docs),
                            images_per_s=(len(ms) / (sum(ms) / 1000)) if ms and sum(ms) > 0 else float("nan"),
                            files=files))
        report.curves[_label(config)] = curves
        if predictions is not None:
            report.predictions.append(str(_write_predictions(dataset, docs, Path(predictions), _label(config),
                                                             several=len(configs) > 1)))
    ref = rows[0].metrics
    for r in rows:
        r.delta = {k: v - ref[k] for k, v in r.metrics.items() if k != "pixels" and math.isfinite(v)
                   and math.isfinite(ref.get(k, float("nan")))}
    return report


def _task_kind(spec) -> str:
    from ..tasks import VIEWS

    if spec.inputs == VIEWS:
        return "depth"
    if spec.name == "openpose" or spec.result.__name__ == "Poses":
        return "keypoints"
    return "faces"


def primary_metric(dataset: Dataset) -> str:
    """The metric a gate by truth judges: WIDER FACE's hardest subset, COCO AP@0.5 for boxes, OKS AP for people,
    the share of depth within 1 % (without ground truth: consistency)."""
    if dataset.kind == "faces":
        return f"AP_{dataset.subsets[-1]}" if dataset.format == "widerface" else "AP50"
    if dataset.kind == "keypoints":
        return "AP"
    return "within_1pct" if dataset.depth_dir is not None else "consistency"


def _predict(model, dataset: Dataset, cache: _Cache, stage: str, progress: Progress) -> List[Dict[str, Any]]:
    """Each sample's prediction (from the cache, or run now and cached), in the dataset's order."""
    from ..image import read_image

    total = len(dataset.samples)
    progress(stage, 0, total)
    try:
        if dataset.kind == "depth":
            return _predict_depth(model, dataset, cache, stage, progress)
        out = []
        for i, sample in enumerate(dataset.samples):
            sid = sample.id if isinstance(sample, BoxSample) else str(sample["id"])
            doc = cache.lines.get(sid)
            if doc is None:
                path = sample.path if isinstance(sample, BoxSample) else sample["path"]
                image = read_image(path)
                start = time.perf_counter()
                result = model.detect(image)
                ms = (time.perf_counter() - start) * 1000
                if dataset.kind == "faces":
                    pred = {"boxes": _floats(result.boxes), "scores": _floats(result.scores)}
                else:
                    pred = {"keypoints": _floats(result.keypoints), "scores": _floats(result.scores)}
                doc = {"id": sid, "ms": ms, "pred": pred}
                cache.add(doc)
            out.append(doc)
            progress(stage, i + 1, total)
        return out
    finally:
        cache.close()


def _predict_depth(model, dataset: Dataset, cache: _Cache, stage: str, progress: Progress) -> List[Dict[str, Any]]:
    scene = dataset.scene
    views = [int(s["view"]) for s in dataset.samples]
    if dataset.depth_dir is None:  # geometric consistency: every view's depth, filtered against its sources
        if all(str(v) in cache.lines for v in views):
            return [cache.lines[str(v)] for v in views]
        from ..tasks.mvs import reconstruct

        start = time.perf_counter()
        done = [0]

        def step(d, total, view, seconds):
            done[0] += 1
            progress(stage, min(done[0], len(views)), len(views))

        result = reconstruct(model, scene, views, progress=step)
        ms = (time.perf_counter() - start) * 1000 / max(1, len(result.depth_maps))
        out: List[Dict[str, Any]] = []
        for v in views:
            mask = result.masks[v]
            doc = {"id": str(v), "ms": ms, "pred": {"kept": float(mask.sum()), "pixels": float(mask.size)}}
            cache.add(doc)
            out.append(doc)
        return out
    out = []
    for i, v in enumerate(views):
        cached = cache.lines.get(str(v))
        if cached is not None:
            out.append(cached)
        else:
            truth = ground_truth_depth(dataset, v)
            start = time.perf_counter()
            depth = model.detect(scene, ref=v)
            ms = (time.perf_counter() - start) * 1000
            sums = depth_eval.depth_sums(depth.depth, truth) if truth is not None else None
            doc = {"id": str(v), "ms": ms, "pred": {"sums": sums}}
            cache.add(doc)
            out.append(doc)
        progress(stage, i + 1, len(views))
    return out


def _box_predictions(docs: Sequence[Dict[str, Any]]) -> List[Tuple[np.ndarray, np.ndarray]]:
    return [(np.asarray(d["pred"]["boxes"], np.float64).reshape(-1, 4), np.asarray(d["pred"]["scores"], np.float64))
            for d in docs]


def _metrics(dataset: Dataset, docs: Sequence[Dict[str, Any]]
             ) -> Tuple[Dict[str, float], Dict[str, Tuple[np.ndarray, np.ndarray]]]:
    if dataset.kind == "faces" and dataset.format == "widerface":
        curves = widerface.evaluate_boxes(_box_predictions(docs), [s.boxes for s in dataset.samples],
                                          [s.keep for s in dataset.samples], dataset.subsets)
        return ({f"AP_{k}": c.ap for k, c in curves.items()},
                {k: (c.recall, np.nan_to_num(c.precision)) for k, c in curves.items()})
    if dataset.kind == "faces":
        document = coco_document(dataset)
        category = dataset.category if dataset.category is not None else 1
        ids = [s.ref for s in dataset.samples]
        gt = dict(document, images=[im for im in document["images"] if im["id"] in set(ids)])
        results = coco_eval.box_results(_box_predictions(docs), ids, category)
        metrics, ev = coco_eval.run_cocoeval(gt, results, "bbox")
        return metrics, {"IoU 0.5": coco_eval.pr_curve(ev)}
    if dataset.kind == "keypoints" and dataset.keypoints is not None:
        kp = dataset.keypoints
        ids = [int(s["id"]) for s in dataset.samples]
        gt = dict(kp.document, images=[im for im in kp.document["images"] if int(im["id"]) in set(ids)])
        preds = [(np.asarray(d["pred"]["keypoints"], np.float64).reshape(-1, 18, 3),
                  np.asarray(d["pred"]["scores"], np.float64)) for d in docs]
        metrics, ev = coco_eval.run_cocoeval(gt, coco_eval.keypoint_results(preds, ids), "keypoints")
        return metrics, {"OKS 0.5": coco_eval.pr_curve(ev)}
    if dataset.depth_dir is None:
        kept = sum(d["pred"]["kept"] for d in docs)
        pixels = sum(d["pred"]["pixels"] for d in docs)
        return {"consistency": kept / pixels if pixels else float("nan")}, {}
    return depth_eval.depth_metrics(d["pred"]["sums"] for d in docs if d["pred"].get("sums")), {}


def _write_predictions(dataset: Dataset, docs: Sequence[Dict[str, Any]], target: Path, label: str,
                       several: bool) -> Path:
    """WIDER FACE: a folder of ``<event>/<name>.txt`` (name, count, then ``x y w h score`` lines); COCO and VOC
    faces, people: a COCO results JSON. With several configurations each gets its own (its label in the name)."""
    tag = label.replace(" ", "_")
    try:
        if dataset.format == "widerface":
            folder = target / tag if several else target
            for sample, doc in zip(dataset.samples, docs):
                boxes, scores = _box_predictions([doc])[0]
                lines = [sample.ref.rsplit("/", 1)[-1], str(len(boxes))]
                lines += [f"{b[0]:.2f} {b[1]:.2f} {b[2] - b[0]:.2f} {b[3] - b[1]:.2f} {s:.5f}"
                          for b, s in zip(boxes, scores)]
                write_text(folder / f"{sample.ref}.txt", "\n".join(lines) + "\n")
            return folder
        path = target.with_name(f"{target.stem}.{tag}{target.suffix or '.json'}") if several else target
        if dataset.kind == "faces":
            category = dataset.category if dataset.category is not None else 1
            results = coco_eval.box_results(_box_predictions(docs), [s.ref for s in dataset.samples], category)
        elif dataset.kind == "keypoints":
            preds = [(np.asarray(d["pred"]["keypoints"], np.float64).reshape(-1, 18, 3),
                      np.asarray(d["pred"]["scores"], np.float64)) for d in docs]
            results = coco_eval.keypoint_results(preds, [int(s["id"]) for s in dataset.samples])
        else:
            results = [{"view": d["id"], **d["pred"]} for d in docs]
        write_text(path, json.dumps(results) + "\n")
        return path
    except EdgecvError:
        raise
    except OSError as exc:
        raise OutputWriteError(f"cannot write predictions to {target}: {exc.strerror or exc}") from exc


class TruthJudge:
    """The dataset metric of a loaded model, for ``edgecv quantize --eval`` and ``bench --eval``: ``measure(model)``
    runs the model over the dataset (no cache) and returns its metrics; ``metric`` is the one judged."""

    def __init__(self, data: Union[str, os.PathLike, Dataset], *, format: Optional[str] = None,
                 labels: Optional[Union[str, os.PathLike]] = None, limit: Optional[int] = None,
                 metric: Optional[str] = None) -> None:
        self.dataset = (data if isinstance(data, Dataset) else load_dataset(data, format, labels)).limited(limit)
        self.metric = metric or primary_metric(self.dataset)

    def describe(self) -> str:
        d = self.dataset
        noun = "views" if d.kind == "depth" else "images"
        return f"{d.root.name} ({d.format}, {len(d.samples)} {noun})"

    def image_paths(self) -> List[Path]:
        """The images the metric is computed on (none for scenes: their views are not calibration images)."""
        return [s.path if isinstance(s, BoxSample) else s["path"] for s in self.dataset.samples
                if isinstance(s, BoxSample) or "path" in s]

    def measure_results(self, results: Sequence[Any]) -> Dict[str, float]:
        """The metrics of results computed elsewhere (``edgecv bench`` workers), one per image in ``image_paths()``
        order."""
        docs = []
        for sample, result in zip(self.dataset.samples, results):
            sid = sample.id if isinstance(sample, BoxSample) else str(sample["id"])
            if self.dataset.kind == "faces":
                pred = {"boxes": _floats(result.boxes), "scores": _floats(result.scores)}
            else:
                pred = {"keypoints": _floats(result.keypoints), "scores": _floats(result.scores)}
            docs.append({"id": sid, "pred": pred})
        return _metrics(self.dataset, docs)[0]

    def options(self) -> Dict[str, Any]:
        """The per-call options the metric needs (face detectors: a low score threshold)."""
        return {"score_threshold": FACE_SCORE_THRESHOLD} if self.dataset.kind == "faces" else {}

    def measure(self, model) -> Dict[str, float]:
        if _task_kind_of_model(model) != self.dataset.kind:
            raise InvalidInputError(f"a {model.task} model cannot be judged on the {self.dataset.kind} dataset "
                                    f"{self.dataset.root}")
        wrapped = _WithOptions(model, self.options())
        docs = _predict(wrapped, self.dataset, _Cache(None), "eval", lambda *a: None)
        metrics, _ = _metrics(self.dataset, docs)
        if self.metric not in metrics:
            raise InvalidInputError(f"{self.metric} is not a metric of this dataset; its metrics: {sorted(metrics)}")
        return metrics


class _WithOptions:
    """A model whose detect() passes extra per-call options."""

    def __init__(self, model, options: Dict[str, Any]) -> None:
        self.model, self.options = model, options

    def detect(self, *args: Any, **kwargs: Any):
        return self.model.detect(*args, **{**self.options, **kwargs})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def _task_kind_of_model(model) -> str:
    from ..tasks import get_task

    return _task_kind(get_task(model.task))


__all__ = ["evaluate", "EvalReport", "EvalRow", "TruthJudge", "primary_metric", "FACE_SCORE_THRESHOLD", "PRECISIONS"]
