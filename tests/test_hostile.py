"""No bad input may crash the process, hang it, lie, or lose output (README "Bad input").

- hostile model files, ncnn .param/.bin pairs, sidecars and API arguments (tests/hostile.py), all run in ONE
  process: edgecv's child-process check of unknown files is what keeps it alive;
- the command line under an argument matrix: one line, exit 2, no traceback;
- writes killed with SIGKILL at random moments leave either the old file or a complete new one.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

import edgecv
from edgecv.cli import main as cli_main

HOSTILE = Path(__file__).with_name("hostile.py")
PHOTO = str(SHARED / "images" / "group_t1.jpg")
RAW = SHARED / "models" / "scrfd_500m_raw" / "scrfd_500m.onnx"


def test_hostile_inputs_in_one_process(tmp_path):
    env = {**os.environ, "EDGECV_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, str(HOSTILE), "--per-group", "5"], capture_output=True, text=True,
                         timeout=900, env=env, cwd=tmp_path)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert out.returncode == 0, f"the run died after {rows[-1] if rows else 'no case'}: {out.stderr[-1500:]}"
    counts = collections.Counter(r["outcome"] for r in rows)
    assert len(rows) >= 90 and counts["typed"] >= 70, counts
    bad = [r for r in rows if r["outcome"] in ("raw", "crash", "hang", "changed-checksummed")]
    assert not bad, bad[:5]
    # The review's crashers: SIGFPE / SIGSEGV inside MNN, now typed errors naming the signal.
    known = {r["case"]: r for r in rows if r["group"] == "mnn-bytes"}
    for case in ("@63896=0x0", "@110372=0x7fffffff", "@2764144=0x10000"):
        row = next(r for name, r in known.items() if name.endswith(case))
        assert row["outcome"] == "typed" and row["error"] == "ModelLoadError" and "SIG" in row["message"], row
    # Weights changed in a file nothing vouches for can only change the answer; structure never slips by.
    assert all(r["outcome"] != "changed" for r in rows if r["group"] in ("ncnn-param", "ncnn-bin", "sidecar", "api"))
    assert all(r.get("message_len", 0) <= 600 for r in rows), "messages stay short"


def test_child_check_verdict_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "m.mnn"
    model.write_bytes((SHARED / "models" / "scrfd_2.5g_bnkps_640" / "scrfd_2.5g_bnkps_shape640x640.mnn").read_bytes())
    t0 = time.perf_counter()
    edgecv.load(model, threads=1)
    first = time.perf_counter() - t0
    verdicts = list((tmp_path / "cache" / "trust").glob("*.json"))
    assert len(verdicts) == 1 and json.loads(verdicts[0].read_text())["verdict"] == "ok"
    t0 = time.perf_counter()
    edgecv.load(model, threads=1)
    assert time.perf_counter() - t0 < first  # no second child process
    # Skipping the check is explicit.
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache2"))
    edgecv.load(model, threads=1, trust=True)
    assert not (tmp_path / "cache2" / "trust").exists()


def _cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(list(argv))
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code
    return code, out.getvalue(), err.getvalue()


CLI_MATRIX = [
    ("detect", PHOTO, "--threads", "abc"), ("detect", PHOTO, "--threads", "0"),
    ("detect", PHOTO, "--threads", "100000"),
    ("detect", PHOTO, "--score-threshold", "nan"), ("detect", PHOTO, "--score-threshold", "2"),
    ("detect", PHOTO, "--score-threshold", "x"), ("detect", PHOTO, "--max-faces", str(10 ** 20)),
    ("detect", PHOTO, "--max-faces", "0"), ("detect", PHOTO, "--input-size", "33"),
    ("detect", PHOTO, "--input-size", "0x0"), ("detect", PHOTO, "--input-size", "axb"),
    ("detect", PHOTO, "--out", PHOTO), ("detect", PHOTO, "--out", "/proc/edgecv"), ("detect", "/nonexistent.jpg"),
    ("detect", PHOTO, "--model", "/nonexistent.onnx"), ("detect", PHOTO, "--model", "nope"),
    ("detect", PHOTO, "--engine", "tensorrt"), ("detect", PHOTO, "--input-height", "256"),
    ("detect", PHOTO, "--model", "lightweight_openpose_hpe0001", "--input-height", "250"),
    ("detect", PHOTO, "--model", "lightweight_openpose_hpe0001", "--max-width", "100000"),
    ("convert", str(RAW), "--task", "scrfd", "--name", "../escape"), ("convert", str(RAW), "--task", "scrfd",
                                                                      "--input-size", "33", "--to", "onnx"),
    ("convert", str(RAW), "--to", "tflite"), ("convert", "/nonexistent.onnx"),
    ("validate", PHOTO, "--images", PHOTO), ("validate", "/nonexistent.onnx", "x.onnx", "--images", PHOTO),
    ("mvs", str(SHARED / "data" / "mvs_office_8view"), "--out", "/tmp/x", "--min-views", "0"),
    ("mvs", str(SHARED / "data" / "mvs_office_8view"), "--out", "/tmp/x", "--refs", "99"),
    ("mvs", str(SHARED / "data" / "mvs_office_8view"), "--out", "/tmp/x", "--refs", "x,-1"),
    ("mvs", str(SHARED / "data" / "mvs_office_8view"), "--out", PHOTO),
    ("mvs", str(SHARED / "data" / "mvs_office_8view"), "--out", "/tmp/x", "--max-rel-depth", "nan"),
    ("mvs", "/nonexistent", "--out", "/tmp/x"), ("fetch", "nope"), ("info", "--bogus"),
]


@pytest.mark.parametrize("argv", CLI_MATRIX, ids=[" ".join(a)[:60] for a in CLI_MATRIX])
def test_cli_argument_matrix(argv, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    code, out, err = _cli(*argv)
    assert code == 2, (code, out[-500:], err[-500:])
    assert "Traceback" not in err and "Traceback" not in out
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines and (len(lines) == 1 or lines[0].startswith("usage:")), err  # one line, or argparse's usage + line
    assert not (tmp_path / "cache" / "patchmatchnet_640x416_n5").exists(), "checked before any model was loaded"


def test_validate_refuses_nan_limits(tmp_path):
    folder = SHARED / "models" / "scrfd_2.5g_bnkps_640"
    files = [str(folder / f"scrfd_2.5g_bnkps_shape640x640.{s}") for s in ("onnx", "mnn")]
    code, _, err = _cli("validate", *files, "--images", PHOTO, "--max-abs-diff", "nan")
    assert code == 2 and "finite" in err


def test_unwritable_cache_is_an_edgecv_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("EDGECV_CACHE", str(blocker / "cache"))
    monkeypatch.setenv("EDGECV_MODELS", str(tmp_path / "empty"))
    with pytest.raises(edgecv.EdgecvError):
        edgecv.load("lightweight_openpose_hpe0001", engine="mnn")


# -- interrupted writes ------------------------------------------------------------------------------
FRACTIONS = (0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 0.95)


def _timed(cmd, env=None) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")
    assert out.returncode == 0, out.stderr[-1500:]
    return time.perf_counter() - t0


def _kill_after(cmd, seconds, env=None) -> bool:
    """Run ``cmd`` and SIGKILL it after ``seconds``; True when it finished first."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd="/")
    try:
        proc.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return False


