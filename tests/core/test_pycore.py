"""The pure-Python core (edgecv._pycore) against the compiled one (edgecv._core), entry point by entry point, on
real engine outputs of real photos, a real clip and a real scene: the same faces (boxes within 0.5 px, identical
counts), people (keypoints within 1 px, identical grouping), head-pose angles (within 0.5 degrees), track ids
(identical), depth filtering and fused points, frames in every format; and the same errors for bad arguments.

Every task also runs end to end on the Python core: tools/run_tests.sh runs the task tests a second time with
EDGECV_CORE=python."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import PHOTOS, REPO, SCRFD, SHARED, cached_model, run_python

from edgecv import _core as native
from edgecv import _pycore as python
from edgecv.errors import InvalidInputError


@pytest.mark.parametrize("name", [SCRFD, "scrfd_500m_bnkps_640", "yunet_n_640"])
def test_face_decoding_agrees(name, photos):
    model = cached_model("onnxruntime", name)
    total = 0
    for photo in PHOTOS:
        prepared = model.prepare(photos[photo])
        outputs = model.infer(prepared)
        for threshold in (model.settings["score_threshold"], 0.2):  # 0.2: many candidates, NMS at work
            options = {**prepared.options, "score_threshold": threshold, "pre_nms_top_k": 50}
            a = model._decode(outputs, options, prepared.context["scale"], prepared.context["image_hw"][::-1])
            model_core, decode = _decoder(model)
            b = decode(outputs, options, prepared)
            assert len(a[0]) == len(b[0]), (photo, threshold)
            assert np.abs(a[0] - b[0]).max(initial=0) <= 0.5 and np.abs(a[2] - b[2]).max(initial=0) <= 0.5
            assert np.allclose(a[1], b[1], atol=1e-6)
            total += len(a[0])
    assert total > 40


def _decoder(model):
    """The model's own decode call with the Python core's function in place of the compiled one."""
    def decode(outputs, o, prepared):
        scale, wh = prepared.context["scale"], prepared.context["image_hw"][::-1]
        size = (model.input_size[1], model.input_size[0])
        if model.task == "yunet":
            from edgecv.tasks.faces.detector import rows
            levels = [(s, rows(outputs[c], 1, c), rows(outputs[ob], 1, ob), rows(outputs[bx], 4, bx),
                       rows(outputs[k], 10, k)) for s, c, ob, bx, k in model._levels]
            return python.decode_yunet(levels, size, o["score_threshold"], o["iou_threshold"], o["pre_nms_top_k"],
                                       o["max_faces"], scale, wh)
        from edgecv.tasks.faces.detector import rows
        levels = [(s, rows(outputs[sn], 1, sn), rows(outputs[bn], 4, bn), rows(outputs[kn], 10, kn))
                  for s, sn, bn, kn in model._levels]
        return python.decode_scrfd(levels, size, model.num_anchors, o["score_threshold"], o["iou_threshold"],
                                   o["pre_nms_top_k"], o["max_faces"], scale, wh)
    return model, decode


def test_decoding_edge_cases_agree():
    rng = np.random.default_rng(3)
    size = (64, 32)  # (W, H)
    levels_s, levels_y = [], []
    for s in (8, 16, 32):
        rows = -(-32 // s) * -(-64 // s)
        score = rng.uniform(0, 1, (rows * 2, 1)).astype(np.float32)
        score[::7] = np.nan
        boxes = rng.uniform(0, 3, (rows * 2, 4)).astype(np.float32)
        boxes[::11, 2] = np.inf
        kps = rng.uniform(-2, 2, (rows * 2, 10)).astype(np.float32)
        levels_s.append((s, score, boxes, kps))
        cls, obj = rng.uniform(-0.2, 1.2, (rows, 1)).astype(np.float32), rng.uniform(0, 1, (rows, 1)).astype(np.float32)
        yboxes = rng.uniform(-1, 3, (rows, 4)).astype(np.float32)
        yboxes[::5, 3] = 100.0  # exp overflows
        levels_y.append((s, cls, obj, yboxes, kps[:rows]))
    for core_a, core_b in [(native, python)]:
        for top_k in (0, 3, 5000):
            a = core_a.decode_scrfd(levels_s, size, 2, 0.3, 0.4, top_k, 20, (0.5, 2.0), (100.0, 20.0))
            b = core_b.decode_scrfd(levels_s, size, 2, 0.3, 0.4, top_k, 20, (0.5, 2.0), (100.0, 20.0))
            assert all(np.allclose(x, y, atol=1e-5) for x, y in zip(a, b)), top_k
            a = core_a.decode_yunet(levels_y, size, 0.4, 0.3, top_k, 15, (2.0, 2.0))
            b = core_b.decode_yunet(levels_y, size, 0.4, 0.3, top_k, 15, (2.0, 2.0))
            assert all(np.allclose(x, y, atol=1e-4) for x, y in zip(a, b)), top_k
    empty = [(s, level[1], level[2], None) for s, level in zip((8, 16, 32), levels_s)]
    a, b = native.decode_scrfd(empty, size, 2, 2.0), python.decode_scrfd(empty, size, 2, 2.0)
    assert a[0].shape == b[0].shape == (0, 4) and a[2] is None and b[2] is None
    boxes = rng.uniform(0, 50, (40, 4)).astype(np.float32)
    boxes[:, 2:] += boxes[:, :2]
    scores = rng.uniform(0, 1, 40).astype(np.float32)
    assert native.nms(boxes, scores, 0.3).tolist() == python.nms(boxes, scores, 0.3).tolist()
    assert np.array_equal(native.anchor_centres(3, 4, 8, 2), python.anchor_centres(3, 4, 8, 2))


def test_pose_grouping_agrees(photos):
    model = cached_model("onnxruntime", "lightweight_openpose_hpe0001")
    frames = [photos[p] for p in PHOTOS]
    cap = cv2.VideoCapture(str(SHARED / "video" / "pets_walk_480x360.avi"))
    for k in range(60):
        ok, frame = cap.read()
        if k % 20 == 0:
            frames.append(frame)
    people = 0
    for frame in frames:
        prepared = model.prepare(frame)
        heat, pafs = model.grouping_inputs(model.infer(prepared))
        params_n, params_p = model.grouping_params(prepared.options), python.PoseParams()
        for key in ("peak_threshold", "peak_radius", "subpixel", "max_peaks_per_part", "paf_samples",
                    "paf_sample_threshold", "paf_success_ratio", "limb_length_prior", "paf_scale", "min_parts",
                    "min_mean_score"):
            setattr(params_p, key, getattr(params_n, key))
        limbs = model.limbs
        ka, sa = native.group_poses(heat, pafs, limbs, params_n)
        kb, sb = python.group_poses(heat, pafs, limbs, params_p)
        assert ka.shape == kb.shape, "identical grouping"
        assert np.abs(ka - kb).max(initial=0) <= 1.0 and np.array_equal(ka[..., 2] > 0, kb[..., 2] > 0)
        assert np.allclose(sa, sb, rtol=1e-4)
        pa, pb = native.find_peaks(heat, params_n), python.find_peaks(heat, params_p)
        assert pa.shape == pb.shape and np.abs(pa - pb).max(initial=0) < 1e-4
        people += len(ka)
    assert people > 30
    assert params_n.effective_peak_radius() == params_p.effective_peak_radius() == 6


def test_head_pose_agrees(photos):
    from edgecv.tasks.faces.headpose import Camera, face_model

    model = cached_model("onnxruntime")
    marks, sizes = [], []
    for p in PHOTOS:
        faces = model.detect(photos[p])
        marks.append(faces.landmarks.astype(np.float64))
        sizes += [photos[p].shape[:2]] * len(faces)
    image_points = np.concatenate(marks)
    K = np.stack([Camera.from_focal(s).matrix for s in sizes])
    obj = np.ascontiguousarray(face_model("5pt"), np.float64)
    ra, ma, ta, ea = native.solve_pnp(obj, image_points, K)
    rb, mb, tb, eb = python.solve_pnp(obj, image_points, K)
    from edgecv.tasks.faces.headpose import euler_from_rotation

    angles = lambda ms: np.array([euler_from_rotation(m) for m in ms])
    assert np.abs(angles(ma) - angles(mb)).max() < 0.5
    assert np.allclose(ea, eb, rtol=1e-3, atol=1e-3)
    dist = np.array([0.05, -0.01, 0.001, 0.002], np.float64)  # distortion and an initial guess: the same answers
    ra2, _, ta2, _ = native.solve_pnp(obj, image_points[:5], K[:5], dist, rvecs=ra[:5], tvecs=ta[:5])
    rb2, _, tb2, _ = python.solve_pnp(obj, image_points[:5], K[:5], dist, rvecs=ra[:5].copy(), tvecs=ta[:5].copy())
    assert np.allclose(ra2, rb2, atol=1e-4) and np.allclose(ta2, tb2, rtol=1e-4)


def test_tracker_ids_agree_on_the_clip():
    # a fixed 256 network height: the tracker is under test here, not the network (auto is 3.6x the time)
    pose = cached_model("onnxruntime", "lightweight_openpose_hpe0001", input_height=256)
    settings = pose.tracker(frame_rate=10.0).params  # the people tracker's settings, as streams use them
    params = python.TrackerParams()
    for key in ("high_threshold", "low_threshold", "birth_threshold", "first_min_iou", "second_min_iou",
                "unconfirmed_min_iou", "fuse_score", "track_buffer", "frame_rate"):
        setattr(params, key, getattr(settings, key))
    trackers = (native.ByteTracker(settings), python.ByteTracker(params))
    cap = cv2.VideoCapture(str(SHARED / "video" / "pets_walk_480x360.avi"))
    assigned = 0
    for k in range(120):
        ok, frame = cap.read()
        assert ok
        people = pose.detect(frame)
        boxes, scores = people.track_boxes()
        boxes, scores = np.ascontiguousarray(boxes, np.float32), np.ascontiguousarray(scores, np.float32)
        a, b = (t.update(boxes, scores) for t in trackers)
        assert np.array_equal(a, b), k
        assigned += int((a >= 0).sum())
    assert assigned > 60 and trackers[0].live_tracks == trackers[1].live_tracks


def test_depth_filtering_and_fusion_agree(module_cache):
    from edgecv.tasks.mvs import load_scene

    scene = load_scene(SHARED / "data" / "mvs_office_8view")
    model = cached_model("onnxruntime", "patchmatchnet_640x416_n5")
    maps = {v: model.detect(scene, ref=v) for v in (0, 1, 4)}
    ref = maps[0]
    sources = [(maps[v].depth, maps[v].camera.K, maps[v].camera.extrinsic) for v in (1, 4)]
    a = native.check_consistency(ref.depth, ref.camera.K, ref.camera.extrinsic, sources, ref.confidence, 1.0, 0.01, 1)
    b = python.check_consistency(ref.depth, ref.camera.K, ref.camera.extrinsic, sources, ref.confidence, 1.0, 0.01, 1)
    assert (a[0] != b[0]).mean() < 1e-4 and (a[1] != b[1]).mean() < 1e-4
    assert np.allclose(a[2], b[2], rtol=1e-5) and a[0].sum() > 10000
    xa, ca = native.backproject(ref.depth, ref.camera.K, ref.camera.extrinsic, a[0], ref.image)
    xb, cb = python.backproject(ref.depth, ref.camera.K, ref.camera.extrinsic, a[0], ref.image)
    assert xa.shape == xb.shape and np.allclose(xa, xb, rtol=1e-5, atol=1e-5) and np.array_equal(ca, cb)


@pytest.mark.parametrize("fmt", ["bgr", "rgb", "bgra", "gray", "nv21", "nv12", "i420", "yuyv"])
def test_frames_agree(fmt, photos):
    from frames import to_format

    image = photos["street_9.jpg"][:460, :690]
    for rotation in (0, 90, 180, 270):
        stored = image if rotation == 0 else cv2.rotate(image, {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180,
                                                               270: cv2.ROTATE_90_CLOCKWISE}[rotation])
        frame = to_format(stored, fmt)
        args = (fmt, rotation, (320, 256), (320, 213), (127.5, 127.5, 127.5), (128.0, 128.0, 128.0), True, 0)
        a, b = native.prepare_frame(frame, *args), python.prepare_frame(frame, *args)
        assert a.shape == b.shape == (1, 3, 256, 320)
        assert np.abs(a - b).max() < 2e-3, (fmt, rotation, np.abs(a - b).max())


BAD_CALLS = [
    ("decode_scrfd", ([(8, np.zeros((3, 1), np.float32), np.zeros((3, 4), np.float32), None)], (64, 32))),
    ("decode_scrfd", ([(8, np.zeros((64, 1), np.float64), np.zeros((64, 4), np.float32), None)], (64, 32))),
    ("decode_yunet", ([(8, np.zeros((32, 1), np.float32), np.zeros((32, 2), np.float32), np.zeros((32, 4), np.float32),
                        None)], (64, 32))),
    ("nms", (np.zeros((2, 4), np.float32), np.zeros(2, np.float32), 1.5)),
    ("group_poses", (np.zeros((19, 8, 8), np.float32), np.zeros((38, 8, 8), np.float32),
                     np.array([[0, 0, 0, 1]]))),
    ("group_poses", (np.full((19, 8, 8), np.nan, np.float32), np.zeros((38, 8, 8), np.float32),
                     np.array([[0, 1, 0, 1]]))),
    ("solve_pnp", (np.zeros((5, 3)), np.zeros((1, 5, 2)), np.eye(3))),
    ("solve_pnp", (np.zeros((3, 3)), np.zeros((1, 3, 2)), np.eye(3))),
    ("prepare_frame", (np.zeros((10, 10, 3), np.uint8), "bgr", 45, (10, 10), (10, 10), (0, 0, 0), (1, 1, 1))),
    ("prepare_frame", (np.zeros((15, 11), np.uint8), "nv21", 0, (10, 10), (10, 10), (0, 0, 0), (1, 1, 1))),
    ("prepare_frame", (np.zeros((10, 10, 3), np.uint8), "bgr", 0, (10, 10), (10, 10), (0, 0, 0), (1, 1, 1), False, 0,
                       np.zeros((1, 3, 10, 10)))),
    ("prepare_frame", (np.zeros((10, 10, 3), np.uint8), "bgr", 0, (10, 10), (10, 10), (0, 0, 0), (1, 1, 1), False, 0,
                       np.zeros((1, 3, 10, 9), np.float32))),
    ("prepare_frame", (np.zeros((10, 10, 3), np.uint8), "bgr", 0, (10, 10), (10, 10), (0, 0, 0), (1, 1, 1), False, 0,
                       None, True)),
    ("check_consistency", (np.ones((4, 4), np.float32), np.eye(3), np.eye(4), [])),
    ("backproject", (np.ones((4, 4), np.float32), np.zeros((3, 3)), np.eye(4))),
]


@pytest.mark.parametrize("name,args", BAD_CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_CALLS)])
def test_the_same_errors(name, args):
    messages = []
    for core in (native, python):
        with pytest.raises(InvalidInputError) as info:
            getattr(core, name)(*args)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_core_selection(tmp_path):
    out = run_python("-c", "import edgecv.native as n; print(n.KIND)")
    assert out.stdout.strip() == "native"
    for value, kind in (("python", "python"), ("native", "native"), ("auto", "native")):
        env_code = f"import os; os.environ['EDGECV_CORE'] = {value!r}; import edgecv.native as n; print(n.KIND)"
        assert run_python("-c", env_code).stdout.strip() == kind
    hidden = ("import sys; sys.modules['edgecv._core'] = None\nimport edgecv, edgecv.native as n\nprint(n.KIND)\n"
              "print(len(edgecv.load('yunet_n_640').detect(sys.argv[1])))")
    out = run_python("-c", hidden, str(SHARED / "images" / "group_t1.jpg"))
    assert out.stdout.split() == ["python", "6"], out.stderr[-800:]
    assert "source checkout" not in out.stderr  # an installed package without its compiled core: no warning
    # Python started at the root of a clone imports the unbuilt tree: it works on the Python core, and says why
    import subprocess
    import sys

    code = "import edgecv.native as n; print(n.KIND, n.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["python", str(REPO / "edgecv" / "native.py")], out.stderr[-800:]
    assert "imported from the unbuilt source checkout" in out.stderr and "python -P" in out.stderr
    out = run_python("-c", "import os, sys; os.environ['EDGECV_CORE'] = 'native'; sys.modules['edgecv._core'] = None\n"
                           "try:\n    import edgecv\n"
                           "except ImportError as e:\n    print('refused', 'EDGECV_CORE=native' in str(e))")
    assert out.stdout.strip() == "refused True", out.stderr[-800:]
    out = run_python("-m", "edgecv", "info")
    assert "core: native (C++)" in out.stdout
