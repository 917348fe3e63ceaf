"""Head pose: synthetic projections of the face models, OpenCV agreement, real faces, conventions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import SHARED, run_python, cached_model

import edgecv
from edgecv import _core
from edgecv.errors import InvalidInputError
from edgecv.tasks.faces.headpose import (Camera, euler_from_rotation, face_model, quaternion_from_rotation,
                             rotation_from_euler)

RESOLUTIONS = [(480, 640), (1080, 1920), (2160, 3840)]  # (H, W)
SINGLE = [(a, 0, 0) for a in (-60, -30, 30, 60)] + [(0, a, 0) for a in (-60, -30, 30, 60)] + \
         [(0, 0, a) for a in (-60, -30, 30, 60)]
COMBINED = [(45, -30, 20), (-50, 40, -35), (60, 60, -60), (-60, -45, 45), (30, 50, 60), (0, 0, 0)]
#: ArcFace's canonical 112x112 5-point template: an average frontal face in SCRFD landmark order.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                             [70.7299, 92.2041]])


def _project(model, angles, hw, camera=None):
    """Landmarks of the face model at pose `angles`, the face ~40 % of the image height, off-centre."""
    h, w = hw
    camera = camera or Camera.from_focal(hw)
    f = camera.matrix[0, 0]
    depth = 140 * f / (0.4 * h)
    t = np.array([0.1 * w, -0.05 * h, f]) * depth / f
    rvec, _ = cv2.Rodrigues(rotation_from_euler(*angles))
    pts, _ = cv2.projectPoints(face_model(model), rvec, t, camera.matrix, camera.dist)
    return pts.reshape(-1, 2), camera


@pytest.mark.parametrize("hw", RESOLUTIONS)
@pytest.mark.parametrize("model", ["5pt", "68pt"])
def test_noise_free_angles_within_0_1_degree(hw, model):
    for angles in SINGLE + COMBINED:
        landmarks, camera = _project(model, angles, hw)
        pose = edgecv.head_pose(landmarks, hw, model=model, camera=camera)
        np.testing.assert_allclose(pose.angles[0], angles, atol=0.1)
        assert pose.rms[0] < 1e-6


@pytest.mark.parametrize("hw", RESOLUTIONS)
@pytest.mark.parametrize("model,limit", [("5pt", 3.0), ("68pt", 1.5)])
def test_noisy_angles_at_every_resolution(hw, model, limit):
    """1 px Gaussian noise: per pose, the RMS error over 10 noise draws stays within the limit (the same
    relative face size at every resolution, so a resolution-dependent flaw such as a 4K pitch error shows)."""
    rng = np.random.default_rng(hash((hw, model)) % 2**32)
    worst = 0.0
    for angles in SINGLE + COMBINED:
        landmarks, camera = _project(model, angles, hw)
        noisy = landmarks[None] + rng.normal(0, 1, (10,) + landmarks.shape)
        pose = edgecv.head_pose(noisy, hw, model=model, camera=camera)  # one batch call, 10 faces
        rms = np.sqrt(np.mean((pose.angles - np.array(angles)) ** 2, axis=0))
        worst = max(worst, float(rms.max()))
    assert worst <= limit, worst


@pytest.mark.parametrize("model", ["5pt", "68pt"])
def test_agrees_with_opencv_solvepnp(model):
    rng = np.random.default_rng(5)
    for angles in SINGLE + COMBINED:
        landmarks, camera = _project(model, angles, (1080, 1920))
        noisy = landmarks + rng.normal(0, 1, landmarks.shape)
        pose = edgecv.head_pose(noisy, (1080, 1920), model=model, camera=camera)
        pts = face_model(model)
        if len(pts) >= 6:
            _, rvec, _ = cv2.solvePnP(pts, noisy, camera.matrix, None, flags=cv2.SOLVEPNP_ITERATIVE)
        else:  # ITERATIVE needs 6 points without a guess: seed it with OpenCV's EPnP
            _, r0, t0 = cv2.solvePnP(pts, noisy, camera.matrix, None, flags=cv2.SOLVEPNP_EPNP)
            _, rvec, _ = cv2.solvePnP(pts, noisy, camera.matrix, None, r0, t0, useExtrinsicGuess=True,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
        assert np.abs(rvec.ravel() - pose.rvecs[0]).max() < 1e-3


def test_distortion_and_fov_cameras():
    dist = np.array([-0.25, 0.08, 0.001, -0.001, 0.0])
    for camera in (Camera.from_fov((1080, 1920), 70), Camera.from_diagonal_fov((1080, 1920), 80),
                   Camera(Camera.from_focal((1080, 1920)).matrix, dist)):
        landmarks, _ = _project("68pt", (35, -20, 10), (1080, 1920), camera)
        pose = edgecv.head_pose(landmarks, (1080, 1920), model="68pt", camera=camera)
        np.testing.assert_allclose(pose.angles[0], (35, -20, 10), atol=0.1)
    assert Camera.from_fov((480, 640), 60).matrix[0, 0] == pytest.approx(320 / np.tan(np.radians(30)))
    assert Camera.from_diagonal_fov((480, 640), 90).matrix[0, 0] == pytest.approx(400.0)
    assert Camera.from_focal((480, 640)).matrix.tolist() == [[640, 0, 320], [0, 640, 240], [0, 0, 1]]


def test_conventions_in_image_terms():
    """yaw > 0: nose toward the image's right; pitch > 0: nose higher (face up); roll > 0: the
    right-in-image eye lower (clockwise tilt)."""
    frontal, _ = _project("5pt", (0, 0, 0), (1080, 1920))
    eye_mid = frontal[:2].mean(axis=0)
    for angles, check in [((20, 0, 0), lambda lm: lm[2, 0] - lm[:2, 0].mean() > frontal[2, 0] - eye_mid[0]),
                          ((0, 20, 0), lambda lm: lm[2, 1] - lm[:2, 1].mean() < frontal[2, 1] - eye_mid[1]),
                          ((0, 0, 20), lambda lm: lm[1, 1] > lm[0, 1])]:
        landmarks, _ = _project("5pt", angles, (1080, 1920))
        assert check(landmarks), angles
    pose = edgecv.head_pose(ARCFACE_TEMPLATE, (112, 112))
    assert np.abs(pose.angles).max() < 5  # the canonical frontal template is frontal


@pytest.mark.parametrize("angles", [(89, 10, 5), (90, 0, 0), (-90, 20, -10), (-75, 0, 80), (10, 89.5, 0)])
def test_euler_well_defined_near_90_degrees(angles):
    back = euler_from_rotation(rotation_from_euler(*angles))
    np.testing.assert_allclose(rotation_from_euler(*back), rotation_from_euler(*angles), atol=1e-9)
    if abs(angles[1]) < 89:
        np.testing.assert_allclose(back, angles, atol=1e-9)
    landmarks, camera = _project("68pt", angles, (1080, 1920))
    pose = edgecv.head_pose(landmarks, (1080, 1920), model="68pt", camera=camera)
    np.testing.assert_allclose(pose.rotations[0], rotation_from_euler(*angles), atol=1e-6)
    q = pose.quaternions[0]
    assert abs(np.linalg.norm(q) - 1) < 1e-9 and q[0] >= 0
    rq = cv2.Rodrigues(pose.rvecs[0])[0]
    np.testing.assert_allclose(rq, pose.rotations[0], atol=1e-9)


def test_quaternion_matches_rotation():
    r = rotation_from_euler(30, -20, 45)
    w, x, y, z = quaternion_from_rotation(r)
    expected = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                         [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                         [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
    np.testing.assert_allclose(expected, r, atol=1e-12)


def test_real_faces_and_mirror_symmetry(photos):
    image = photos["group_t1.jpg"]
    model = cached_model("onnxruntime")
    faces = model.detect(image, head_pose=True)
    poses = faces.head_pose
    assert len(poses) == len(faces) == 6
    # Frontal-ish people seen from a camera above the table: no profile, no flips.
    assert np.abs(poses.yaw).max() < 80 and np.median(np.abs(poses.yaw)) < 35
    assert np.abs(poses.pitch).max() < 45 and np.abs(poses.roll).max() < 45
    assert poses.rms.max() < 4.0
    mirrored = model.detect(np.ascontiguousarray(image[:, ::-1]), head_pose=True)
    w = image.shape[1]
    centres = (faces.boxes[:, 0] + faces.boxes[:, 2]) / 2
    mirror_centres = w - (mirrored.boxes[:, 0] + mirrored.boxes[:, 2]) / 2
    order = [int(np.argmin(np.abs(mirror_centres - c))) for c in centres]
    m = mirrored.head_pose
    # Mirroring flips yaw and roll and keeps pitch (up to the landmark detector's own asymmetry).
    np.testing.assert_allclose(m.yaw[order], -poses.yaw, atol=8)
    np.testing.assert_allclose(m.roll[order], -poses.roll, atol=8)
    np.testing.assert_allclose(m.pitch[order], poses.pitch, atol=8)
    assert np.all(np.sign(m.yaw[order]) == -np.sign(poses.yaw)) or np.abs(poses.yaw).min() < 8


def test_faces_carry_head_pose_in_results(photos):
    faces = cached_model("onnxruntime").detect(photos["group_t1.jpg"], head_pose=True)
    d = faces.to_dict()["faces"][0]["head_pose"]
    assert set(d) == {"yaw", "pitch", "roll", "rvec", "tvec", "rms_px"}
    assert faces[0].head_pose["yaw"] == pytest.approx(float(faces.head_pose.yaw[0]), abs=0.01)
    plain = faces.draw(photos["group_t1.jpg"])
    assert not np.array_equal(plain, photos["group_t1.jpg"])
    axes = faces.head_pose.axes()
    assert axes.shape == (6, 4, 2)
    # The axes start inside the face boxes.
    for box, origin in zip(faces.boxes, axes[:, 0]):
        assert box[0] - 20 <= origin[0] <= box[2] + 20 and box[1] - 20 <= origin[1] <= box[3] + 40


def test_cli_head_pose(tmp_path):
    import json

    out = run_python("-m", "edgecv", "detect", str(SHARED / "images" / "group_t1.jpg"), "--head-pose", "--json")
    assert out.returncode == 0, out.stderr
    face = json.loads(out.stdout)["results"][0]["faces"][0]
    assert {"yaw", "pitch", "roll"} <= set(face["head_pose"])
    bad = run_python("-m", "edgecv", "detect", str(SHARED / "images" / "street_4.jpg"), "--model",
                     "lightweight_openpose_hpe0001", "--head-pose")
    assert bad.returncode == 2 and "--head-pose is an option of scrfd, yunet models" in bad.stderr


def test_degenerate_inputs_raise():
    good, camera = _project("5pt", (10, 5, 0), (480, 640))
    with pytest.raises(InvalidInputError, match=r"\(5, 2\)"):
        edgecv.head_pose(good[:4], (480, 640))
    nan = good.copy()
    nan[2, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        edgecv.head_pose(nan, (480, 640))
    with pytest.raises(InvalidInputError, match="identical"):
        edgecv.head_pose(np.full((5, 2), 100.0), (480, 640))
    with pytest.raises(InvalidInputError, match="positive fx, fy"):
        Camera(np.array([[0.0, 0, 320], [0, 500, 240], [0, 0, 1]]))
    with pytest.raises(InvalidInputError, match="image_size"):
        edgecv.head_pose(good, (0, 640))
    with pytest.raises(InvalidInputError, match="unknown face model"):
        edgecv.head_pose(good, (480, 640), model="3pt")
    with pytest.raises(InvalidInputError, match="dist"):
        Camera(camera.matrix, np.zeros(3))
    obj = np.ascontiguousarray(face_model("5pt"))
    K = camera.matrix
    with pytest.raises(InvalidInputError, match="at least 4 points"):
        _core.solve_pnp(obj[:3].copy(), good[None, :3].copy(), K)
    line = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]], np.float64)
    with pytest.raises(InvalidInputError, match="collinear"):
        _core.solve_pnp(line, good[None].copy(), K)
    with pytest.raises(InvalidInputError, match="face 1"):
        _core.solve_pnp(obj, np.stack([good, np.full((5, 2), 7.0)]), K)
    with pytest.raises(InvalidInputError, match="float64"):
        _core.solve_pnp(obj.astype(np.float32), good[None].copy(), K)
    with pytest.raises(InvalidInputError, match="camera_matrix"):
        _core.solve_pnp(obj, good[None].copy(), np.eye(3)[::-1].copy())
    with pytest.raises(InvalidInputError, match="both"):
        _core.solve_pnp(obj, good[None].copy(), K, rvecs=np.zeros((1, 3)))
    assert len(edgecv.head_pose(np.zeros((0, 5, 2)), (480, 640))) == 0
