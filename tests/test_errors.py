"""Bad input gets a documented EdgecvError subclass, never a crash or a silent wrong answer."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import ENGINES, SCRFD, SHARED, run_python, run_without_module, cached_model

import edgecv
from edgecv.targets import TARGETS
from edgecv.errors import (EdgecvError, EngineNotInstalledError, ImageReadError, InvalidImageError,
                           InvalidInputError, ModelContractError, ModelLoadError, ModelNotFoundError)

MODEL_DIR = SHARED / "models" / SCRFD
FILES = {"onnxruntime": ["scrfd_2.5g_bnkps_shape640x640.onnx"],
         "ncnn": ["scrfd_2.5g_bnkps_shape640x640.opt.param", "scrfd_2.5g_bnkps_shape640x640.opt.bin"],
         "mnn": ["scrfd_2.5g_bnkps_shape640x640.mnn"],
         "openvino": ["scrfd_2.5g_bnkps_shape640x640.onnx"]}  # OpenVINO reads the ONNX file

BAD_IMAGES = {
    "none": (None, InvalidImageError),
    "empty": (np.zeros((0, 0, 3), np.uint8), InvalidImageError),
    "empty-width": (np.zeros((10, 0, 3), np.uint8), InvalidImageError),
    "float": (np.zeros((64, 64, 3), np.float32), InvalidImageError),
    "gray-2d": (np.zeros((64, 64), np.uint8), InvalidImageError),
    "bgra": (np.zeros((64, 64, 4), np.uint8), InvalidImageError),
    "1-channel-3d": (np.zeros((64, 64, 1), np.uint8), InvalidImageError),
    "list": ([[1, 2, 3]], InvalidImageError),
    "missing-path": ("/nonexistent/photo.jpg", ImageReadError),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_images(engine, case):
    image, error = BAD_IMAGES[case]
    with pytest.raises(error):
        cached_model(engine).detect(image)


def test_unreadable_image_file(tmp_path):
    bad = tmp_path / "not_an_image.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(ImageReadError, match="cannot decode"):
        cached_model("onnxruntime").detect(bad)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError):
        edgecv.read_image(empty)


@pytest.mark.parametrize("name", ["group_t1.jpg", "portrait_tom_hanks.png"])
def test_truncated_image_files_are_refused_not_half_grey(tmp_path, shared, name):
    """Regression: OpenCV decodes a JPEG/PNG cut short (an interrupted copy) with a warning, filling the rest
    with grey; detect() then answered on half a photo."""
    data = (shared / "images" / name).read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(ImageReadError, match="truncated"):
        edgecv.read_image(cut)
    whole = edgecv.read_image(shared / "images" / name)
    assert whole.shape[0] > 100


def test_tiny_and_odd_images_give_a_result():
    model = cached_model("onnxruntime")
    assert len(model.detect(np.zeros((1, 1, 3), np.uint8))) == 0
    assert len(model.detect(np.full((8, 2000, 3), 200, np.uint8))) == 0
    # A non-contiguous view (every other column) works like its copy.
    image = edgecv.read_image(SHARED / "images" / "group_t1.jpg")
    view = image[:, ::2]
    np.testing.assert_array_equal(model.detect(view).boxes, model.detect(view.copy()).boxes)


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_model_file(engine, tmp_path):
    with pytest.raises(ModelNotFoundError):
        edgecv.load(TARGETS[engine].files_for(tmp_path, "missing")[0], engine=engine)


def test_ncnn_param_without_bin(tmp_path):
    shutil.copy(MODEL_DIR / FILES["ncnn"][0], tmp_path / "m.param")
    with pytest.raises(ModelNotFoundError, match="m.bin"):
        edgecv.load(tmp_path / "m.param")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_model_file(engine, damage, tmp_path):
    paths = []
    for name in FILES[engine]:
        data = (MODEL_DIR / name).read_bytes()
        target = tmp_path / name
        if name == FILES[engine][-1]:  # damage the weights (or the only file)
            data = b"\x00garbage" * 64 if damage == "garbage" else data[: len(data) // 3]
        target.write_bytes(data)
        paths.append(target)
    with pytest.raises((ModelLoadError, ModelContractError)):
        model = edgecv.load(paths[0], engine=engine, threads=1)
        # ncnn reads weights lazily per layer size: a short .bin must still be reported, not run.
        model.detect(np.zeros((64, 64, 3), np.uint8))


def test_unknown_names_and_options():
    with pytest.raises(ModelNotFoundError, match="known models"):
        edgecv.load("no_such_model")
    with pytest.raises(InvalidInputError, match="unknown engine"):
        edgecv.load(SCRFD, engine="tensorrt")
    with pytest.raises(InvalidInputError, match="not ncnn"):
        edgecv.load(MODEL_DIR / FILES["mnn"][0], engine="ncnn")
    with pytest.raises(InvalidInputError, match="threads"):
        edgecv.load(SCRFD, threads=0)
    with pytest.raises(ModelNotFoundError, match="no ncnn files"):
        edgecv.load("scrfd_500m_bnkps_640", engine="ncnn")
    with pytest.raises(InvalidInputError, match="unknown model file type"):
        edgecv.load(SHARED / "images" / "group_t1.jpg")


def test_bad_thresholds_are_refused_by_the_core():
    model = cached_model("onnxruntime")
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(InvalidInputError, match="iou_threshold"):
        model.detect(image, iou_threshold=1.5)
    with pytest.raises(InvalidInputError, match="score_threshold"):
        model.detect(image, score_threshold=float("nan"))


@pytest.mark.parametrize("module,extra", [("onnxruntime", "onnxruntime"), ("ncnn", "ncnn"), ("MNN", "mnn")])
def test_missing_engine_package_names_the_extra(module, extra):
    """Run in a subprocess where the engine's package cannot be imported."""
    out = run_without_module(module, f"edgecv.load({SCRFD!r}, engine={extra!r})", "EngineNotInstalledError")
    assert out.returncode == 0, out.stderr
    assert f"OK the '{module}' package is not installed" in out.stdout
    assert f"pip install 'edgecv[{extra}]'" in out.stdout


def test_import_loads_no_engine():
    code = ("import sys, edgecv; edgecv.Faces; "
            "print([m for m in sys.modules if m.split('.')[0] in ('onnxruntime', 'ncnn', 'MNN')])")
    out = run_python("-c", code)
    assert out.stdout.strip() == "[]", out.stderr


def test_error_hierarchy():
    for cls in (InvalidImageError, ImageReadError, ModelNotFoundError, ModelLoadError, ModelContractError,
                EngineNotInstalledError, InvalidInputError):
        assert issubclass(cls, EdgecvError)
    assert issubclass(InvalidInputError, ValueError) and issubclass(ImageReadError, OSError)
