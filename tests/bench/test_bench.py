"""edgecv bench (real engines in worker processes), the device profile and engine="auto"."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import edgecv
from edgecv.bench import bench
from edgecv.convert.quantize import quantize as quantize_file
from edgecv.errors import InvalidInputError
from edgecv.store import profiles
from edgecv.store import sha256_file
from edgecv.system import cpu_count, cpu_model

from conftest import SCRFD, SHARED, copy_files, run_python

CALIB = SHARED / "images" / "calib_faces"
SCRFD_ONNX = SHARED / "models" / SCRFD / "scrfd_2.5g_bnkps_shape640x640.onnx"
IMAGES = [SHARED / "images" / "group_t1.jpg", SHARED / "images" / "street_4.jpg"]


@pytest.fixture(scope="module")
def int8_folder(tmp_path_factory, module_cache):
    root = tmp_path_factory.mktemp("bench")
    files = sorted(CALIB.iterdir())
    calib, holdout = copy_files(files[:16], root / "calib"), copy_files(files[-4:], root / "holdout")
    quantize_file(SCRFD_ONNX, calib, holdout=holdout, to=["onnxruntime"], out_dir=root / "q", name=SCRFD, threads=2,
                  keep_slower=True)
    return root / "q"


def test_auto_without_a_profile_is_onnxruntime_fp32(module_cache):
    assert profiles.best_config(SCRFD) is None
    model = edgecv.load(SCRFD, engine="auto", threads=1)
    assert model.engine.name == "onnxruntime" and model.config.precision == "fp32" and model.engine.threads == 1
    with pytest.raises(InvalidInputError, match="already one engine's file"):
        edgecv.load(SHARED / "models" / SCRFD / "scrfd_2.5g_bnkps_shape640x640.mnn", engine="auto")


def test_bench_rows_chart_profile_and_auto(int8_folder, tmp_path):
    report = bench(SCRFD, images=IMAGES, engines=["onnxruntime", "ncnn"], precisions=["fp32", "int8"],
                   threads=[1, 2], quantized=[int8_folder], repeat=3, warmup=1)
    rows = report.to_rows()
    assert {(r["engine"], r["precision"], r["threads"]) for r in rows} == {
        ("onnxruntime", "fp32", 1), ("onnxruntime", "fp32", 2), ("ncnn", "fp32", 1), ("ncnn", "fp32", 2),
        ("onnxruntime", "int8", 1), ("onnxruntime", "int8", 2)}
    for r in rows:
        assert r["error"] is None, r
        assert 0 < r["p50_ms"] <= r["p95_ms"] and 0 < r["detect_p50_ms"] <= r["detect_p95_ms"]
        assert 50 < r["rss_mb"] < 4000 and 0.0 <= r["agreement"] <= 1.0
        assert r["cpu"] == cpu_model() and r["cores"] == cpu_count()
    fp32 = [r for r in rows if r["precision"] == "fp32"]
    assert all(r["agreement"] == 1.0 and r["passes"] for r in fp32)  # engines of one fp32 model agree
    # the profile names the fastest configuration that passed; auto loads exactly that
    best = min((r for r in rows if r["passes"]), key=lambda r: r["detect_p50_ms"])
    assert report.profile == profiles.profile_path() and profiles.best_config(SCRFD) == best
    model = edgecv.load(SCRFD, engine="auto")
    assert (model.engine.name, model.config.precision, model.engine.threads) == (
        best["engine"], best["precision"], best["threads"])
    assert len(model.detect(IMAGES[0])) >= 5
    # the chart
    from edgecv.bench.chart import write_chart
    import cv2

    chart = write_chart(report, tmp_path / "bench.png")
    image = cv2.imread(str(chart))
    assert image is not None and image.shape[0] > 6 * 30 and image.shape[1] == 1000
    assert "onnxruntime" in report.table() and "pass" in report.table()


def test_a_broken_file_costs_one_row_not_the_benchmark(int8_folder, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(int8_folder, broken)
    path = broken / f"{SCRFD}_int8.onnx"
    path.write_bytes(path.read_bytes()[:50_000])  # the sidecar's sha256 no longer matches
    report = bench(SCRFD, images=IMAGES[:1], engines=["onnxruntime"], precisions=["fp32", "int8"], threads=[1],
                   quantized=[broken], repeat=2, warmup=0, save_profile=False)
    by_precision = {r.precision: r for r in report.rows}
    assert by_precision["fp32"].error is None and by_precision["fp32"].p50_ms > 0
    assert "ChecksumError" in by_precision["int8"].error


def test_each_row_reports_its_own_workers_peak_memory():
    # Linux carries getrusage's peak RSS over fork + exec: a worker started by a big parent used to report the
    # parent's peak. Make this process big, then check the row holds the worker's own figure.
    ballast = bytearray(700 * 1024 * 1024)
    ballast[::4096] = b"\1" * len(ballast[::4096])  # touch every page so it is resident
    report = bench(SCRFD, images=IMAGES[:1], engines=["onnxruntime"], precisions=["fp32"], threads=[1], repeat=2,
                   warmup=0, save_profile=False)
    (row,) = report.rows
    assert row.error is None and 50 < row.rss_mb < 600, row
    del ballast


def test_a_failed_quantisation_is_not_searched_again_on_the_same_calibration(tmp_path, module_cache, edgecv_log):
    # MNN's INT8 layer search takes minutes; when an engine failed its gates on a calibration folder, the next
    # bench on the same folder says so and measures what there is instead of searching again.
    from edgecv.convert.calibration import split_calibration
    from edgecv.tasks import get_task

    calib = copy_files(sorted(CALIB.iterdir())[:22], tmp_path / "calib")
    sha = split_calibration(get_task("scrfd"), calib).describe()["calibration"]["sha256"]
    work = Path(os.environ["EDGECV_CACHE"]) / "bench" / sha256_file(SCRFD_ONNX)[:16] / "quantized"
    work.mkdir(parents=True)
    record = work / f"{SCRFD}_int8.failed.json"
    record.write_text(json.dumps({"calibration": sha, "engines": {"onnxruntime": ["recall 0.5 < 0.98"]}}))
    with pytest.raises(InvalidInputError, match="no int8 files"):
        bench(SCRFD, images=IMAGES[:1], engines=["onnxruntime"], precisions=["int8"], calib=calib, repeat=1,
              warmup=0, save_profile=False)
    said = [r.getMessage() for r in edgecv_log]
    assert any("onnxruntime int8 failed its gates on this calibration folder in an earlier bench (recall 0.5 < 0.98)"
               in m and str(record) in m for m in said), said
    assert sorted(p.name for p in work.iterdir()) == [record.name]  # nothing was quantised


def test_cli_bench(int8_folder, tmp_path):
    proc = run_python("-m", "edgecv", "bench", SCRFD, "--images", str(IMAGES[0]), "--engines", "onnxruntime",
                      "--precisions", "int8")
    assert proc.returncode == 2 and "no int8 files" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    proc = run_python("-m", "edgecv", "bench", SCRFD, "--images", str(IMAGES[0]), "--plot", str(tmp_path / "x.jpg"))
    assert proc.returncode == 2 and "PNG" in proc.stderr
    proc = run_python("-m", "edgecv", "bench", SCRFD, "--engines", "onnxruntime")
    assert proc.returncode == 2 and "needs images" in proc.stderr
    proc = run_python("-m", "edgecv", "bench", SCRFD, "--images", str(IMAGES[0]), "--engines", "onnxruntime",
                      "--precisions", "fp32,int8", "--quantized", str(int8_folder), "--repeat", "2", "--json",
                      "--plot", str(tmp_path / "chart.png"))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert isinstance(rows, list) and len(rows) == 2
    for key in ("engine", "precision", "threads", "p50_ms", "p95_ms", "rss_mb", "agreement"):
        assert all(key in r for r in rows)
    assert (tmp_path / "chart.png").stat().st_size > 1000
    proc = run_python("-m", "edgecv", "detect", str(IMAGES[0]), "--engine", "auto", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["results"][0]["count"] >= 5, proc.stderr
