"""The task registry and what hangs off it: every task is complete, defaults are stated once (C++ structs
= Python options = README), and the CLI refuses another task's options in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO, SHARED, run_python

import edgecv
from edgecv import _core
from edgecv.errors import InvalidInputError
from edgecv.targets import ENGINE_NAMES, TARGETS, get_target, parse_targets
from edgecv.tasks import IMAGE, TASKS, get_task, guess_task

PHOTO = str(SHARED / "images" / "group_t1.jpg")


def test_every_task_is_complete():
    assert list(TASKS) == ["scrfd", "yunet", "openpose", "mvs"]
    for spec in TASKS.values():
        assert spec.model.task == spec.name and spec.compare and spec.summarize
        assert set(spec.gates) == {"convert", "quantize"}
        for name in ("to_dict", "draw"):
            assert callable(getattr(spec.result, name))
        if spec.inputs == IMAGE:
            assert spec.roles is not None and spec.default_input["size"]
    assert guess_task(["score_8", "bbox_8"]).name == "scrfd"
    assert guess_task(["cls_8", "obj_8", "bbox_8"]).name == "yunet"
    assert guess_task(["heatmaps", "pafs"]).name == "openpose"
    assert guess_task(["depth", "confidence"]).name == "mvs"
    with pytest.raises(edgecv.ModelContractError, match="known tasks"):
        get_task("yolo")


def test_defaults_are_the_cpp_ones():
    scrfd = {o.name: o.default for o in TASKS["scrfd"].options}
    d = _core.ScrfdParams()
    assert scrfd["score_threshold"] == pytest.approx(d.score_threshold) and scrfd["max_faces"] == d.max_detections
    assert scrfd["iou_threshold"] == pytest.approx(d.iou_threshold) and scrfd["pre_nms_top_k"] == d.pre_nms_top_k
    yunet, y = {o.name: o.default for o in TASKS["yunet"].options}, _core.YunetParams()
    assert (yunet["score_threshold"], yunet["iou_threshold"]) == (pytest.approx(y.score_threshold), pytest.approx(0.3))
    pose = {o.name: o.default for o in TASKS["openpose"].options}
    p = _core.PoseParams()
    assert pose["min_parts"] == p.min_parts == 5 and pose["peak_radius"] == p.peak_radius == 0
    assert pose["peak_threshold"] == pytest.approx(p.peak_threshold)
    from edgecv.tasks.mvs import FusionParams

    c = _core.ConsistencyParams()
    assert FusionParams().min_confidence == pytest.approx(c.min_confidence) == 0.5
    assert FusionParams().min_views == c.min_views


def test_doc_tables_are_generated_from_the_code():
    out = subprocess.run([sys.executable, str(REPO / "tools" / "doc_tables.py"), "--check"], capture_output=True,
                         text=True, cwd="/")
    assert out.returncode == 0, out.stderr


def test_engine_table_is_the_one_vocabulary():
    assert ENGINE_NAMES == ("onnxruntime", "ncnn", "mnn", "openvino")
    assert get_target("onnx").name == "onnxruntime" and parse_targets("onnx,mnn,onnx,ov") == ("onnxruntime", "mnn",
                                                                                              "openvino")
    assert [t.fp16 for t in TARGETS.values()] == [False, True, True, True]
    from edgecv.engines import engine_class

    assert [engine_class(e).reentrant for e in ENGINE_NAMES] == [True, True, False, True]
    with pytest.raises(InvalidInputError, match="unknown engine"):
        get_target("tensorrt")


def test_onnxruntime_fp16_is_refused_not_ignored():
    """One error class for fp16 on an engine without it, whether loading or quantising."""
    from edgecv.errors import PrecisionNotSupportedError

    with pytest.raises(PrecisionNotSupportedError, match="onnxruntime does not run fp16"):
        edgecv.load("scrfd_2.5g_bnkps_640", fp16=True)


@pytest.mark.parametrize("model,flag,value", [
    ("scrfd_2.5g_bnkps_640", "--input-height", "256"),
    ("scrfd_2.5g_bnkps_640", "--upsample", "2"),
    ("lightweight_openpose_hpe0001", "--input-size", "320"),
    ("lightweight_openpose_hpe0001", "--score-threshold", "0.3"),
    ("lightweight_openpose_hpe0001", "--head-pose", None),
])
def test_cli_option_of_another_task_is_a_one_line_error(model, flag, value):
    """Regression: `edgecv detect --input-height 256` with an SCRFD model died with a traceback."""
    args = ["-m", "edgecv", "detect", PHOTO, "--model", model, flag] + ([value] if value else [])
    out = run_python(*args)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert f"{flag} is an option of" in out.stderr


def test_cli_detect_refuses_a_views_model():
    out = run_python("-m", "edgecv", "detect", PHOTO, "--model", "patchmatchnet_640x416_n5")
    assert out.returncode == 2 and "edgecv mvs" in out.stderr and "Traceback" not in out.stderr


def test_detect_options_are_checked_per_call(photos):
    model = edgecv.load("scrfd_2.5g_bnkps_640", threads=1)
    with pytest.raises(InvalidInputError, match="fixed when a scrfd model is loaded"):
        model.detect(photos["group_t1.jpg"], input_size=320)
    with pytest.raises(InvalidInputError, match="not an option of task scrfd"):
        model.detect(photos["group_t1.jpg"], upsample=2)
    assert len(model.detect(photos["group_t1.jpg"], max_faces=2)) == 2
    assert len(model.detect(photos["group_t1.jpg"])) == 6  # per-call values do not stick

