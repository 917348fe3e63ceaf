"""Multi-view stereo: real PatchmatchNet depth on all engines, MVSNet I/O, consistency and fusion,
a synthetic scene with known depth, bad inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import SHARED, run_python

import edgecv
from edgecv.native import core as _core
from edgecv.convert import convert
from edgecv.errors import ImageReadError, InvalidInputError, SceneError
from edgecv.tasks.mvs import (FusionParams, MvsCamera, View, filter_depth, fuse, load_scene, read_cam_file,
                              read_pair_file, relative_projections)

SCENE = SHARED / "data" / "mvs_office_8view"
MODEL_DIR = SHARED / "models" / "patchmatchnet_640x416_n5"
EXPECTED = MODEL_DIR / "expected_ref0_depth_ort.npy"
NAME = "patchmatchnet_640x416_n5"


@pytest.fixture(scope="module")
def scene():
    return load_scene(SCENE)


@pytest.fixture(scope="module")
def ort_ref0(scene):
    return edgecv.load(NAME, threads=2).detect(scene, ref=0)


@pytest.fixture(scope="module")
def mnn_maps(scene, module_cache):
    model = edgecv.load(NAME, engine="mnn", threads=2)
    return {v: model.detect(scene, ref=v) for v in scene.views}


def _within_one_percent(depth, reference):
    rel = np.abs(depth - reference) / reference
    return float((rel <= 0.01).mean())


def test_preprocessing_matches_the_reference_depth(ort_ref0):
    expected = np.load(EXPECTED)
    assert ort_ref0.depth.shape == expected.shape == (416, 640)
    assert np.abs(ort_ref0.depth - expected).max() / expected.min() <= 1e-3
    assert (np.abs(ort_ref0.depth - expected) / expected).max() <= 1e-3
    assert ort_ref0.confidence.shape == (416, 640) and 0 <= ort_ref0.confidence.min() <= ort_ref0.confidence.max() <= 1


def test_contract_b_on_onnxruntime(scene, ort_ref0):
    model = edgecv.load(MODEL_DIR / "patchmatchnet_portable_640x416_n5.onnx", threads=2)
    assert model.contract == "B" and model.num_views == 5 and model.size == (416, 640)
    assert _within_one_percent(model.detect(scene, ref=0).depth, ort_ref0.depth) >= 0.999


def test_mnn_contract_a_and_ncnn_contract_b_by_name(scene, ort_ref0, mnn_maps, module_cache):
    mnn = edgecv.load(NAME, engine="mnn", threads=2)
    assert mnn.contract == "A"
    assert _within_one_percent(mnn_maps[0].depth, ort_ref0.depth) >= 0.999
    ncnn = edgecv.load(NAME, engine="ncnn", threads=2)
    assert ncnn.contract == "B" and ncnn.engine.fp16 is False
    assert _within_one_percent(ncnn.detect(scene, ref=0).depth, ort_ref0.depth) >= 0.999


def test_mnn_contract_b_converted_by_path(scene, ort_ref0, tmp_path):
    result = convert(MODEL_DIR / "patchmatchnet_portable_640x416_n5.onnx", "mvs", out_dir=tmp_path, to=["mnn"])
    model = edgecv.load(result.files["mnn"][0], threads=2)
    assert model.contract == "B" and model.task == "mvs"
    assert _within_one_percent(model.detect(scene, ref=0).depth, ort_ref0.depth) >= 0.999


def test_quality_geometric_consistency(mnn_maps, scene):
    ref = mnn_maps[0]
    others = [(m.depth, m.camera.K, m.camera.extrinsic) for v, m in mnn_maps.items() if v != 0]
    _, counts, _ = _core.check_consistency(ref.depth, ref.camera.K, ref.camera.extrinsic, others, None, 1.0, 0.01, 1)
    share = float((counts >= 1).mean())
    assert share >= 0.55, share


def test_fusion_and_ply(mnn_maps, scene, tmp_path):
    result = fuse(mnn_maps, scene.pairs)
    assert 100_000 < len(result.xyz) < 2_000_000
    edgecv.write_ply(tmp_path / "fused.ply", result.xyz, result.rgb)
    xyz, rgb = edgecv.read_ply(tmp_path / "fused.ply")
    np.testing.assert_array_equal(xyz, result.xyz)
    np.testing.assert_array_equal(rgb, result.rgb)
    for view, dm in mnn_maps.items():  # every point lies in its view's frustum and depth range
        pts = result.xyz[result.view_ids == view].astype(np.float64)
        cam = pts @ dm.camera.extrinsic[:3, :3].T + dm.camera.extrinsic[:3, 3]
        uv = cam @ dm.camera.K.T
        u, v = uv[:, 0] / uv[:, 2], uv[:, 1] / uv[:, 2]
        assert np.all((u > -0.5) & (u < 639.5) & (v > -0.5) & (v < 415.5))
        assert np.all((cam[:, 2] >= dm.camera.depth_min * 0.99) & (cam[:, 2] <= dm.camera.depth_max * 1.01))
        assert result.masks[view].sum() == len(pts)


def test_depth_map_api(ort_ref0, tmp_path):
    for suffix in (".npy", ".pfm"):
        ort_ref0.save(tmp_path / f"d{suffix}")
        np.testing.assert_array_equal(edgecv.read_depth(tmp_path / f"d{suffix}"), ort_ref0.depth)
    drawn = ort_ref0.draw()
    assert drawn.shape == (416, 1280, 3)
    xyz, rgb = ort_ref0.to_points(mask=ort_ref0.confidence > 0.7)
    assert xyz.shape == rgb.shape and len(xyz) == int((ort_ref0.confidence > 0.7).sum())
    # the first point is pixel (0, 0) when it is kept: its ray through K^-1 at its depth, in world coordinates
    if ort_ref0.confidence[0, 0] > 0.7:
        cam = np.linalg.inv(ort_ref0.camera.K) @ np.array([0.0, 0.0, 1.0]) * ort_ref0.depth[0, 0]
        E = ort_ref0.camera.extrinsic
        np.testing.assert_allclose(xyz[0], E[:3, :3].T @ (cam - E[:3, 3]), atol=1e-3)
    assert ort_ref0.to_dict()["valid_pixels"] == 416 * 640


def test_cli_mvs(tmp_path, module_cache):
    out = run_python("-m", "edgecv", "mvs", str(SCENE), "--engine", "mnn", "--threads", "2", "--refs", "0,1,4",
                     "--out", str(tmp_path), "--json", timeout=600)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert [v["view"] for v in summary["views"]] == [0, 1, 4] and summary["points"] > 10_000
    assert "3/3" in out.stderr and "view 4" in out.stderr  # progress bar
    for name in ("00000000.npy", "00000000.pfm", "00000000.png", "00000004_mask.png"):
        assert (tmp_path / "depth" / name).is_file()
    xyz, rgb = edgecv.read_ply(tmp_path / "fused.ply")
    assert len(xyz) == summary["points"] and rgb is not None


def test_cli_mvs_one_reference_view_gets_a_filtered_depth_map(tmp_path, module_cache):
    """Regression: `edgecv mvs SCENE --refs 7` computed for seconds, then failed with "no source view with
    a depth map"; now the best pair.txt sources that filtering needs are computed too."""
    out = run_python("-m", "edgecv", "mvs", str(SCENE), "--engine", "mnn", "--threads", "2", "--refs", "7",
                     "--out", str(tmp_path), "--json", timeout=600)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert [v["view"] for v in summary["views"]] == [7] and summary["helper_views"] == [0, 2]
    assert 0.1 < summary["views"][0]["kept_share"] < 0.9 and summary["points"] > 10_000  # 18.5 % with 2 sources
    assert (tmp_path / "depth" / "00000007_mask.png").is_file() and not (tmp_path / "depth" / "00000000.npy").exists()


