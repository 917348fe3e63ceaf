"""Timing and reporting helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import statistics
import time
from typing import Callable, Dict, Iterable, List


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds (one warm-up call first)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def items_per_s(results: Iterable[object]) -> float:
    """Items per second of an iterable, timed while it is consumed (a generator of detect() calls, a stream)."""
    t0 = time.perf_counter()
    count = sum(1 for _ in results)
    return count / (time.perf_counter() - t0)


def interleaved_samples(fns: Dict[str, Callable[[], object]], repeat: int) -> Dict[str, List[float]]:
    """Seconds of each call of each function, ``repeat`` rounds of calls alternating (one warm-up call each). The
    order turns by one each round: no function always follows the same one (an engine call runs faster or slower
    depending on what ran just before it: ncnn's OpenMP workers, caches)."""
    samples: Dict[str, List[float]] = {k: [] for k in fns}
    names = list(fns)
    for fn in fns.values():
        fn()
    for r in range(repeat):
        for k in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            fns[k]()
            samples[k].append(time.perf_counter() - t0)
    return samples


def medians_ms(samples: Dict[str, List[float]]) -> Dict[str, float]:
    """Median ms of each function's samples (seconds)."""
    return {k: statistics.median(v) * 1e3 for k, v in samples.items()}


def interleaved_ms(fns: Dict[str, Callable[[], object]], repeat: int) -> Dict[str, float]:
    """Median ms of each function, calls alternating so machine drift hits all alike."""
    return medians_ms(interleaved_samples(fns, repeat))


def paired_ratios(samples: Dict[str, List[float]], base: str) -> Dict[str, float]:
    """Median over rounds of each function's time / ``base``'s time in the same round (``interleaved_samples``):
    a drift of the machine between rounds cancels in each ratio."""
    return {k: statistics.median(a / b for a, b in zip(v, samples[base])) for k, v in samples.items()}


def report(rows: List[dict], as_json: bool) -> None:
    """Rows as JSON or as a ' | '-separated table."""
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
