"""Soak test: many detect() calls per engine on one photo; reports RSS growth after warm-up and latency
drift (median of the last 10 % of calls over the first 10 %). Target: RSS growth < 2 MB.

    EDGECV_MODELS=../shared/models python benchmarks/soak.py [--calls 2000] [--model scrfd_2.5g_bnkps_640]

Each engine runs in its own process so one engine's memory does not hide another's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("EDGECV_MODELS", str(REPO.parent / "shared" / "models"))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def soak(model_name: str, engine: str, image_path: str, calls: int, warmup: int, threads: int) -> dict:
    import edgecv

    model = edgecv.load(model_name, engine=engine, threads=threads)
    image = edgecv.read_image(image_path)
    for _ in range(warmup):
        model.detect(image)
    start = rss_mb()
    times, samples = [], []
    for i in range(calls):
        t0 = time.perf_counter()
        model.detect(image)
        times.append(time.perf_counter() - t0)
        if i % max(1, calls // 20) == 0:
            samples.append(round(rss_mb() - start, 3))
    tenth = max(1, calls // 10)
    first, last = statistics.median(times[:tenth]), statistics.median(times[-tenth:])
    return {"engine": engine, "calls": calls, "warmup": warmup, "rss_start_mb": round(start, 1),
            "rss_growth_mb": round(rss_mb() - start, 3), "rss_samples_mb": samples,
            "latency_first_ms": round(first * 1e3, 2), "latency_last_ms": round(last * 1e3, 2),
            "latency_drift": round(last / first, 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="scrfd_2.5g_bnkps_640")
    ap.add_argument("--engines", default="onnxruntime,ncnn,mnn")
    ap.add_argument("--image", default=str(REPO.parent / "shared" / "images" / "group_t1.jpg"))
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(soak(args.model, args.child, args.image, args.calls, args.warmup, args.threads)))
        return 0
    rows = []
    for engine in args.engines.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", engine, "--model", args.model, "--image", args.image,
                              "--calls", str(args.calls), "--warmup", str(args.warmup), "--threads", str(args.threads)],
                             capture_output=True, text=True, cwd=tempfile.gettempdir())
        if out.returncode != 0:
            raise SystemExit(f"{engine} failed:\n{out.stderr[-3000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['engine']:12s} {r['calls']} calls: RSS {r['rss_start_mb']} MB, growth {r['rss_growth_mb']} MB; "
                  f"latency {r['latency_first_ms']} -> {r['latency_last_ms']} ms (x{r['latency_drift']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