def _visible(folder: Path):
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def _check_converted(out: Path) -> None:
    """Every visible file is complete: models load, and a sidecar's files carry its sha256."""
    for f in _visible(out):
        if f.suffix in (".onnx", ".mnn", ".param"):
            edgecv.load(f, threads=1, trust=True)
        elif f.name.endswith(".edgecv.json"):
            for entries in json.loads(f.read_text())["files"].values():
                for e in entries:
                    assert edgecv.store.sha256_file(out / e["name"]) == e["sha256"], e


def test_killed_convert_leaves_no_half_written_model(tmp_path):
    """Regression: a killed re-run of `edgecv convert` left a truncated .onnx beside the old sidecar."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "edgecv", "convert", str(RAW), "--task", "scrfd", "--input-size", "320",
           "--to", "onnx,ncnn,mnn", "--out", str(out), "--name", "m"]
    env = {**os.environ, "EDGECV_CACHE": str(tmp_path / "cache")}
    clean = _timed(cmd, env)
    finished = [_kill_after(cmd, f * clean, env) for f in FRACTIONS]
    _check_converted(out)
    assert not all(finished), "some runs were killed partway"
    assert subprocess.run(cmd, env=env, capture_output=True, cwd="/").returncode == 0
    assert [p.name for p in _visible(out)] == ["m.bin", "m.edgecv.json", "m.mnn", "m.onnx", "m.param"]
    assert not list(out.glob(".m.convert-*")) and not list(out.glob(".*.part-*")), "leftovers of killed runs removed"
    from edgecv.validate import validate

    assert validate([out / "m.edgecv.json"], [PHOTO]).passed


def test_killed_fetch_and_first_use_conversion_heal(tmp_path):
    import shutil

    env = {**os.environ, "EDGECV_CACHE": str(tmp_path / "cache"), "EDGECV_MODELS": ""}
    fetch = [sys.executable, "-m", "edgecv", "fetch", "scrfd_2.5g_bnkps_640", "--mirror", str(SHARED / "models")]
    clean = _timed(fetch, env)
    for f in FRACTIONS:
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)
        _kill_after(fetch, f * clean, env)
        for cached in _visible(tmp_path / "cache" / "scrfd_2.5g_bnkps_640"):
            assert any(edgecv.store.sha256_file(cached) == m.sha256 for files in
                       edgecv.store.get_manifest("scrfd_2.5g_bnkps_640").files.values() for m in files), cached
    assert subprocess.run(fetch, env=env, capture_output=True, cwd="/").returncode == 0
    first_use = [sys.executable, "-c", "import edgecv; edgecv.load('lightweight_openpose_hpe0001', engine='mnn')"]
    env_conv = {**env, "EDGECV_MODELS": str(SHARED / "models"), "EDGECV_CACHE": str(tmp_path / "cache2")}
    clean = _timed(first_use, env_conv)
    for f in FRACTIONS:
        shutil.rmtree(tmp_path / "cache2", ignore_errors=True)
        _kill_after(first_use, f * clean, env_conv)
        out = subprocess.run(first_use, env=env_conv, capture_output=True, text=True, cwd="/")
        assert out.returncode == 0, (f, out.stderr[-1000:])
    # Regression: a zero-byte sidecar left in the cache made every load fail with a JSONDecodeError.
    name = "lightweight_openpose_hpe0001"
    sidecar = tmp_path / "cache2" / name / "converted-mnn" / f"{name}.edgecv.json"
    sidecar.write_bytes(b"")
    out = subprocess.run(first_use, env=env_conv, capture_output=True, text=True, cwd="/")
    assert out.returncode == 0 and "converting again" in out.stderr, out.stderr[-1000:]
    assert json.loads(sidecar.read_text())["task"] == "openpose"


def test_killed_detect_out_leaves_complete_images(tmp_path):
    import cv2

    out = tmp_path / "out"
    images = [str(SHARED / "images" / n) for n in ("group_t1.jpg", "street_1.jpg", "street_4.jpg", "street_6.jpg",
                                                   "street_9.jpg", "street_12.jpg")] * 2
    cmd = [sys.executable, "-m", "edgecv", "detect", *images, "--out", str(out), "--threads", "1"]
    clean = _timed(cmd)
    for f in FRACTIONS:
        _kill_after(cmd, f * clean)
        for image in _visible(out):
            assert cv2.imread(str(image)) is not None, image


def test_detect_out_write_failure_is_an_error(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "group_t1.jpg").mkdir()  # the annotated image cannot be written there
    code, stdout, err = _cli("detect", PHOTO, "--out", str(out))
    assert code == 2 and "cannot write" in err and "->" not in stdout


def test_any_image_layout_and_huge_widths_stay_in_budget():
    pose = edgecv.load("lightweight_openpose_hpe0001", threads=1)
    strip = np.full((8, 1600, 3), 128, np.uint8)
    assert len(pose.detect(strip)) == 0  # scaled to max_width instead of a 2.5 GB network input
    assert pose.prepare(strip).feeds["data"].shape[3] <= 2048
    with pytest.raises(edgecv.InvalidInputError, match="budget"):
        edgecv.load("lightweight_openpose_hpe0001", threads=1, input_height=2048, max_width=8192)
