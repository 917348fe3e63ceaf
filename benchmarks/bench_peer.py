"""edgecv beside its closest Python peer, uniface, on the same SCRFD-500M weights and the same photos, in one run.

    pip install --no-deps uniface scikit-image    # uniface 4.x; its other needs (numpy, OpenCV, ORT) edgecv has
    EDGECV_MODELS=../shared/models python benchmarks/bench_peer.py [--threads 1,2] [--repeat 15] [--json]

uniface downloads its weights on first use, which is impossible here; its lookup
(``uniface.detection.scrfd.verify_model_weights``) is pointed at the local raw SCRFD-500M file, the file edgecv
loads too. uniface gives no thread setting: its ONNX Runtime session is recreated from the same file with
``intra_op_num_threads`` = the thread count, its other session options kept (ORT defaults; edgecv's default
session spins too). Both run at their defaults otherwise, with the same score (0.5) and NMS IoU (0.4) thresholds.

Per thread count, on each photo, ``detect()`` wall time (decode excluded, median of ``--repeat`` calls, one
detector at a time), then the mean over photos:
- uniface (ORT fp32);
- edgecv fp32 on every engine (ONNX Runtime, ncnn, MNN, OpenVINO);
- edgecv at its best passing precision: ``edgecv.quantize`` INT8 on the shared calibration faces for every engine,
  once at the largest thread count (written only when it passes its gates and is >= 1.15x faster than fp32 on this
  device), each file written.
Also the faces each finds over all photos and the agreement of uniface's faces with edgecv's ORT fp32 ones
(recall and precision at box IoU >= 0.5): the same weights should find the same faces.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
os.environ.setdefault("EDGECV_MODELS", str(SHARED / "models"))
os.environ.setdefault("EDGECV_CACHE", tempfile.mkdtemp(prefix="edgecv-bench-"))

import numpy as np  # noqa: E402

import edgecv  # noqa: E402
from _timing import median_ms, report  # noqa: E402
from edgecv.system import cpu_model  # noqa: E402
from edgecv.targets import ENGINE_NAMES  # noqa: E402

MODEL = "scrfd_500m_bnkps_640"
RAW = SHARED / "models" / MODEL / "scrfd_500m_bnkps.onnx"
PHOTOS = ("group_t1.jpg", "street_1.jpg", "street_4.jpg", "street_6.jpg", "street_9.jpg", "street_12.jpg")
CALIB = SHARED / "images" / "calib_faces"


def uniface_detector(threads: int):
    """uniface's SCRFD on the local file, its session remade with ``threads`` intra-op threads."""
    import onnxruntime as ort
    import uniface.detection.scrfd as peer
    from uniface.constants import SCRFDWeights

    peer.verify_model_weights = lambda *a, **k: str(RAW)  # no download here: the local file
    det = peer.SCRFD(model_name=SCRFDWeights.SCRFD_500M_KPS, confidence_threshold=0.5, nms_threshold=0.4,
                     input_size=(640, 640), providers=["CPUExecutionProvider"])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(RAW), sess_options=options, providers=["CPUExecutionProvider"])

    class Unbatched:
        """insightface's raw export keeps a batch axis on its outputs, uniface's own re-export does not: drop it."""

        def run(self, names, feeds):
            return [o[0] if o.ndim == 3 else o for o in session.run(names, feeds)]

    det.session = Unbatched()
    return det


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a (N, 4) and b (M, 4), x1 y1 x2 y2."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


def agreement(ours: list, theirs: list) -> tuple:
    """(recall, precision) of ``theirs`` against ``ours`` over all photos, greedy matching at IoU >= 0.5."""
    matched = total_ours = total_theirs = 0
    for a, b in zip(ours, theirs):
        total_ours, total_theirs = total_ours + len(a), total_theirs + len(b)
        if len(a) and len(b):
            m = iou(a, b)
            while m.size and m.max() >= 0.5:
                i, j = np.unravel_index(np.argmax(m), m.shape)
                matched += 1
                m[i, :], m[:, j] = -1, -1
    return matched / max(total_ours, 1), matched / max(total_theirs, 1)


def best_int8(threads: int, out: Path, engines: list) -> dict:
    """engine -> INT8 file written by edgecv.quantize (passed its gates and >= 1.15x faster here)."""
    from edgecv.errors import QuantizationError

    try:
        result = edgecv.quantize(MODEL, CALIB, to=engines, out_dir=out, threads=threads)
    except QuantizationError as exc:  # some engines failed their gates: the others were written
        print(f"  {exc}", file=sys.stderr)
        result = exc.result
    for engine, o in result.outcomes.items():
        print(f"  quantize {engine}: passed={o.passed} speedup={o.speedup and round(o.speedup, 2)} "
              f"{o.not_written or ''}", file=sys.stderr)
    return {e: files[0] for e, files in result.files.items() if result.outcomes[e].precision == "int8"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--engines", default=",".join(ENGINE_NAMES))
    ap.add_argument("--int8", default=",".join(ENGINE_NAMES), help="engines to quantise for the INT8 rows")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import uniface

    images = [edgecv.read_image(SHARED / "images" / p) for p in PHOTOS]
    engines = args.engines.split(",")
    rows = []
    thread_counts = [int(t) for t in args.threads.split(",")]
    with tempfile.TemporaryDirectory(prefix="edgecv-peer-") as tmp:
        # once, at the most threads: what passes its gates and pays there is what edgecv would write on this device
        int8 = best_int8(max(thread_counts), Path(tmp), args.int8.split(","))
        for threads in thread_counts:
            peer = uniface_detector(threads)
            contenders = {f"uniface {uniface.__version__} (ORT fp32)": peer.detect}
            ours = {}
            for e in engines:
                try:
                    ours[e] = edgecv.load(MODEL, engine=e, threads=threads, score_threshold=0.5, iou_threshold=0.4)
                except edgecv.errors.ModelNotFoundError as exc:  # no converter entry for this engine
                    print(f"  fp32 on {e}: skipped ({exc})", file=sys.stderr)
            contenders.update({f"edgecv {e} fp32": m.detect for e, m in ours.items()})
            for engine, path in int8.items():
                model = edgecv.load(path, engine=engine, threads=threads, score_threshold=0.5, iou_threshold=0.4)
                contenders[f"edgecv {engine} int8"] = model.detect
            per_photo = {k: [] for k in contenders}
            # One contender at a time, not interleaved: an ONNX Runtime session's threads spin for a while after
            # each call and would slow whichever detector runs next (interleaved, edgecv ORT at 2 threads measured
            # 25 ms after uniface's calls against 19 ms on its own).
            for k, f in contenders.items():
                for image in images:
                    per_photo[k].append(median_ms(lambda f=f, im=image: f(im), args.repeat))
            reference = [ours["onnxruntime"].detect(im).boxes for im in images]
            found = {k: [np.array([f.bbox for f in f_(im)], np.float32).reshape(-1, 4) if k.startswith("uniface")
                         else f_(im).boxes for im in images] for k, f_ in contenders.items()}
            base = statistics.fmean(per_photo[next(iter(contenders))])
            for k in contenders:
                recall, precision = agreement(reference, found[k])
                ms = statistics.fmean(per_photo[k])
                rows.append({"threads": threads, "detector": k, "ms_per_photo": round(ms, 2),
                             "speed_vs_uniface": round(base / ms, 2), "faces": sum(len(b) for b in found[k]),
                             "agree_with_edgecv_ort": f"{recall:.3f} / {precision:.3f}"})
    print(f"# {cpu_model()}, SCRFD-500M at 640x640, {len(images)} photos", file=sys.stderr)
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
