"""Facts about the machine edgecv runs on, stated once: the CPU cores this process may use, the CPU's name and this
process's peak memory."""

from __future__ import annotations

import os
import platform
import sys
from typing import Optional


def cpu_count() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's or ``taskset``'s share), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity call (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what the platform reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def peak_rss_mb() -> Optional[float]:
    """This process's peak resident set in MB since it started (exec'd), from ``/proc/self/status`` (VmHWM); None
    where neither ``/proc`` nor ``resource`` tells (Windows).

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries that over from the process that forked this one, so
    a worker started by a 1 GB parent reports 1 GB whatever it used itself. Falls back to ``ru_maxrss`` where
    there is no ``/proc`` (macOS reports bytes there, Linux kB)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


__all__ = ["cpu_count", "cpu_model", "peak_rss_mb"]
