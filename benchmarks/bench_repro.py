"""Reproducible quantisation: the same ``edgecv.quantize`` command twice per engine, verdicts and files compared.

    EDGECV_MODELS=../shared/models python benchmarks/bench_repro.py [--model scrfd_500m_bnkps_640] [--engines mnn]

The test suite checks ONNX Runtime and ncnn (tests/convert/test_quantize.py); this covers the engines whose
quantiser is too slow for it (MNN by default). Files are written even when INT8 is not faster here
(``keep_slower``), so there is something to compare. Prints one row per engine: verdict, layers kept in fp32 and
whether the metrics and every file's sha256 are the same in both runs (a failing run writes no file: then
the verdicts and metrics are compared).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
os.environ.setdefault("EDGECV_MODELS", str(SHARED / "models"))
os.environ.setdefault("EDGECV_CACHE", tempfile.mkdtemp(prefix="edgecv-bench-"))

import edgecv  # noqa: E402
from edgecv.errors import QuantizationError  # noqa: E402
from _timing import report  # noqa: E402


def digests(paths) -> dict:
    return {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="scrfd_500m_bnkps_640")
    ap.add_argument("--engines", default="mnn")
    ap.add_argument("--calib", default=str(SHARED / "images" / "calib_faces"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgecv-repro-") as tmp:
        for engine in args.engines.split(","):
            runs = []
            for k in (1, 2):
                try:
                    result = edgecv.quantize(args.model, args.calib, to=[engine], out_dir=Path(tmp) / engine / str(k),
                                             keep_slower=True, threads=2)
                except QuantizationError as exc:  # failed its gates: the verdict and metrics are still compared
                    result = exc.result
                o = result.outcomes[engine]
                runs.append({"passed": o.passed, "fp32_layers": len(o.fp32_layers), "layers": o.layers,
                             "summary": {k: v for k, v in o.summary.items() if isinstance(v, float)},
                             "files": digests(result.files.get(engine, []))})
            same = runs[0]["files"] == runs[1]["files"] and runs[0]["summary"] == runs[1]["summary"]
            rows.append({"model": args.model, "engine": engine,
                         "verdicts": " / ".join("pass" if r["passed"] else "fail" for r in runs),
                         "fp32_layers": " / ".join(f"{r['fp32_layers']}/{r['layers']}" for r in runs),
                         "metrics": " / ".join(str(r["summary"]) for r in runs),
                         "files": len(runs[0]["files"]), "byte_identical": same})
    report(rows, args.json)
    return 0 if all(r["byte_identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
