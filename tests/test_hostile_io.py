"""Every hostile case of tests/hostile_io.py in its own process, with its time and peak-RSS limits: memory bombs
(library, CLI, service, batch), slow and idle sockets, endless bodies, viewers that hang up, damaged images,
odd file names, duplicate archive members, concurrent runs, dead and stalled sources, relative paths, MNN's
notices and pair.txt files that list the reference. The serve cases run against a real `edgecv serve` on
127.0.0.1; the batch cases through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("hostile_io.py")
sys.path.insert(0, str(HARNESS.parent))
import hostile_io  # noqa: E402


@pytest.mark.parametrize("name", list(hostile_io.CASES))
def test_hostile_case(name, tmp_path):
    _, rss_limit, time_limit = hostile_io.CASES[name]
    proc = subprocess.run([sys.executable, str(HARNESS), name], capture_output=True, text=True,
                          timeout=time_limit * 2, cwd=tmp_path)
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    assert line, f"the case died (exit {proc.returncode}): {proc.stderr[-1500:]}"
    doc = json.loads(line)
    assert doc["ok"], doc
    assert doc["peak_rss_mb"] <= rss_limit, doc
    assert doc["wall_s"] <= time_limit, doc
