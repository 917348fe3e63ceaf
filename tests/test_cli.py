"""The `edgecv` command line, run as users run it."""

from __future__ import annotations

import json

from conftest import SHARED, run_python

PHOTO = str(SHARED / "images" / "group_t1.jpg")


def test_detect_json_and_annotated_images(tmp_path):
    out = run_python("-m", "edgecv", "detect", PHOTO, str(SHARED / "images" / "street_12.jpg"),
                     "--engine", "ncnn", "--threads", "2", "--out", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["engine"] == "ncnn" and report["model"] == "scrfd_2.5g_bnkps_640"
    first = report["results"][0]
    assert first["count"] == 6 and first["width"] == 1280 and len(first["faces"][0]["landmarks"]) == 5
    assert (tmp_path / "group_t1.jpg").stat().st_size > 10_000
    assert (tmp_path / "street_12.jpg").is_file()


def test_detect_summary_with_model_path_and_options():
    model = SHARED / "models" / "scrfd_2.5g_bnkps_640" / "scrfd_2.5g_bnkps_shape640x640.mnn"
    out = run_python("-m", "edgecv", "detect", PHOTO, "--model", str(model), "--max-faces", "3")
    assert out.returncode == 0, out.stderr
    assert f"{PHOTO}: 3 faces" in out.stdout


def test_errors_exit_2_with_a_message():
    out = run_python("-m", "edgecv", "detect", "/nonexistent.jpg")
    assert out.returncode == 2 and "image file not found" in out.stderr and "Traceback" not in out.stderr
    out = run_python("-m", "edgecv", "detect", PHOTO, "--model", "nope")
    assert out.returncode == 2 and "unknown model 'nope'" in out.stderr


def test_info_lists_engines_and_models():
    out = run_python("-m", "edgecv", "info", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert set(info["engines"]) == {"onnxruntime", "ncnn", "mnn"} and all(info["engines"].values())
    assert info["models"]["scrfd_2.5g_bnkps_640"] == {"onnxruntime": True, "ncnn": True, "mnn": True}


def test_help_lists_the_commands():
    out = run_python("-m", "edgecv", "--help")
    assert out.returncode == 0
    for word in ("detect", "info", "fetch"):
        assert word in out.stdout
