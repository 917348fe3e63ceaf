"""The bad-input matrix of README "Bad input", for every task: each case gives a documented
EdgecvError subclass or a documented, correct result."""

from __future__ import annotations


import numpy as np
import pytest
from conftest import SHARED, cached_model, run_without_module

import edgecv
from edgecv.errors import (InvalidImageError, InvalidInputError, ModelContractError,
                           ModelLoadError)
from edgecv.tasks.mvs import View, load_scene

SCRFD = "scrfd_2.5g_bnkps_640"
POSE = "lightweight_openpose_hpe0001"
MVS = "patchmatchnet_640x416_n5"
BAD_IMAGES = {"None": None, "empty": np.zeros((0, 0, 3), np.uint8), "float": np.zeros((32, 32, 3), np.float32),
              "2-D": np.zeros((32, 32), np.uint8), "4 channels": np.zeros((32, 32, 4), np.uint8),
              "4-D": np.zeros((1, 32, 32, 3), np.uint8)}


def model(name):
    return cached_model("onnxruntime", name)


@pytest.mark.parametrize("name", [SCRFD, POSE])
@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_images_per_task(name, case):
    with pytest.raises(InvalidImageError):
        model(name).detect(BAD_IMAGES[case])


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_images_mvs(case):
    scene = load_scene(SHARED / "data" / "mvs_office_8view")
    views = scene.views_for(0, 5)
    pairs = [(BAD_IMAGES[case], views[0].camera)] + [(v.image, v.camera) for v in views[1:]]
    with pytest.raises(InvalidImageError):
        model(MVS).detect(pairs)


def test_huge_and_tiny_images_give_results():
    huge = np.full((8000, 8000, 3), 90, np.uint8)
    tiny = np.full((8, 8, 3), 90, np.uint8)
    assert len(model(SCRFD).detect(huge)) == 0 and len(model(SCRFD).detect(tiny)) == 0
    assert len(model(POSE).detect(huge)) == 0 and len(model(POSE).detect(tiny)) == 0
    scene = load_scene(SHARED / "data" / "mvs_office_8view")
    views = scene.views_for(0, 5)
    for size in ((8, 8), (4000, 6000)):
        resized = [View(np.full((*size, 3), 120, np.uint8), v.camera.scaled(size)) for v in views]
        depth = model(MVS).detect(resized)  # featureless input: a depth map within the range, no crash
        assert depth.depth.shape == (416, 640) and np.all(np.isfinite(depth.depth))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
@pytest.mark.parametrize("source", ["lightweight_openpose_hpe0001/lightweight_openpose_hpe0001.onnx",
                                    "patchmatchnet_640x416_n5/patchmatchnet_640x416_n5.onnx"])
def test_corrupt_models_per_task(source, damage, tmp_path):
    data = (SHARED / "models" / source).read_bytes()
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x00garbage" * 64 if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(ModelLoadError):
        edgecv.load(bad)


@pytest.mark.parametrize("name,task", [(SCRFD, "openpose"), (SCRFD, "mvs"), (POSE, "scrfd"), (POSE, "mvs"),
                                       (MVS, "scrfd"), (MVS, "openpose")])
def test_wrong_task_model(name, task):
    with pytest.raises(ModelContractError):
        edgecv.load(name, task=task)


@pytest.mark.parametrize("name,module,extra", [(POSE, "MNN", "mnn"), (MVS, "onnxruntime", "onnxruntime"),
                                               (MVS, "ncnn", "ncnn")])
def test_missing_engine_package_per_task(name, module, extra):
    engine = {"MNN": "mnn", "onnxruntime": "onnxruntime", "ncnn": "ncnn"}[module]
    out = run_without_module(module, f"edgecv.load({name!r}, engine={engine!r})", "EngineNotInstalledError")
    assert out.returncode == 0 and f"pip install 'edgecv[{extra}]'" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("landmarks", [None, [], "abc", np.zeros((5, 3)), np.zeros((2, 5, 2, 1)),
                                       np.full((5, 2), np.inf), [[1, 2]] * 5])
def test_head_pose_bad_landmarks(landmarks):
    with pytest.raises(InvalidInputError):
        edgecv.head_pose(landmarks, (480, 640))


def test_head_pose_needs_landmarks(tmp_path, photos):
    import onnx

    src = onnx.load(str(SHARED / "models" / "scrfd_500m_bnkps_640" / "scrfd_500m_bnkps.onnx"))
    keep = [o for o in src.graph.output if not o.name.startswith("kps")]
    del src.graph.output[:]
    src.graph.output.extend(keep)
    onnx.save(src, str(tmp_path / "nokps.onnx"))
    with pytest.raises(InvalidInputError, match="landmarks"):
        edgecv.load(tmp_path / "nokps.onnx").detect(photos["group_t1.jpg"], head_pose=True)


def _layouts(image):
    """Views numpy can produce of an image, each (H, W, 3) uint8 but not C-contiguous."""
    return {"step-crop": image[::2, ::2][:640, :640], "fortran": np.asfortranarray(image[:640, :640]),
            "flipped": image[:, ::-1][:640, :640], "channel-view": np.dstack([image[..., 0], image[..., 1],
                                                                                 image[..., 2]])[:640, :640],
            "from-bgra": np.ascontiguousarray(np.dstack([image, image[..., :1]]))[:640, :640, :3]}


@pytest.mark.parametrize("layout", ["step-crop", "fortran", "flipped", "channel-view", "from-bgra"])
def test_any_numpy_layout_of_the_input_size_works(layout, photos):
    """Regression: a non-contiguous view of exactly the model input size raised InvalidInputError."""
    big = np.ascontiguousarray(np.tile(photos["group_t1.jpg"], (2, 2, 1)))
    view = _layouts(big)[layout]
    assert view.shape == (640, 640, 3) and not view.flags.c_contiguous
    faces = model(SCRFD).detect(view)
    same = model(SCRFD).detect(np.ascontiguousarray(view))
    assert len(faces) >= 1
    np.testing.assert_array_equal(faces.boxes, same.boxes)
    poses = model(POSE).detect(view)
    np.testing.assert_array_equal(poses.keypoints, model(POSE).detect(np.ascontiguousarray(view)).keypoints)
