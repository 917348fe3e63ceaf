"""One benchmark configuration, measured in its own process (``python -m edgecv.bench.worker REQUEST``): a clean
peak RSS, no other engine's threads competing, and a crash costs one row, not the benchmark.

REQUEST (JSON): ``model`` (name or file), ``engine``, ``threads``, ``options`` (task options, e.g. the input
size), ``inputs`` (image files, or a scene folder with ``refs``), ``repeat``, ``warmup``, ``results`` (a file
for the pickled results of one ``detect()`` per input). Prints one JSON line: latencies of the engine call and
of ``detect()`` (ms), peak RSS (MB), or ``error``.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from typing import Any, Dict, List, Tuple


def _percentiles(seconds: List[float]) -> Dict[str, float]:
    import numpy as np

    ms = np.asarray(seconds) * 1000.0
    return {"p50": round(float(np.percentile(ms, 50)), 3), "p95": round(float(np.percentile(ms, 95)), 3)}


def measure(request: Dict[str, Any]) -> Dict[str, Any]:
    from edgecv.image import read_image
    from edgecv.loading import load
    from edgecv.system import peak_rss_mb
    from edgecv.tasks import IMAGE, get_task

    model = load(request["model"], engine=request.get("engine"), threads=request["threads"], trust=True,
                        **request.get("options", {}))
    spec = get_task(model.task)
    items: List[Tuple[Any, Dict[str, Any]]]
    if spec.inputs == IMAGE:
        items = [(read_image(p), {}) for p in request["inputs"]]
    else:
        from edgecv.tasks.mvs import load_scene

        scene = load_scene(request["inputs"][0])
        items = [(scene, {"ref": r}) for r in request.get("refs") or scene.views[:1]]
    prepared = [model.prepare(item, **opts) for item, opts in items]
    warmup, repeat = int(request.get("warmup", 2)), int(request.get("repeat", 20))
    for i in range(warmup):
        model.infer(prepared[i % len(prepared)])
    engine_s = []
    for i in range(repeat):
        p = prepared[i % len(prepared)]
        t = time.perf_counter()
        model.infer(p)
        engine_s.append(time.perf_counter() - t)
    detect_s = []
    for i in range(repeat):
        item, opts = items[i % len(items)]
        t = time.perf_counter()
        model.detect(item, **opts)
        detect_s.append(time.perf_counter() - t)
    results = [model.detect(item, **opts) for item, opts in items]
    with open(request["results"], "wb") as f:
        pickle.dump(results, f)
    e, d = _percentiles(engine_s), _percentiles(detect_s)
    peak = peak_rss_mb()
    return {"p50_ms": e["p50"], "p95_ms": e["p95"], "detect_p50_ms": d["p50"], "detect_p95_ms": d["p95"],
            "rss_mb": None if peak is None else round(peak, 1), "task": model.task, "precision": model.config.precision,
            "engine": model.engine.name, "fp16": bool(model.engine.fp16)}


def main(argv: List[str]) -> int:
    request = json.loads(argv[1])
    try:
        out = measure(request)
    except Exception as exc:  # noqa: BLE001 - reported as the row's error; the parent decides what it means
        out = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
