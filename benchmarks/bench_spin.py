"""ONNX Runtime thread policy: detect() frames per second with intra-op spinning on and off, per use.

    EDGECV_MODELS=../shared/models python benchmarks/bench_spin.py [--threads 2] [--calls 40] [--rounds 3]

Uses (SCRFD-2.5G on the group photo, ``threads`` intra-op threads each):
- ``loop``: one model, a loop of ``detect()`` (what ``edgecv.load`` serves);
- ``stream``: one model, ``stream()`` over the decoded frames of a 640x480 pan clip (decode, prepare and
  post-processing threads beside the engine's);
- ``beside idle``: a loop of ``detect()`` while a second, idle model of the same setting is loaded;
- ``shared``: a loop of ``detect()`` while a second model runs ``detect()`` on another thread (``edgecv serve``'s
  case: its models share the cores).
Spinning on is ``busy_wait=True`` (the default of ``edgecv.load``, the workers spin ``SPIN_US`` after each parallel
section), off is ``busy_wait=False`` (``edgecv serve``). The settings alternate ``rounds`` times, one model pair
loaded at a time; a cell is the median over rounds.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("EDGECV_MODELS", str(SHARED / "models"))

import edgecv  # noqa: E402
from _timing import items_per_s, report  # noqa: E402
from bench_stream import decoded, face_clip  # noqa: E402
from edgecv.engines.onnxruntime_engine import SPIN_US  # noqa: E402

MODEL = "scrfd_2.5g_bnkps_640"
USES = ("loop", "stream", "beside idle", "shared")


def loop_fps(model, image, calls: int) -> float:
    model.detect(image)
    return items_per_s(model.detect(image) for _ in range(calls))


def stream_fps(model, frames) -> float:
    return items_per_s(model.stream(iter(frames)))


def shared_fps(model, other, image, calls: int) -> float:
    """``model``'s loop rate while ``other`` runs detect() on a second thread the whole time."""
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            other.detect(image)

    worker = threading.Thread(target=busy, daemon=True)
    worker.start()
    try:
        other.detect(image)  # the second model is computing before the measurement starts
        return loop_fps(model, image, calls)
    finally:
        stop.set()
        worker.join()


def measure(busy_wait: bool, image, frames, threads: int, calls: int) -> dict:
    model = edgecv.load(MODEL, engine="onnxruntime", threads=threads, busy_wait=busy_wait)
    row = {"loop": loop_fps(model, image, calls), "stream": stream_fps(model, frames)}
    other = edgecv.load(MODEL, engine="onnxruntime", threads=threads, busy_wait=busy_wait)
    other.detect(image)
    row["beside idle"] = loop_fps(model, image, calls)
    row["shared"] = shared_fps(model, other, image, calls)
    del model, other
    gc.collect()
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calls", type=int, default=40, help="detect() calls per measurement")
    ap.add_argument("--rounds", type=int, default=3, help="alternations of the two settings")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    image = edgecv.read_image(SHARED / "images" / "group_t1.jpg")
    with tempfile.TemporaryDirectory() as tmp:
        frames = decoded(face_clip(Path(tmp) / "pan.avi", args.calls), args.calls)
    runs: dict = {True: [], False: []}
    for r in range(args.rounds):
        for busy_wait in ((True, False) if r % 2 == 0 else (False, True)):
            runs[busy_wait].append(measure(busy_wait, image, frames, args.threads, args.calls))
    rows = []
    for use in USES:
        on = statistics.median(run[use] for run in runs[True])
        off = statistics.median(run[use] for run in runs[False])
        rows.append({"use": use, "spinning_on_fps": round(on, 1), "spinning_off_fps": round(off, 1),
                     "on_over_off": round(on / off, 3)})
    if not args.json:
        print(f"# onnxruntime, {MODEL}, {args.threads} threads, spin {SPIN_US} us when on, "
              f"median of {args.rounds} rounds")
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
