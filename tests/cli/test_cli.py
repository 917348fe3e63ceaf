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
    assert report["engine"] == "ncnn" and report["model"] == "yunet_n_640"  # the licence-clean default
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
    from edgecv.targets import ENGINE_NAMES

    assert tuple(info["engines"]) == ENGINE_NAMES and all(info["engines"].values())
    scrfd = info["models"]["scrfd_2.5g_bnkps_640"]
    assert scrfd["licence"] == "non-commercial research only" and scrfd["task"] == "scrfd"
    assert scrfd["engines"] == {"onnxruntime": True, "ncnn": True, "mnn": True, "openvino": True}
    assert info["models"]["yunet_n_640"]["licence"] == "Apache-2.0" and info["core"] in ("native", "python")


def test_help_lists_the_commands():
    from edgecv.cli import COMMANDS

    out = run_python("-m", "edgecv", "--help")
    assert out.returncode == 0
    for command in COMMANDS:
        name = command.__name__.rsplit(".", 1)[-1]
        assert name in out.stdout
        assert run_python("-m", "edgecv", name, "--help").returncode == 0


def test_arguments_are_parsed_by_what_they_are():
    """Each flag's converter says what it expects (thread counts, view lists, sizes, ports...), before any work."""
    cases = [
        (["bench", "m", "--images", PHOTO, "--threads", "1,0"], "threads must be in 1.."),
        (["bench", "m", "--images", PHOTO, "--precisions", "fp8"], "precisions are fp32, fp16, int8"),
        (["bench", "m", "--images", PHOTO, "--plot", "chart.jpg"], "writes a PNG"),
        (["bench", "m", "--engines", "tensorrt", "--images", PHOTO], "unknown engine 'tensorrt'"),
        (["convert", "m.onnx", "--input-size", "64x"], "expected N or HxW"),
        (["mvs", "scene", "--out", "o", "--refs", "0,-1"], "view numbers are >= 0"),
        (["batch", "x", "--out", "o", "--every", "0"], "expected a whole number >= 1"),
        (["serve", "m", "--port", "70000"], "a port is in 0..65535"),
        (["serve", "m", "--header-timeout", "0"], "expected seconds > 0"),
        (["detect", PHOTO, "--max-pixels", "-5"], "expected a whole number >= 1"),
        (["detect", PHOTO, "--timeout", "nan"], "expected a finite number"),
    ]
    for argv, message in cases:
        out = run_python("-m", "edgecv", *argv)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, (argv, out.stderr)
