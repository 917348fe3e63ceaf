"""Device profiles: what ``edgecv bench`` measured on this machine, kept in the cache and keyed by CPU model and
core count, so ``edgecv.load(..., engine="auto")`` can pick the fastest engine and precision that passed its
accuracy gates. One JSON file per device: ``<cache>/profiles/<cpu>-<N>c.json``.
"""

from __future__ import annotations

import json
import logging
import platform
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..fileio import write_text
from ..system import cpu_count, cpu_model
from .files import cache_dir

log = logging.getLogger(__name__)

#: Largest profile read (a profile holds a few rows per model).
MAX_PROFILE_BYTES = 4 << 20


def device() -> Dict[str, Any]:
    """This machine as profiles key it: CPU model, usable cores, architecture, and the key."""
    cpu, cores = cpu_model(), cpu_count()
    slug = re.sub(r"[^a-z0-9]+", "-", cpu.lower()).strip("-")[:80] or "cpu"
    return {"cpu": cpu, "cores": cores, "machine": platform.machine(), "key": f"{slug}-{cores}c"}


def profile_path() -> Path:
    return cache_dir() / "profiles" / f"{device()['key']}.json"


def read_profile() -> Dict[str, Any]:
    """This device's profile ({} when there is none or it is unreadable: benchmarks are only advice)."""
    path = profile_path()
    try:
        if not path.is_file() or path.stat().st_size > MAX_PROFILE_BYTES:
            return {}
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable device profile %s (%s)", path, exc)
        return {}
    return doc if isinstance(doc, dict) and isinstance(doc.get("models"), dict) else {}


def save_rows(model_key: str, rows: List[Dict[str, Any]]) -> Path:
    """Store benchmark rows for a model on this device; the best row is the fastest ``detect`` among the rows
    that passed their gates. Rows of other models stay."""
    doc = read_profile() or {"device": device(), "models": {}}
    passing = [r for r in rows if r.get("passes") and r.get("detect_p50_ms") is not None]
    best = min(passing, key=lambda r: r["detect_p50_ms"]) if passing else None
    doc["device"] = device()
    doc["models"][model_key] = {"rows": rows, "best": best, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = profile_path()
    write_text(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return path


def model_key(name_or_path: str, onnx_file: Optional[Path] = None) -> str:
    """How profiles name a model: its manifest name, or ``sha256:<hex>`` of its fp32 ONNX file."""
    from .files import sha256_file

    return "sha256:" + sha256_file(onnx_file) if onnx_file is not None else str(name_or_path)


def best_config(model_key: str) -> Optional[Dict[str, Any]]:
    """The best measured configuration of a model on this device, or None."""
    entry = read_profile().get("models", {}).get(model_key)
    best = entry.get("best") if isinstance(entry, dict) else None
    return best if isinstance(best, dict) and isinstance(best.get("engine"), str) else None