def test_validate_depth_maps_between_contracts(tmp_path):
    """Regression: `edgecv validate` on a PatchmatchNet model crashed; depth maps are now compared per pixel."""
    files = [MODEL_DIR / "patchmatchnet_640x416_n5.onnx", MODEL_DIR / "patchmatchnet_portable_640x416_n5.onnx"]
    out = run_python("-m", "edgecv", "validate", *map(str, files), "--scene", str(SCENE), "--refs", "0", "--json",
                     timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["task"] == "mvs" and report["passed"]
    row = report["tasks"][0]
    assert row["input"] == "view 0" and row["depth_agreement"] >= 0.999 and row["pixels"] == 416 * 640
    strict = run_python("-m", "edgecv", "validate", *map(str, files), "--scene", str(SCENE), "--min-depth-agreement",
                        "1.01", timeout=600)
    assert strict.returncode == 1 and "depth_agreement" in strict.stdout
    wrong = run_python("-m", "edgecv", "validate", *map(str, files),
                       "--images", str(SHARED / "images" / "group_t1.jpg"))
    assert wrong.returncode == 2 and "--scene" in wrong.stderr and "Traceback" not in wrong.stderr


# -- I/O, geometry on a synthetic scene, bad inputs ------------------------------------------------------
def test_cam_file_variants(tmp_path):
    base = (SCENE / "cams" / "00000000_cam.txt").read_text().strip().splitlines()[:-1]
    for line, fmt, expected in [("4.336407 8.482101", "auto", (4.336407, 8.482101)),
                                ("425.0 2.5", "interval", (425.0, 425.0 + 2.5 * 191)),
                                ("425.0 2.5 100", "auto", (425.0, 425.0 + 2.5 * 99)),
                                ("425.0 2.5 192 935.5", "auto", (425.0, 935.5))]:
        path = tmp_path / "cam.txt"
        path.write_text("\n".join(base + [line]) + "\n")
        cam = read_cam_file(path, size=(796, 1200), depth_format=fmt)
        assert (cam.depth_min, cam.depth_max) == pytest.approx(expected)
    # Regression: a DEPTH_MIN DEPTH_MAX line with min > max silently became an interval.
    path.write_text("\n".join(base + ["837 8.5"]) + "\n")
    with pytest.raises(SceneError, match="ambiguous"):
        read_cam_file(path)
    assert read_pair_file(SCENE / "pair.txt")[0] == [4, 1, 3, 7, 5, 6, 2]


def test_camera_scaling_and_relative_projections(scene):
    cams = [scene.cameras[v].scaled((416, 640)) for v in [0] + scene.sources(0, 4)]
    assert cams[0].K[0, 0] == pytest.approx(scene.cameras[0].K[0, 0] * 640 / 1200)
    assert cams[0].K[1, 2] == pytest.approx(scene.cameras[0].K[1, 2] * 416 / 796)
    rel = relative_projections(cams)
    assert rel.shape == (1, 12, 3, 4)
    # rel_proj maps a reference pixel (at stage scale s) with depth d to the source pixel.
    x_ref, d = np.array([200.0, 150.0]), 6.0
    cam_pt = d * np.linalg.inv(cams[0].K) @ np.array([*x_ref, 1.0])
    world = np.linalg.inv(cams[0].extrinsic) @ np.append(cam_pt, 1.0)
    for k, s in enumerate((1 / 8, 1 / 4, 1 / 2)):
        for i in range(1, 5):
            expected = cams[i].K @ (cams[i].extrinsic @ world)[:3]
            expected = expected[:2] / expected[2] * s
            p = rel[0, k * 4 + i - 1].astype(np.float64) @ np.array([x_ref[0] * s * d, x_ref[1] * s * d, d, 1.0])
            np.testing.assert_allclose(p[:2] / p[2], expected, rtol=1e-4)


def _plane_view(centre, f=300.0, size=(120, 160), tilt=0.0):
    """Camera at `centre` looking along +z (rotated by `tilt` about y) at the plane z = 4 + 0.2 x."""
    h, w = size
    c, s = np.cos(tilt), np.sin(tilt)
    R = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])
    E = np.eye(4)
    E[:3, :3] = R
    E[:3, 3] = -R @ np.asarray(centre, float)
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    rays = np.stack([xs, ys, np.ones_like(xs)], -1) @ np.linalg.inv(K).T @ R  # world directions
    o = np.asarray(centre, float)
    # plane z - 0.2 x = 4: t = (4 - o_z + 0.2 o_x) / (r_z - 0.2 r_x); depth = t (camera z of the ray is 1)
    t = (4 - o[2] + 0.2 * o[0]) / (rays[..., 2] - 0.2 * rays[..., 0])
    image = np.zeros((h, w, 3), np.uint8)
    world = o + rays * t[..., None]
    image[..., 1] = (np.sin(world[..., 0] * 20) * 120 + 128).astype(np.uint8)  # texture on the plane
    cam = MvsCamera(K=K, extrinsic=E, depth_min=2.0, depth_max=8.0, size=(h, w))
    return edgecv.DepthMap(depth=t.astype(np.float32), confidence=np.ones((h, w), np.float32), camera=cam, image=image)


