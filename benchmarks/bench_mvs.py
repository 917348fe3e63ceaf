"""MVS benchmark: time per reference view and peak RSS per engine (PatchmatchNet 640x416, 5 views), each
engine in its own process so its peak memory is its own; and C++ consistency + fusion vs the pure-Python core's
implementation on the same depth maps (target >= 10x).

    EDGECV_MODELS=../shared/models python benchmarks/bench_mvs.py [--threads 2] [--views 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("EDGECV_MODELS", str(REPO.parent / "shared" / "models"))
os.environ.setdefault("EDGECV_CACHE", tempfile.mkdtemp(prefix="edgecv-bench-"))
SCENE = REPO.parent / "shared" / "data" / "mvs_office_8view"

CHILD = """
import json, sys, time
import edgecv
from edgecv.system import peak_rss_mb
from edgecv.tasks.mvs import load_scene
engine, threads, views = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
scene = load_scene(sys.argv[4])
model = edgecv.load("patchmatchnet_640x416_n5", engine=engine, threads=threads)
model.detect(scene, ref=0)  # warm-up (and conversion on first use)
times = []
for ref in scene.views[:views]:
    t0 = time.perf_counter(); model.detect(scene, ref=ref); times.append(time.perf_counter() - t0)
print(json.dumps({"times": times, "peak_rss_mb": peak_rss_mb()}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="onnxruntime,mnn,ncnn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--views", type=int, default=3, help="reference views timed per engine")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    rows = []
    for engine in args.engines.split(","):
        out = subprocess.run([sys.executable, "-c", CHILD, engine, str(args.threads), str(args.views), str(SCENE)],
                             capture_output=True, text=True, cwd=tempfile.gettempdir(), timeout=3600)
        if out.returncode != 0:
            raise SystemExit(f"{engine} failed:\n{out.stderr[-2000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"engine": engine, "s_per_view": round(statistics.median(r["times"]), 2),
                     "peak_rss_mb": round(r["peak_rss_mb"])})

    import numpy as np

    import edgecv
    from edgecv.tasks.mvs import FusionParams, filter_depth, load_scene
    from _timing import median_ms
    from edgecv import _pycore

    scene = load_scene(SCENE)
    model = edgecv.load("patchmatchnet_640x416_n5", engine="mnn", threads=args.threads)
    maps = {v: model.detect(scene, ref=v) for v in scene.views}
    p = FusionParams()

    def cpp():
        for ref, dm in maps.items():
            sources = [maps[v] for v in scene.pairs[ref]]
            mask, _, fused = filter_depth(dm, sources, p)
            dm.__class__(depth=np.where(mask, fused, 0).astype(np.float32), confidence=dm.confidence,
                         camera=dm.camera, image=dm.image).to_points()

    def python_core():
        for ref, dm in maps.items():
            sources = [(maps[v].depth, maps[v].camera.K, maps[v].camera.extrinsic) for v in scene.pairs[ref]]
            mask, _, fused = _pycore.check_consistency(dm.depth, dm.camera.K, dm.camera.extrinsic, sources,
                                                       dm.confidence, p.max_reprojection_px, p.max_relative_depth,
                                                       p.min_views, p.min_confidence)
            mask = mask.astype(bool) & (dm.depth >= dm.camera.depth_min) & (dm.depth <= dm.camera.depth_max)
            _pycore.backproject(np.where(mask, fused, 0).astype(np.float32), dm.camera.K, dm.camera.extrinsic)

    t_cpp, t_np = median_ms(cpp, 3) / 1e3, median_ms(python_core, 2) / 1e3
    fusion = {"views": len(maps), "sources_per_view": len(scene.pairs[0]), "cpp_s": round(t_cpp, 3),
              "python_s": round(t_np, 3), "python_over_cpp": round(t_np / t_cpp, 1)}
    if args.json:
        print(json.dumps({"engines": rows, "fusion": fusion}, indent=2))
    else:
        for r in rows:
            print(f"{r['engine']:12s} {r['s_per_view']:6.2f} s/view  peak RSS {r['peak_rss_mb']} MB")
        print(f"consistency + fusion, {fusion['views']} views x {fusion['sources_per_view']} sources: "
              f"C++ {fusion['cpp_s']} s, Python core {fusion['python_s']} s ({fusion['python_over_cpp']}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
