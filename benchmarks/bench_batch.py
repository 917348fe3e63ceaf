"""edgecv batch throughput and resume, measured in one run on this machine.

Items/s over the frames of the PETS clip (every 2nd frame, 398 items) for SCRFD-500M and SCRFD-2.5G:
one worker with all cores as engine threads, one worker per core with one thread each (the default), and
the Ray backend with the same split (Ray's start-up time included, as a user sees it). Targets: the pool
(cores x 1 thread) beats one process with all threads for these small models.

Resume: a CLI run killed with SIGKILL at about half way, then re-run into the same folder: rows before
and after, items redone (computed before the kill but not yet in a shard), and that every frame has
exactly one row.

    EDGECV_MODELS=../shared/models python benchmarks/bench_batch.py [--skip-ray] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(os.environ.get("EDGECV_SHARED", Path(__file__).resolve().parents[2] / "shared"))
VIDEO = SHARED / "video" / "pets_walk_480x360.avi"
MODELS = ("scrfd_500m_bnkps_640", "scrfd_2.5g_bnkps_640")
EVERY = 2


def throughput(model: str, backend: str, workers: int, threads: int, work: Path) -> dict:
    from edgecv import batch

    out = work / f"{model}-{backend}-{workers}x{threads}"
    start = time.perf_counter()
    s = batch.run([str(VIDEO)], model, out=out, engine="onnxruntime", backend=backend, workers=workers,
                  threads_per_worker=threads, every=EVERY)
    wall = time.perf_counter() - start
    assert s.errors == 0 and s.processed == s.items
    return {"model": model, "backend": backend, "workers": workers, "threads": threads, "items": s.items,
            "items_per_s": round(s.items / wall, 2), "wall_s": round(wall, 2)}


def resume(model: str, work: Path) -> dict:
    from edgecv import batch

    out = work / "resume"
    cmd = [sys.executable, "-m", "edgecv", "batch", str(VIDEO), "-m", model, "--out", str(out), "--every",
           str(EVERY), "--shard-rows", "32", "--json"]
    total = len(range(0, 795, EVERY))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    while proc.poll() is None:
        rows = sum(1 for _ in out.glob("part-*.parquet")) * 32
        if rows >= total // 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = batch.read_results(out, columns=["key"]).num_rows
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=work, check=True)
    summary = json.loads(done.stdout)
    table = batch.read_results(out, columns=["key", "frame"])
    keys = table.column("key").to_pylist()
    return {"items": total, "rows_after_kill": before, "resumed_items": summary["processed"],
            "skipped": summary["skipped"], "rows_final": len(keys), "unique_keys": len(set(keys)),
            "resume_wall_s": round(time.perf_counter() - start, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    from edgecv.engines import cpu_count

    cores = cpu_count()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.chdir(work)  # Ray puts the driver's folder on its workers' sys.path
        for model in MODELS:
            configs = [("local", 1, cores), ("local", cores, 1)] + ([] if args.skip_ray else [("ray", cores, 1)])
            for backend, workers, threads in configs:
                r = throughput(model, backend, workers, threads, work)
                rows.append(r)
                print(f"{model:22s} {backend:5s} {workers} worker(s) x {threads} thread(s): "
                      f"{r['items_per_s']:7.1f} items/s ({r['items']} items, {r['wall_s']} s)", flush=True)
            one = next(r for r in rows if r["model"] == model and r["workers"] == 1)
            pool = next(r for r in rows if r["model"] == model and r["backend"] == "local" and r["workers"] == cores)
            print(f"{model:22s} pool / one process: {pool['items_per_s'] / one['items_per_s']:.2f}x", flush=True)
        res = resume(MODELS[0], work)
        print("resume after SIGKILL:", json.dumps(res), flush=True)
    from edgecv.system import cpu_model

    doc = {"cpu": cpu_model(), "cores": cores, "throughput": rows, "resume": res}
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
