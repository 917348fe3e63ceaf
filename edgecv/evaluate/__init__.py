"""``edgecv eval`` / ``edgecv.evaluate``: accuracy against labels with the benchmarks' official protocols, for one or
several engine/precision configurations over the same images, in one run.

- face detection: WIDER FACE's protocol (easy/medium/hard AP, ``widerface``), COCO-style box AP for any COCO JSON or
  dlib XML a user labelled (``coco``, ``voc-faces``);
- people: COCO keypoint OKS AP (pycocotools);
- multi-view stereo: MAE, abs-rel, δ<1.25 and the share within 1 % against ground-truth depth maps, or geometric
  consistency between views without them.

Modules: ``datasets`` (parsers), ``widerface`` (the WIDER protocol), ``coco`` (pycocotools), ``depth``, ``runner``
(configurations, the resumable prediction cache, the report), ``plot`` (precision-recall curves).
"""

from __future__ import annotations

from .datasets import FORMATS, Dataset, load_dataset
from .runner import EvalReport, EvalRow, TruthJudge, evaluate, primary_metric

__all__ = ["evaluate", "EvalReport", "EvalRow", "TruthJudge", "Dataset", "load_dataset", "primary_metric", "FORMATS"]
