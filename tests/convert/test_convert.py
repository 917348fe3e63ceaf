"""Converter and validator on the real raw insightface export and the OpenPose model."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from conftest import PHOTOS, SHARED, run_python, run_without_module

import edgecv
from edgecv.tasks.faces.compare import compare_faces
from edgecv.convert import convert
from edgecv.engines import create_engine
from edgecv.errors import ConversionError, ConverterNotFoundError, InvalidInputError
from edgecv.targets import ENGINE_NAMES
from edgecv.validate import validate

RAW = SHARED / "models" / "scrfd_500m_raw" / "scrfd_500m.onnx"
POSE = SHARED / "models" / "lightweight_openpose_hpe0001" / "lightweight_openpose_hpe0001.onnx"


@pytest.fixture(scope="module", params=[640, 320])
def converted(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"scrfd{request.param}")
    return request.param, convert(RAW, "scrfd", out_dir=out, input_size=request.param)


def test_roles_inferred_from_shapes(converted):
    size, result = converted
    meta = result.metadata
    assert meta["renamed"] == {"443": "score_8", "468": "score_16", "493": "score_32", "446": "bbox_8",
                               "471": "bbox_16", "496": "bbox_32", "449": "kps_8", "474": "kps_16", "499": "kps_32"}
    assert meta["input"]["size"] == [size, size] and meta["input"]["name"] == "input.1"
    assert meta["outputs"]["strides"] == [8, 16, 32] and meta["outputs"]["num_anchors"] == 2
    assert meta["source"]["sha256"] == "5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a"
    on_disk = json.loads(result.metadata_file.read_text())
    assert tuple(on_disk["files"]) == ENGINE_NAMES  # convert's default: every engine of the table
    props = {p.key: p.value for p in onnx.load(str(result.files["onnxruntime"][0])).metadata_props}
    assert json.loads(props["edgecv"])["task"] == "scrfd"
    param = result.files["ncnn"][0].read_text()
    assert " in0" not in param and " out0" not in param and "score_8" in param and "input.1" in param


def test_renaming_is_bit_identical_on_onnxruntime(tmp_path):
    """Renaming alone (input left dynamic) changes no bit of any output."""
    result = convert(RAW, "scrfd", out_dir=tmp_path, to=["onnx"])
    assert result.metadata["input"]["dynamic"] and result.metadata["input"]["size"] == [640, 640]
    for hw in ((640, 640), (320, 480)):
        x = np.random.default_rng(7).uniform(-1, 1, (1, 3, *hw)).astype(np.float32)
        raw = create_engine("onnxruntime", [RAW]).run({"input.1": x})
        renamed = create_engine("onnxruntime", result.files["onnxruntime"]).run({"input.1": x})
        for old, new in result.metadata["renamed"].items():
            np.testing.assert_array_equal(renamed[new], raw[old])


def test_fixed_size_onnx_matches_the_original(converted):
    """With the input size fixed ORT may choose other kernels: equal to float rounding."""
    size, result = converted
    x = np.random.default_rng(7).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
    raw = create_engine("onnxruntime", [RAW]).run({"input.1": x})
    fixed = create_engine("onnxruntime", result.files["onnxruntime"]).run({"input.1": x})
    for old, new in result.metadata["renamed"].items():
        np.testing.assert_allclose(fixed[new].reshape(raw[old].shape), raw[old], rtol=0, atol=1e-5)


@pytest.mark.parametrize("photo", PHOTOS)
def test_converted_engines_agree_with_each_other_and_the_raw_model(converted, photo, photos):
    size, result = converted
    models = {eng: edgecv.load(paths[0], threads=2) for eng, paths in result.files.items()}
    assert all(m.input_size == (size, size) for m in models.values())
    image = photos[photo]
    faces = {eng: m.detect(image) for eng, m in models.items()}
    # The raw model (numeric names) decoded through our pipeline via the role map.
    ref_model = models["onnxruntime"]
    prepared = ref_model.prepare(image)
    raw_out = create_engine("onnxruntime", [RAW]).run({"input.1": prepared.feeds["input.1"]})
    renamed = {new: raw_out[old] for old, new in result.metadata["renamed"].items()}
    faces["raw"] = ref_model.postprocess(renamed, prepared)
    reference = faces["onnxruntime"]
    if size == 640:
        assert len(reference) >= 1
    for eng, other in faces.items():
        row = compare_faces(reference, other)
        assert row["missing"] == row["extra"] == 0, (eng, row)
        assert row["min_iou"] >= 0.98 and row["max_landmark_px"] <= 1.0, (eng, row)


def test_validate_reports_and_passes(converted, tmp_path):
    size, result = converted
    images = [SHARED / "images" / p for p in ("group_t1.jpg", "street_4.jpg")]
    report = validate([result.metadata_file], images)
    assert report.passed, report.failures
    assert {r["output"] for r in report.outputs} == {f"{k}_{s}" for k in ("score", "bbox", "kps") for s in (8, 16, 32)}
    assert max(r["max_abs_diff"] for r in report.outputs) < 1e-3
    assert len(report.tasks) == 2 * (len(ENGINE_NAMES) - 1)
    assert all(t["missing"] == t["extra"] == 0 for t in report.tasks)
    strict = validate([result.metadata_file], images[:1], max_abs_diff=1e-12)
    assert not strict.passed and "max abs diff" in strict.failures[0]


def test_validate_cli_json_and_exit_codes(converted):
    size, result = converted
    out_dir = result.metadata_file.parent
    ok = run_python("-m", "edgecv", "validate", str(out_dir), "--images", str(SHARED / "images" / "group_t1.jpg"),
                    "--json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["passed"] and report["reference"].endswith(".onnx")
    bad = run_python("-m", "edgecv", "validate", str(out_dir), "--images", str(SHARED / "images" / "group_t1.jpg"),
                     "--max-abs-diff", "1e-12")
    assert bad.returncode == 1 and "FAILED" in bad.stdout


def test_convert_cli(tmp_path):
    out = run_python("-m", "edgecv", "convert", str(RAW), "--task", "scrfd", "--input-size", "480x640",
                     "--to", "onnx,mnn", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "443 -> score_8" in out.stdout
    model = edgecv.load(tmp_path / "scrfd_500m_480x640.mnn")
    assert model.input_size == (480, 640)
    assert len(model.detect(SHARED / "images" / "group_t1.jpg")) == 6


def test_mnn_files_are_byte_identical_from_run_to_run(tmp_path):
    # MNN's converter stamps a random UUID into every file; edgecv derives it from the rest of the file instead,
    # so the same ONNX gives the same bytes (and the same sha256 in the metadata) every time.
    import re

    onnx = SHARED / "models" / "yunet" / "yunet_n_640_640.onnx"
    files = [convert(onnx, "yunet", out_dir=tmp_path / k, to=["mnn"]).files["mnn"][0] for k in "ab"]
    data = [f.read_bytes() for f in files]
    assert data[0] == data[1]
    stamps = re.findall(rb"\x24\x00\x00\x00([0-9a-f-]{36})", data[0])
    assert len(stamps) == 1 and stamps[0] != b"0" * 36
    assert len(edgecv.load(files[0]).detect(SHARED / "images" / "group_t1.jpg")) == 6


def _pose_outputs(files, x):
    return {eng: create_engine(eng, paths).run({"data": x}) for eng, paths in files.items()}


def test_openpose_to_ncnn_and_mnn(tmp_path):
    result = convert(POSE, "openpose", out_dir=tmp_path, input_size=(256, 456))
    assert result.metadata["outputs"]["names"] == ["heatmaps", "pafs"]
    assert result.metadata["input"]["color"] == "BGR" and result.metadata["input"]["std"] == [255.0] * 3
    image = edgecv.read_image(SHARED / "images" / "street_1.jpg")  # a real photo, resized to 456 wide
    import cv2

    resized = cv2.resize(image, (456, 256))
    x = ((resized.astype(np.float32) - 128) / 255).transpose(2, 0, 1)[None].copy()
    out = _pose_outputs(result.files, x)
    for eng in ("ncnn", "mnn"):
        for name in ("heatmaps", "pafs"):
            channels = 19 if name == "heatmaps" else 38
            assert out[eng][name].shape == out["onnxruntime"][name].shape == (1, channels, 32, 57)
            assert np.abs(out[eng][name] - out["onnxruntime"][name]).max() <= 1e-3, (eng, name)
    assert out["onnxruntime"]["heatmaps"][0, :18].max() > 0.5  # people in the photo give peaks
    # The validator runs the whole pose pipeline on every file: raw outputs and keypoints agree.
    report = validate([result.metadata_file], [SHARED / "images" / "street_1.jpg", SHARED / "images" / "street_4.jpg"])
    assert report.passed, report.failures
    assert {r["output"] for r in report.outputs} == {"heatmaps", "pafs"}
    assert max(r["max_abs_diff"] for r in report.outputs) <= 1e-3
    assert all(t["missing"] == t["extra"] == 0 and t["max_keypoint_px"] <= 2.0 for t in report.tasks)


def test_openpose_concatenated_output_is_split(tmp_path):
    """A CMU-style single 57-channel output (heatmaps then PAFs) becomes heatmaps + pafs."""
    model = onnx.load(str(POSE))
    g = model.graph
    g.node.append(onnx.helper.make_node("Concat", ["heatmaps", "pafs"], ["net_output"], axis=1))
    del g.output[:]
    g.output.append(onnx.helper.make_tensor_value_info("net_output", onnx.TensorProto.FLOAT, None))
    concat = tmp_path / "concat.onnx"
    onnx.save(model, str(concat))
    result = convert(concat, "openpose", out_dir=tmp_path / "out", to=["onnx", "ncnn"], input_size=(256, 456))
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (1, 3, 256, 456)).astype(np.float32)
    original = create_engine("onnxruntime", [POSE]).run({"data": x})
    split = _pose_outputs(result.files, x)
    for name in ("heatmaps", "pafs"):
        np.testing.assert_array_equal(split["onnxruntime"][name], original[name])
        assert np.abs(split["ncnn"][name] - original[name]).max() < 1e-3


def test_generic_rename_without_task(tmp_path):
    result = convert(POSE, None, out_dir=tmp_path, to=["onnx"], input_size=(256, 456), rename={"heatmaps": "hm"})
    engine = create_engine("onnxruntime", result.files["onnxruntime"])
    assert engine.output_names == ["hm", "pafs"]
    with pytest.raises(InvalidInputError, match="no tensor named"):
        convert(POSE, None, out_dir=tmp_path, to=["onnx"], input_size=(256, 456), rename={"nope": "x"})


def test_unassignable_outputs_list_the_shapes(tmp_path):
    with pytest.raises(ConversionError) as err:
        convert(POSE, "scrfd", out_dir=tmp_path, to=["onnx"], input_size=(256, 456))
    assert "heatmaps: [1, 19, 32, 57]" in str(err.value) and "pafs: [1, 38, 32, 57]" in str(err.value)
    with pytest.raises(ConversionError) as err:
        convert(RAW, "openpose", out_dir=tmp_path, to=["onnx"], input_size=640)
    assert "443: [12800, 1]" in str(err.value)


def test_bad_arguments(tmp_path):
    with pytest.raises(InvalidInputError, match="dynamic"):
        convert(RAW, None, out_dir=tmp_path)
    with pytest.raises(InvalidInputError, match="unknown engine .tflite"):
        convert(RAW, "scrfd", out_dir=tmp_path, to=["tflite"])
    with pytest.raises(edgecv.ModelNotFoundError):
        convert(tmp_path / "missing.onnx", "scrfd", out_dir=tmp_path)
    fixed = SHARED / "models" / "scrfd_500m_bnkps_640" / "scrfd_500m_bnkps.onnx"
    with pytest.raises(InvalidInputError, match="fixed"):
        convert(fixed, "scrfd", out_dir=tmp_path, input_size=320)


@pytest.mark.parametrize("module,target,package", [("pnnx", "ncnn", "pip install --no-deps pnnx"),
                                                    ("_tools", "mnn", "pip install 'edgecv[mnn]'")])
def test_missing_converter_names_the_package(module, target, package, tmp_path):
    out = run_without_module(module, "from edgecv.convert import convert; "
                             f"convert({str(RAW)!r}, 'scrfd', out_dir={str(tmp_path)!r}, to=[{target!r}], "
                             "input_size=320)",
                             "ConverterNotFoundError")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OK") and package in out.stdout


def test_pnnx_override_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECV_PNNX", str(tmp_path / "no-pnnx"))
    with pytest.raises(ConverterNotFoundError, match="EDGECV_PNNX"):
        convert(RAW, "scrfd", out_dir=tmp_path, to=["ncnn"], input_size=320)
