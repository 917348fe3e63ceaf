"""``edgecv bench``: latency, memory and accuracy of one model on this device, per engine, precision, thread count
and input size; a table, JSON rows, a PNG chart, and the device profile ``engine="auto"`` reads.

Every configuration runs in its own process (``edgecv.bench.worker``): the engine call and ``detect()`` are
timed ``repeat`` times after ``warmup`` calls (p50/p95), peak RSS is the process's, and one ``detect()`` per
input is kept. Agreement compares those results with the fp32 ONNX Runtime configuration of the same input
size (the task's ``agreement`` metric, e.g. F1 of matched faces); a row ``passes`` when the task's quantize
gates hold. fp32 files of other engines come from the model store (names) or are converted once into the
cache (ONNX files); INT8/FP16 files come from folders written by ``edgecv quantize`` or are quantised on the
way with ``calib``.
"""

from .measure import PRECISIONS, BenchReport, BenchRow, bench

__all__ = ["bench", "BenchReport", "BenchRow", "PRECISIONS"]
