"""Models whose contract differs from the bundled ones: dynamic input size, no landmarks,
numeric output names. The variants are made from the real shared ONNX files with onnx."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import SHARED, cached_model

import edgecv
from edgecv.tasks.faces.compare import compare_faces
from edgecv.errors import InvalidInputError, ModelContractError

RAW = SHARED / "models" / "scrfd_500m_raw" / "scrfd_500m.onnx"
BNKPS = SHARED / "models" / "scrfd_500m_bnkps_640" / "scrfd_500m_bnkps.onnx"
# Output names of insightface's raw SCRFD-500M export, by role (read off the graph).
RAW_ROLES = {"443": "score_8", "468": "score_16", "493": "score_32", "446": "bbox_8", "471": "bbox_16",
             "496": "bbox_32", "449": "kps_8", "474": "kps_16", "499": "kps_32"}


def _with_outputs(src, dst, rename=None, drop=()):
    """Copy of an ONNX model with outputs renamed (through Identity nodes) and/or dropped."""
    model = onnx.load(str(src))
    graph = model.graph
    rename = rename or {}
    outputs = []
    for out in graph.output:
        if out.name in drop:
            continue
        if out.name in rename:
            new = onnx.helper.make_tensor_value_info(rename[out.name], out.type.tensor_type.elem_type, None)
            graph.node.append(onnx.helper.make_node("Identity", [out.name], [rename[out.name]]))
            outputs.append(new)
        else:
            outputs.append(out)
    del graph.output[:]
    graph.output.extend(outputs)
    onnx.save(model, str(dst))
    return dst


@pytest.fixture(scope="module")
def dynamic_model(tmp_path_factory):
    return _with_outputs(RAW, tmp_path_factory.mktemp("dyn") / "scrfd_500m_dynamic.onnx", rename=RAW_ROLES)


def test_dynamic_model_takes_input_size(dynamic_model, photos):
    image = photos["group_t1.jpg"]
    default = edgecv.load(dynamic_model, threads=2)
    assert default.input_size == (640, 640)
    ref = cached_model("onnxruntime", "scrfd_500m_bnkps_640").detect(image)
    faces = default.detect(image)
    row = compare_faces(ref, faces)
    assert row["matched"] == row["reference"] == row["other"] == 6 and row["min_iou"] >= 0.98
    small = edgecv.load(dynamic_model, threads=2, input_size=320)
    assert small.input_size == (320, 320)
    assert 4 <= len(small.detect(image)) <= 6
    wide = edgecv.load(dynamic_model, threads=2, input_size=(448, 640))
    faces_wide = wide.detect(image)  # 1280x886 fits 640x443 -> 448x640 input wastes little padding
    assert len(faces_wide) == 6


@pytest.mark.parametrize("size", [330, (640, 100), 0, "big"])
def test_dynamic_model_validates_input_size(dynamic_model, size):
    with pytest.raises(InvalidInputError):
        edgecv.load(dynamic_model, input_size=size)


def test_fixed_model_rejects_other_input_size():
    with pytest.raises(InvalidInputError, match="fixed input size 640x640"):
        edgecv.load("scrfd_500m_bnkps_640", input_size=320)


def test_model_without_landmarks(tmp_path, photos):
    path = _with_outputs(BNKPS, tmp_path / "nokps.onnx", drop={"kps_8", "kps_16", "kps_32"})
    model = edgecv.load(path, threads=2)
    assert not model.with_landmarks and len(model.engine.output_names) == 6
    faces = model.detect(photos["group_t1.jpg"])
    assert faces.landmarks is None and len(faces) == 6
    full = cached_model("onnxruntime", "scrfd_500m_bnkps_640").detect(photos["group_t1.jpg"])
    np.testing.assert_allclose(faces.boxes, full.boxes, atol=1e-4)
    assert "landmarks" not in faces.to_dict()["faces"][0]
    assert faces.draw(photos["group_t1.jpg"]).shape == photos["group_t1.jpg"].shape


def test_model_lacking_an_output_names_it(tmp_path):
    path = _with_outputs(BNKPS, tmp_path / "no_bbox16.onnx", drop={"bbox_16"})
    with pytest.raises(ModelContractError) as err:
        edgecv.load(path)
    assert "bbox_16" in str(err.value) and "score_16" in str(err.value)


def test_partial_landmarks_refused(tmp_path):
    path = _with_outputs(BNKPS, tmp_path / "kps_partial.onnx", drop={"kps_32"})
    with pytest.raises(ModelContractError, match="kps_32"):
        edgecv.load(path)


def test_raw_numeric_outputs_need_renaming():
    with pytest.raises(ModelContractError) as err:
        edgecv.load(RAW)
    assert "443" in str(err.value) and "edgecv convert" in str(err.value)
    with pytest.raises(ModelContractError, match="no SCRFD outputs"):
        edgecv.load(RAW, task="scrfd")
