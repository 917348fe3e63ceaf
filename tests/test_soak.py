"""A short soak: steady memory over repeated detect() calls on every engine (benchmarks/soak.py runs the
full 2,000-call version and reports latency drift; timing is not asserted here: it depends on the machine's
other load, a benchmark's business)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_python

SOAK = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"


def test_short_soak_all_engines():
    out = run_python(str(SOAK), "--calls", "120", "--warmup", "30", "--json", timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.loads(out.stdout)
    assert [r["engine"] for r in rows] == ["onnxruntime", "ncnn", "mnn"]
    for r in rows:
        assert r["rss_growth_mb"] < 2.0, r
        assert r["latency_drift"] > 0, r  # measured (reported by the benchmark), not judged here
