"""YuNet end to end on real models and photos: every engine against OpenCV's own FaceDetectorYN on the same
640x640 input, dynamic sizes, the shared face features (head pose, tracking, camera frames), the converter's roles,
and licences as data."""

from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest
from conftest import ENGINES, PHOTOS, SHARED, cached_model, run_python

import edgecv
from edgecv.tasks.faces.compare import compare_faces, match_boxes
from edgecv.tasks.yunet.model import YunetModel

MODELS = {"yunet_n_640": "yunet_n_640_640.onnx", "yunet_s_640": "yunet_s_640_640.onnx"}
YUNET_DIR = SHARED / "models" / "yunet"
ALL_PHOTOS = PHOTOS + ("portrait_tom_hanks.png",)
DEFAULTS = {o.name: o.default for o in YunetModel.options}


def _letterboxed(model, image):
    """The 640x640 network image edgecv builds (resized with OpenCV's bilinear, top-left, black padding) and the
    scale back to the photo."""
    sx, sy = model.prepare(image).context["scale"]
    rh, rw = round(image.shape[0] * sy), round(image.shape[1] * sx)
    h, w = model.input_size
    canvas = np.zeros((h, w, 3), np.uint8)
    canvas[:rh, :rw] = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_LINEAR)
    return canvas, np.array([sx, sy], np.float32)


def _opencv_faces(path, size, image):
    detector = cv2.FaceDetectorYN.create(str(path), "", (size[1], size[0]), DEFAULTS["score_threshold"],
                                         DEFAULTS["iou_threshold"], DEFAULTS["pre_nms_top_k"])
    _, faces = detector.detect(image)
    faces = np.zeros((0, 15), np.float32) if faces is None else faces
    return np.c_[faces[:, :2], faces[:, :2] + faces[:, 2:4]], faces[:, 4:14].reshape(-1, 5, 2), faces[:, 14]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", list(MODELS))
def test_faces_match_opencv_facedetectoryn(name, engine, photos):
    """Same count, box IoU >= 0.95 and landmarks within 1.5 px of cv2.FaceDetectorYN on the same input."""
    model = cached_model(engine, name)
    found = 0
    for photo in ALL_PHOTOS:
        image = photos[photo] if photo in photos else edgecv.read_image(SHARED / "images" / photo)
        canvas, scale = _letterboxed(model, image)
        ref_boxes, ref_marks, ref_scores = _opencv_faces(YUNET_DIR / MODELS[name], model.input_size, canvas)
        ours = model.detect(image)
        boxes, marks = ours.boxes * np.tile(scale, 2), ours.landmarks * scale  # into the network input's pixels
        pairs = match_boxes(ref_boxes, boxes, 0.5)
        assert len(ours) == len(ref_boxes) == len(pairs), (photo, len(ours), len(ref_boxes))
        for i, j, iou in pairs:
            assert iou >= 0.95, (photo, iou)
            assert np.abs(ref_marks[i] - marks[j]).max() <= 1.5, photo
            assert abs(float(ref_scores[i]) - float(ours.scores[j])) < 0.01
        found += len(ours)
    assert found >= 25


@pytest.mark.parametrize("engine", ENGINES)
def test_group_photo_and_landmark_order(engine, photos):
    faces = cached_model(engine, "yunet_n_640").detect(photos["group_t1.jpg"])
    assert len(faces) == 6 and faces.task == "yunet" and faces.to_dict()["task"] == "yunet"
    assert np.all(np.diff(faces.scores) <= 0) and np.all(faces.scores >= DEFAULTS["score_threshold"])
    for f in faces:  # the order of every face model: left eye in the image first, then right eye, nose, mouth
        assert f.landmarks[0, 0] < f.landmarks[1, 0] and f.landmarks[3, 0] < f.landmarks[4, 0]
        assert f.landmarks[0, 1] < f.landmarks[2, 1] < f.landmarks[3, 1]
    scrfd = cached_model(engine).detect(photos["group_t1.jpg"])
    row = compare_faces(scrfd, faces)  # the licence-clean model finds the same six people as SCRFD
    assert row["matched"] == 6 and row["mean_iou"] > 0.7 and row["landmark_nme"] < 0.1, row


@pytest.mark.parametrize("name", ["yunet_n_dynamic.onnx", "yunet_s_dynamic.onnx"])
def test_dynamic_files_take_any_input_size(name, photos):
    image = photos["group_t1.jpg"]
    for size in (320, (480, 640)):
        model = edgecv.load(YUNET_DIR / name, task="yunet", input_size=size, trust=True)
        hw = (size, size) if isinstance(size, int) else size
        assert model.input_size == hw
        canvas, scale = _letterboxed(model, image)
        ref_boxes, _, _ = _opencv_faces(YUNET_DIR / name, hw, canvas)
        ours = model.detect(image)
        pairs = match_boxes(ref_boxes, ours.boxes * np.tile(scale, 2), 0.5)
        assert len(ours) == len(ref_boxes) == len(pairs) and all(iou >= 0.95 for *_, iou in pairs), size
    with pytest.raises(edgecv.InvalidInputError, match="multiple of the largest stride 32"):
        edgecv.load(YUNET_DIR / name, task="yunet", input_size=330, trust=True)
    with pytest.raises(edgecv.InvalidInputError, match="fixed input size"):
        edgecv.load("yunet_n_640", input_size=320)


