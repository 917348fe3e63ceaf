"""OpenVINO, the engine added through the engine table alone: what its row promises, on real models and data.
Faces and poses agree with ONNX Runtime in the task tests (they run on every engine of the table); depth maps,
files written by convert and quantize, and the precision it computes in are checked here."""

from __future__ import annotations

import numpy as np
import pytest

import edgecv
from conftest import SHARED, cached_model
from edgecv.errors import InvalidInputError
from edgecv.targets import TARGETS, get_target

SCRFD_500M = SHARED / "models" / "scrfd_500m_bnkps_640" / "scrfd_500m_bnkps.onnx"


def test_row_names_what_openvino_reads_and_writes(tmp_path):
    ov = get_target("ov")
    assert ov is TARGETS["openvino"] and ov.reads_onnx and ov.fp16 and ov.reentrant
    assert [p.name for p in ov.files_for(tmp_path, "m")] == ["m.ov.xml", "m.ov.bin"]  # not ncnn's m.bin
    model = edgecv.load(SCRFD_500M, engine="ov", threads=2)  # an ONNX file, read directly
    assert model.engine.name == "openvino" and model.engine.files == [SCRFD_500M]
    with pytest.raises(InvalidInputError, match="is a mnn model, not openvino"):
        edgecv.load(SHARED / "models" / "scrfd_2.5g_bnkps_640" / "scrfd_2.5g_bnkps_shape640x640.mnn", engine="ov")


def test_computes_in_fp32_unless_asked(photos):
    """The CPU plugin would pick bf16 on this CPU (AMX): edgecv asks for f32 and gets ONNX Runtime's numbers."""
    model = cached_model("openvino")
    assert str(model.engine.compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"
    reference = cached_model("onnxruntime")
    prepared = reference.prepare(photos["street_6.jpg"])
    a, b = reference.infer(prepared), model.infer(prepared)
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) < 2e-3


def test_convert_writes_ir_that_loads_by_path(tmp_path, photos):
    from edgecv.convert import convert

    result = convert(SCRFD_500M, "scrfd", out_dir=tmp_path, to=["onnxruntime", "openvino", "ncnn"], name="m")
    assert [p.name for p in result.files["openvino"]] == ["m.ov.xml", "m.ov.bin"]
    assert [p.name for p in result.files["ncnn"]] == ["m.param", "m.bin"]
    assert result.metadata["tools"]["openvino"] and result.metadata["files"]["openvino"][0]["name"] == "m.ov.xml"
    ir = edgecv.load(tmp_path / "m.ov.xml", threads=2)  # engine from the file; metadata from m.edgecv.json
    assert ir.engine.name == "openvino" and ir.task == "scrfd" and ir.config.name == "m"
    onnx = edgecv.load(tmp_path / "m.onnx", threads=2)
    for name in ("group_t1.jpg", "street_4.jpg"):
        a, b = onnx.detect(photos[name]), ir.detect(photos[name])
        assert len(a) == len(b) > 0
        assert np.abs(a.boxes - b.boxes).max() < 0.5


def test_depth_maps_agree_with_onnxruntime():
    from edgecv.tasks.mvs import load_scene

    scene = load_scene(SHARED / "data" / "mvs_office_8view")
    a = cached_model("onnxruntime", "patchmatchnet_640x416_n5").detect(scene, ref=0).depth
    b = cached_model("openvino", "patchmatchnet_640x416_n5").detect(scene, ref=0).depth
    both = (a > 0) & (b > 0)
    assert both.mean() > 0.99 and ((a > 0) == (b > 0)).mean() > 0.999
    assert np.median(np.abs(a[both] - b[both]) / a[both]) < 1e-4


def test_int8_through_nncf_passes_the_gates_and_is_faster(tmp_path):
    """The same quantize command and gates as the other engines; NNCF's IR is loaded by path."""
    import time

    result = edgecv.quantize("scrfd_2.5g_bnkps_640", SHARED / "images" / "calib_faces", to=["openvino"],
                             out_dir=tmp_path, threads=2)
    outcome = result.outcomes["openvino"]
    assert outcome.passed and outcome.method["format"].startswith("OpenVINO IR")
    assert [p.name for p in result.files["openvino"]] == ["scrfd_2.5g_bnkps_640_int8.ov.xml",
                                                          "scrfd_2.5g_bnkps_640_int8.ov.bin"]
    int8 = edgecv.load(result.files["openvino"][0], threads=2)
    assert int8.config.precision == "int8" and int8.engine.name == "openvino"
    fp32 = cached_model("openvino")
    image = edgecv.read_image(SHARED / "images" / "street_6.jpg")

    def ms(model):
        prepared = model.prepare(image)
        model.infer(prepared)
        start = time.perf_counter()
        for _ in range(5):
            model.infer(prepared)
        return (time.perf_counter() - start) / 5

    assert ms(int8) < ms(fp32)
    assert len(int8.detect(image)) == len(fp32.detect(image))