def test_synthetic_scene_geometry():
    views = {0: _plane_view([0, 0, 0]), 1: _plane_view([0.3, 0, 0], tilt=0.05),
             2: _plane_view([-0.3, 0.1, 0], tilt=-0.05)}
    pairs = {0: [1, 2], 1: [0, 2], 2: [0, 1]}
    mask, counts, fused = filter_depth(views[0], [views[1], views[2]], FusionParams(min_views=2))
    # Expected: the reference pixels whose plane point both sources see (projected analytically).
    ref = views[0]
    h, w = ref.depth.shape
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    pts = (np.stack([xs, ys, np.ones_like(xs)], -1) @ np.linalg.inv(ref.camera.K).T) * ref.depth[..., None]
    seen = np.ones((h, w), bool)
    for src in (views[1], views[2]):
        cam = pts @ src.camera.extrinsic[:3, :3].T + src.camera.extrinsic[:3, 3]
        uv = cam @ src.camera.K.T
        u, v = uv[..., 0] / uv[..., 2], uv[..., 1] / uv[..., 2]
        seen &= (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
    assert 0.3 < seen.mean() < 0.9
    assert (mask != seen).mean() < 0.01  # disagreements only along the visibility border
    np.testing.assert_allclose(fused[mask], views[0].depth[mask], rtol=1e-4)
    # A wrong patch (5 % too far) is rejected; the rest stays.
    wrong = _plane_view([0, 0, 0])
    wrong.depth[40:60, 60:90] *= 1.05
    bad_mask, bad_counts, _ = filter_depth(wrong, [views[1], views[2]], FusionParams(min_views=1))
    assert not bad_mask[40:60, 60:90].any() and bad_mask[80:100, 60:90].all()
    result = fuse(views, pairs)
    x, y, z = result.xyz.T.astype(np.float64)
    np.testing.assert_allclose(z - 0.2 * x, 4.0, atol=1e-3)  # every fused point is on the plane
    assert len(result.xyz) == sum(int(m.sum()) for m in result.masks.values()) > 0.3 * 3 * 120 * 160
    assert set(np.unique(result.view_ids)) == {0, 1, 2}


def test_bad_inputs(scene, tmp_path, module_cache):
    model = edgecv.load(NAME, threads=1)
    with pytest.raises(InvalidInputError, match="takes 5 views"):
        model.detect(scene.views_for(0, 4))
    with pytest.raises(InvalidInputError, match="ref="):
        model.detect(scene)
    with pytest.raises(SceneError, match="scene folder not found"):
        load_scene(tmp_path / "nowhere")
    broken = tmp_path / "scene"
    shutil.copytree(SCENE, broken)
    (broken / "cams" / "00000003_cam.txt").unlink()
    with pytest.raises(SceneError, match=r"views without cam files: \[3\]"):
        load_scene(broken)
    shutil.copy(SCENE / "cams" / "00000003_cam.txt", broken / "cams" / "00000003_cam.txt")
    (broken / "images" / "00000004.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(SceneError, match="cannot decode"):  # when the scene is loaded, before any inference
        load_scene(broken)
    cam = scene.cameras[0]
    with pytest.raises(InvalidInputError, match="depth_min < depth_max"):
        MvsCamera(K=cam.K, extrinsic=cam.extrinsic, depth_min=8.0, depth_max=4.0, size=cam.size)
    lines = (SCENE / "cams" / "00000000_cam.txt").read_text().strip().splitlines()
    (tmp_path / "bad_cam.txt").write_text("\n".join(lines[:-1] + ["8.4 4.3 0"]) + "\n")
    with pytest.raises(SceneError, match="N an integer"):
        read_cam_file(tmp_path / "bad_cam.txt")
    (tmp_path / "short_cam.txt").write_text("extrinsic\n1 0 0\n")
    with pytest.raises(SceneError, match="malformed"):
        read_cam_file(tmp_path / "short_cam.txt")
    views = scene.views_for(0, 5)
    views[2] = View(views[2].image[:100], views[2].camera)
    with pytest.raises(InvalidInputError, match="does not match its camera"):
        model.detect(views)
    d = np.ones((4, 4), np.float32)
    with pytest.raises(InvalidInputError, match="float64"):
        _core.check_consistency(d, np.eye(3, dtype=np.float32), np.eye(4), [(d, np.eye(3), np.eye(4))])
    with pytest.raises(InvalidInputError, match="min_views"):
        _core.check_consistency(d, np.eye(3), np.eye(4), [(d, np.eye(3), np.eye(4))], min_views=3)
    with pytest.raises(InvalidInputError, match="source 0"):
        _core.check_consistency(d, np.eye(3), np.eye(4), [(d, np.eye(3), np.zeros((4, 4)))])


def _scene_copy(tmp_path):
    copy = tmp_path / "scene"
    shutil.copytree(SCENE, copy)
    return copy


def _edit_cam(scene_dir, view, edit):
    path = scene_dir / "cams" / f"{view:08d}_cam.txt"
    path.write_text(edit(path.read_text()))


@pytest.mark.parametrize("case,match", [
    ("zero extrinsic", "last row must be 0 0 0 1"), ("zero intrinsics", "positive fx"),
    ("swapped depth range", "ambiguous"),
    ("pair duplicate source", "source twice"),
    ("pair trailing tokens", "extra tokens"), ("pair unknown view", "without cam files"),
    ("duplicate cam index", "two cam files for view 3"), ("non-numeric cam name", "named <view number>_cam.txt"),
    ("bad utf-8 cam", "UTF-8"), ("resized image", "resized without its cam file"),
])
def test_scene_checks_before_inference(case, match, tmp_path):
    """Regression: these scenes were used as they were (wrong depth, fewer points) or failed mid-run."""
    import cv2

    d = _scene_copy(tmp_path)
    pair = (d / "pair.txt").read_text().split("\n")
    if case == "zero extrinsic":
        _edit_cam(d, 2, lambda t: "extrinsic\n" + "0 0 0 0\n" * 4 + t.split("\n", 5)[5])
    elif case == "zero intrinsics":
        _edit_cam(d, 2, lambda t: t.replace(t.split("intrinsic\n")[1].split("\n")[0], "0 0 0"))
    elif case == "swapped depth range":
        _edit_cam(d, 1, lambda t: t.strip().rsplit("\n", 1)[0] + "\n8.48 4.33\n")
    elif case == "pair duplicate source":
        pair[2] = "7 4 4371.5 4 3560.6 3 3388.2 7 2841.6 5 2194.7 6 1225.7 2 0.6"
    elif case == "pair trailing tokens":
        pair.append("9 9 9")
    elif case == "pair unknown view":
        pair[2] = "7 4 4371.5 1 3560.6 3 3388.2 7 2841.6 5 2194.7 6 1225.7 42 0.6"
    elif case == "duplicate cam index":
        shutil.copy(d / "cams" / "00000003_cam.txt", d / "cams" / "3_cam.txt")
    elif case == "non-numeric cam name":
        shutil.copy(d / "cams" / "00000003_cam.txt", d / "cams" / "left_cam.txt")
    elif case == "bad utf-8 cam":
        (d / "cams" / "00000005_cam.txt").write_bytes(b"extrinsic\n\xff\xfe\x00 1 0 0\n")
    elif case == "resized image":
        image = cv2.imread(str(d / "images" / "00000002.jpg"))
        cv2.imwrite(str(d / "images" / "00000002.jpg"), cv2.resize(image, None, fx=0.5, fy=0.5))
    (d / "pair.txt").write_text("\n".join(pair))
    with pytest.raises(SceneError, match=match):
        load_scene(d)
    out = run_python("-m", "edgecv", "mvs", str(d), "--out", str(tmp_path / "out"), "--engine", "mnn")
    # no progress bar: no inference
    assert out.returncode == 2 and "Traceback" not in out.stderr and "[#" not in out.stderr


def test_resized_scene_with_scaled_intrinsics(tmp_path, mnn_maps, module_cache):
    """--scale-intrinsics: an image resized without its cam file gets its camera scaled, and the same depth."""
    import cv2

    d = _scene_copy(tmp_path)
    for view in range(8):
        path = d / "images" / f"{view:08d}.jpg"
        cv2.imwrite(str(path), cv2.resize(cv2.imread(str(path)), (640, 424), interpolation=cv2.INTER_AREA))
    with pytest.raises(SceneError, match="resized"):
        load_scene(d)
    scene = load_scene(d, scale_intrinsics=True)
    assert scene.cameras[0].size == (424, 640)
    assert scene.cameras[0].K[0, 0] == pytest.approx(load_scene(SCENE).cameras[0].K[0, 0] * 640 / 1200, rel=1e-3)
    depth = edgecv.load(NAME, engine="mnn", threads=2).detect(scene, ref=0).depth
    assert _within_one_percent(depth, mnn_maps[0].depth) > 0.8


def test_read_depth_and_ply_refuse_missing_and_garbage(tmp_path):
    with pytest.raises(ImageReadError):
        edgecv.read_depth(tmp_path / "missing.pfm")
    for name, data in (("g.pfm", b"Pf\n100000 100000\n-1.0\n" + b"\0" * 16), ("h.pfm", b"garbage"),
                       ("i.npy", b"\x93NUMPY garbage"), ("p.ply", b"ply\nformat ascii 1.0\nend_header\n")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InvalidInputError):
            (edgecv.read_ply if name.endswith(".ply") else edgecv.read_depth)(tmp_path / name)


def test_pair_entries_listing_the_reference_or_score_zero_are_dropped(tmp_path, caplog):
    """Tools that list every view write the reference itself (score 0) among its sources: dropped with a warning."""
    from edgecv.tasks.mvs import read_pair_file

    d = _scene_copy(tmp_path)
    pair = (d / "pair.txt").read_text().split("\n")
    pair[2] = "8 0 0 4 4371.5 1 3560.6 3 3388.2 7 2841.6 5 2194.7 6 1225.7 2 0.0"
    (d / "pair.txt").write_text("\n".join(pair))
    with caplog.at_level("WARNING"):
        pairs = read_pair_file(d / "pair.txt")
    assert pairs[0] == [4, 1, 3, 7, 5, 6]
    assert "dropped self-references" in caplog.text
