"""SCRFD end to end on real models and photos, on all three engines."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ENGINES, PHOTOS, SCRFD, cached_model

import edgecv
from edgecv.tasks.faces.compare import compare_faces
from edgecv.tasks.scrfd.model import ScrfdModel

DEFAULTS = {o.name: o.default for o in ScrfdModel.options}
DEFAULT_SCORE_THRESHOLD, DEFAULT_IOU_THRESHOLD = DEFAULTS["score_threshold"], DEFAULTS["iou_threshold"]

# Faces with score >= 0.5 that SCRFD-2.5G must find (counted by eye on the photos; small
# background faces below the default threshold are not required).
MIN_FACES = {"group_t1.jpg": 6, "street_1.jpg": 2, "street_4.jpg": 5, "street_6.jpg": 7,
             "street_9.jpg": 5, "street_12.jpg": 5}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("photo", PHOTOS)
def test_faces_found(engine, photo, photos):
    image = photos[photo]
    faces = cached_model(engine).detect(image)
    assert MIN_FACES[photo] <= len(faces) <= MIN_FACES[photo] + 3
    assert faces.boxes.shape == (len(faces), 4) and faces.boxes.dtype == np.float32
    assert faces.landmarks.shape == (len(faces), 5, 2)
    assert np.all(np.diff(faces.scores) <= 0), "sorted by score"
    assert np.all(faces.scores >= DEFAULT_SCORE_THRESHOLD)
    h, w = image.shape[:2]
    assert np.all(faces.boxes[:, [0, 2]] <= w) and np.all(faces.boxes[:, [1, 3]] <= h)
    assert np.all(faces.boxes[:, 2] > faces.boxes[:, 0]) and np.all(faces.boxes[:, 3] > faces.boxes[:, 1])
    # Landmarks lie in their face box; the left-in-image eye is left of the right eye.
    for f in faces:
        x1, y1, x2, y2 = f.box
        assert np.all((f.landmarks[:, 0] >= x1 - 2) & (f.landmarks[:, 0] <= x2 + 2))
        assert np.all((f.landmarks[:, 1] >= y1 - 2) & (f.landmarks[:, 1] <= y2 + 2))
        assert f.landmarks[0, 0] < f.landmarks[1, 0]


# Face centres in group_t1.jpg (1280x886), checked by eye on the annotated photo.
GROUP_FACE_CENTRES = [(796, 410), (519, 340), (114, 330), (1178, 335), (959, 129), (320, 206)]


@pytest.mark.parametrize("engine", ENGINES)
def test_group_photo_faces_are_the_six_people(engine, photos):
    faces = cached_model(engine).detect(photos["group_t1.jpg"])
    assert len(faces) == 6
    centres = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2
    for expected in GROUP_FACE_CENTRES:
        assert np.linalg.norm(centres - np.array(expected), axis=1).min() < 15, expected
    sizes = faces.boxes[:, 2] - faces.boxes[:, 0]
    assert sizes.min() > 80 and sizes.max() < 130  # frontal faces of similar size


@pytest.mark.parametrize("engine", ["ncnn", "mnn"])
@pytest.mark.parametrize("photo", PHOTOS)
def test_engines_agree_with_onnxruntime(engine, photo, photos):
    """lite.ai.toolkit's ncnn and MNN conversions give the ONNX model's faces."""
    ref = cached_model("onnxruntime").detect(photos[photo])
    got = cached_model(engine).detect(photos[photo])
    row = compare_faces(ref, got)
    assert row["missing"] == row["extra"] == 0 and row["min_iou"] >= 0.98 and row["matched"] == len(ref) > 0, \
        f"{engine} vs ORT on {photo}"
    assert row["max_landmark_px"] <= 1.0
    assert row["max_score_diff"] < 1e-3


def test_preprocess_matches_numpy_letterbox(photos):
    import cv2

    model = cached_model("onnxruntime")
    image = photos["street_4.jpg"]  # 1500 x 895 -> 640 x 382
    prepared = model.prepare(image)
    blob, (sx, sy) = prepared.feeds["input.1"], prepared.context["scale"]
    assert blob.shape == (1, 3, 640, 640) and blob.dtype == np.float32
    nh, nw = round(895 * 640 / 1500), 640
    assert (sx, sy) == pytest.approx((nw / 1500, nh / 895))
    resized = cv2.resize(image, (nw, nh))
    expected = np.full((3, 640, 640), -127.5 / 128, np.float32)
    expected[:, :nh, :nw] = (resized[..., ::-1].transpose(2, 0, 1).astype(np.float32) - 127.5) / 128
    np.testing.assert_allclose(blob[0], expected, atol=1e-6)


def test_500m_model_and_thresholds(photos):
    model = cached_model("onnxruntime", "scrfd_500m_bnkps_640")
    faces = model.detect(photos["group_t1.jpg"])
    assert len(faces) == 6
    assert len(model.detect(photos["group_t1.jpg"], max_faces=2)) == 2
    assert len(model.detect(photos["group_t1.jpg"], score_threshold=0.99)) == 0
    many = model.detect(photos["street_6.jpg"], score_threshold=0.2)
    assert len(many) > len(model.detect(photos["street_6.jpg"]))


def test_result_api(photos):
    image = photos["group_t1.jpg"]
    faces = cached_model("onnxruntime").detect(image)
    items = list(faces)
    assert len(items) == len(faces) == 6
    assert items[0].score == pytest.approx(float(faces.scores[0]))
    d = faces.to_dict()
    assert d["count"] == 6 and len(d["faces"][0]["landmarks"]) == 5 and len(d["faces"][0]["box"]) == 4
    drawn = faces.draw(image)
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)
    assert np.array_equal(image, photos["group_t1.jpg"]), "draw() copies by default"
    # The path form of detect() gives the same result as the array form.
    again = cached_model("onnxruntime").detect(str(edgecv.__file__ and _photo_path("group_t1.jpg")))
    np.testing.assert_array_equal(again.boxes, faces.boxes)


def _photo_path(name):
    from conftest import SHARED

    return SHARED / "images" / name


def test_direct_paths_load_every_engine(shared, photos):
    d = shared / "models" / SCRFD
    paths = {"onnxruntime": d / "scrfd_2.5g_bnkps_shape640x640.onnx",
             "ncnn": d / "scrfd_2.5g_bnkps_shape640x640.opt.param",
             "mnn": d / "scrfd_2.5g_bnkps_shape640x640.mnn"}
    ref = cached_model("onnxruntime").detect(photos["street_12.jpg"])
    for engine, path in paths.items():
        model = edgecv.load(path, threads=1)
        assert model.engine.name == engine and model.input_size == (640, 640)
        row = compare_faces(ref, model.detect(photos["street_12.jpg"]))
        assert row["matched"] == len(ref) == row["other"] and row["min_iou"] >= 0.98


@pytest.mark.parametrize("engine", ["ncnn", "mnn"])
def test_fixed_size_files_refuse_another_input_size_at_load(engine):
    """Regression: input_size=320 on the ncnn file (fixed reshapes) failed late, in decode."""
    with pytest.raises((edgecv.ModelContractError, edgecv.InvalidInputError), match="fixed"):
        edgecv.load(SCRFD, engine=engine, threads=1, input_size=320)
