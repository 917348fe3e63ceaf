"""Face detectors side by side: YuNet-n, YuNet-s, SCRFD-500M and SCRFD-2.5G on every engine, in one run.

    EDGECV_MODELS=../shared/models python benchmarks/bench_faces.py [--threads 2] [--repeat 20] [--json]

Per model and engine, on the shared photos (640x640 input, the models' default thresholds):
- ``engine_ms``: the engine call alone on the group photo; ``detect_ms``: the whole ``detect()`` (read excluded),
  timed interleaved with it;
- ``faces``: faces found over all photos;
- ``agree_engines``: recall of this engine's faces against the same model on ONNX Runtime (box IoU >= 0.5);
- ``agree_scrfd25``: recall and precision against SCRFD-2.5G on ONNX Runtime, the largest model here (not the
  truth: which faces the small models miss or add);
- ``labelled_ap50``: AP@0.5 on the labelled faces of ``data/eval/faces_voc_mini`` (18 faces; a small sanity set,
  not WIDER FACE: ``edgecv eval`` is for that);
and the facts a user chooses by: licence, parameters, file size.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
os.environ.setdefault("EDGECV_MODELS", str(SHARED / "models"))
os.environ.setdefault("EDGECV_CACHE", tempfile.mkdtemp(prefix="edgecv-bench-"))

import numpy as np  # noqa: E402

import edgecv  # noqa: E402
from _timing import interleaved_ms, report  # noqa: E402
from edgecv.loading import source_model  # noqa: E402
from edgecv.store.manifests import get_manifest  # noqa: E402
from edgecv.targets import ENGINE_NAMES  # noqa: E402
from edgecv.tasks.faces.compare import compare_faces, summarize_faces  # noqa: E402

MODELS = ("yunet_n_640", "yunet_s_640", "scrfd_500m_bnkps_640", "scrfd_2.5g_bnkps_640")
PHOTOS = ("group_t1.jpg", "street_1.jpg", "street_4.jpg", "street_6.jpg", "street_9.jpg", "street_12.jpg",
          "portrait_tom_hanks.png")
REFERENCE = ("scrfd_2.5g_bnkps_640", "onnxruntime")


def parameters(onnx_path: Path) -> int:
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    return int(sum(np.prod(t.dims) for t in graph.initializer))


def labelled_ap(name: str, engine: str, threads: int) -> float:
    """AP@0.5 of model ``name`` on ``engine`` over the faces_voc_mini set (edgecv.evaluate, COCO-style 101-point
    interpolation)."""
    from edgecv.evaluate import evaluate

    report = evaluate(name, SHARED / "data" / "eval" / "faces_voc_mini", format="voc-faces", engines=[engine],
                      threads=threads, cache=False)
    row = next(r for r in report.rows if r.engine == engine and r.precision == "fp32")
    return row.metrics["AP50"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--engines", default=",".join(ENGINE_NAMES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown (docs/benchmarks.md)")
    args = ap.parse_args()

    images = [edgecv.read_image(SHARED / "images" / p) for p in PHOTOS]
    group = images[0]
    results = {}
    rows = []
    order = [REFERENCE[0]] + [m for m in args.models.split(",") if m != REFERENCE[0]]
    engines = args.engines.split(",")
    for name in order:
        manifest = get_manifest(name)
        onnx_file = source_model(name)
        for engine in engines:
            try:
                model = edgecv.load(name, engine=engine, threads=args.threads)
            except edgecv.errors.ModelNotFoundError as exc:  # e.g. SCRFD-500M has no converter entry for ncnn
                print(f"  {name} on {engine}: skipped ({exc})", file=sys.stderr)
                continue
            prepared = model.prepare(group)
            t = interleaved_ms({"raw": lambda: model.infer(prepared), "detect": lambda: model.detect(group)},
                               args.repeat)
            found = [model.detect(im) for im in images]
            results[name, engine] = found
            same = summarize_faces([compare_faces(a, b) for a, b in zip(results[name, "onnxruntime"], found)]) \
                if (name, "onnxruntime") in results else {}
            ref = summarize_faces([compare_faces(a, b) for a, b in zip(results[REFERENCE], found)]) \
                if REFERENCE in results else {}
            rows.append({
                "model": name, "engine": engine, "licence": manifest.licence,
                "params_k": round(parameters(onnx_file) / 1e3), "onnx_kb": round(onnx_file.stat().st_size / 1024),
                "engine_ms": round(t["raw"], 2), "detect_ms": round(t["detect"], 2),
                "faces": sum(len(f) for f in found),
                "agree_engines": round(same.get("recall", float("nan")), 3),
                "agree_scrfd25": f"{ref.get('recall', float('nan')):.2f} / {ref.get('precision', float('nan')):.2f}",
                "labelled_ap50": round(labelled_ap(name, engine, args.threads), 3),
            })
            print(f"  {name} on {engine}: {rows[-1]['detect_ms']} ms", file=sys.stderr)
    rows.sort(key=lambda r: (order.index(r["model"]) if r["model"] != REFERENCE[0] else len(order),
                             engines.index(r["engine"])))
    if args.markdown:
        cols = list(rows[0])
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    else:
        report(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