def test_shared_face_features_work_unchanged(photos):
    """Head pose, camera frames with rotation, tracking in a stream: no YuNet code outside its package."""
    model = cached_model("onnxruntime", "yunet_n_640")
    upright = photos["group_t1.jpg"][:884]
    posed = model.detect(upright, head_pose=True)
    scrfd = cached_model("onnxruntime").detect(upright, head_pose=True)
    pairs = match_boxes(scrfd.boxes, posed.boxes)
    assert len(pairs) == 6  # yaw from YuNet's landmarks within 10 degrees of SCRFD's, face by face
    assert all(abs(scrfd.head_pose.yaw[i] - posed.head_pose.yaw[j]) < 10 for i, j, _ in pairs)
    frame = cv2.cvtColor(cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE), cv2.COLOR_BGR2YUV_I420)
    turned = model.detect(frame, format="i420", rotation=90)
    assert compare_faces(model.detect(upright), turned.upright())["matched"] == 6
    frames = [np.roll(upright, 8 * k, axis=1) for k in range(12)]
    ids = set()
    for item in model.stream(frames, track=True):
        ids.update(int(t) for t in item.result.track_ids if t >= 0)
    assert 5 <= len(ids) <= 7


def test_converter_assigns_roles_by_shape(tmp_path, photos):
    """Outputs renamed to numbers (as a raw export names them) get their roles back from their shapes."""
    import onnx

    from edgecv.convert import convert

    model = onnx.load(str(YUNET_DIR / "yunet_n_dynamic.onnx"))
    renames = {o.name: str(100 + i) for i, o in enumerate(model.graph.output)}
    for node in model.graph.node:
        node.output[:] = [renames.get(o, o) for o in node.output]
    for o in model.graph.output:
        o.name = renames[o.name]
    raw = tmp_path / "raw.onnx"
    onnx.save(model, str(raw))
    result = convert(raw, "yunet", out_dir=tmp_path / "out", to=["onnxruntime", "ncnn"], input_size=320, trust=True)
    assert result.metadata["outputs"]["strides"] == [8, 16, 32] and result.metadata["outputs"]["landmarks"]
    assert sorted(result.metadata["renamed"].values()) == sorted(f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps")
                                                                for s in (8, 16, 32))
    reference = edgecv.load(YUNET_DIR / "yunet_n_dynamic.onnx", task="yunet", input_size=320, trust=True)
    for engine in ("onnxruntime", "ncnn"):
        converted = edgecv.load(result.files[engine][0], trust=True)
        assert converted.task == "yunet"
        row = compare_faces(reference.detect(photos["group_t1.jpg"]), converted.detect(photos["group_t1.jpg"]))
        assert row["recall"] == row["precision"] == 1.0 and row["min_iou"] > 0.99, (engine, row)


def test_licences_are_data(tmp_path, monkeypatch, caplog):
    from edgecv.store import list_manifests

    manifests = list_manifests()
    assert all(m.licence and m.source.startswith("https://") for m in manifests.values())
    assert manifests["yunet_n_640"].licence == "Apache-2.0" and manifests["yunet_s_640"].licence == "Apache-2.0"
    assert manifests["scrfd_2.5g_bnkps_640"].licence == "non-commercial research only"
    # loading a non-commercial model says so once, at INFO; a licence-clean one says nothing
    with caplog.at_level(logging.INFO, logger="edgecv.loading"):
        edgecv.load("scrfd_500m_bnkps_640", threads=1)
        edgecv.load("yunet_n_640", threads=1)
    lines = [r.message for r in caplog.records if "licence" in r.message]
    assert len(lines) == 1 and "scrfd_500m_bnkps_640" in lines[0] and "non-commercial" in lines[0]
    # files converted on first use keep the licence in their metadata
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    model = edgecv.load("yunet_s_640", engine="mnn", threads=1)
    sidecar = model.engine.files[0].with_name("yunet_s_640.edgecv.json")
    assert json.loads(sidecar.read_text())["licence"] == "Apache-2.0"
    out = run_python("-m", "edgecv", "info")
    assert out.returncode == 0 and "licence" in out.stdout
    line = next(ln for ln in out.stdout.splitlines() if "scrfd_2.5g_bnkps_640" in ln)
    assert "non-commercial" in line


def test_cli_default_model_is_licence_clean(tmp_path):
    out = run_python("-m", "edgecv", "detect", str(SHARED / "images" / "group_t1.jpg"), "--out", str(tmp_path),
                     "--json")
    assert out.returncode == 0, out.stderr[-1000:]
    doc = json.loads(out.stdout)
    assert doc["model"] == "yunet_n_640" and doc["results"][0]["count"] == 6
    assert (tmp_path / "group_t1.jpg").is_file()
