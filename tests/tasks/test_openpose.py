"""OpenPose end to end on real photos and all engines; synthetic maps; bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ENGINES, SHARED, cached_model, run_python

import edgecv
from edgecv.native import core as _core
from edgecv.tasks.openpose.compare import compare_poses
from edgecv.errors import InvalidInputError, ModelContractError
from edgecv.tasks.openpose.layouts import COCO18_NAMES, LIGHTWEIGHT_LIMBS

POSE = "lightweight_openpose_hpe0001"
NECK, R_SHO, L_SHO, NOSE, R_HIP, L_HIP = 1, 2, 5, 0, 8, 11
EXPECTED_PEOPLE = {"street_1.jpg": 4, "street_4.jpg": 8}


def pose_model(engine):
    return cached_model(engine, POSE)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("photo", sorted(EXPECTED_PEOPLE))
def test_people_found_with_plausible_skeletons(engine, photo, photos, module_cache):
    poses = pose_model(engine).detect(photos[photo])
    assert abs(len(poses) - EXPECTED_PEOPLE[photo]) <= 1
    h, w = photos[photo].shape[:2]
    for pose in poses:
        kp, seen = pose.keypoints, pose.visible
        assert seen.sum() >= 6
        assert np.all(kp[seen, 0] >= -2) and np.all(kp[seen, 0] <= w + 2) and np.all(kp[seen, 1] <= h + 2)
        assert np.all(kp[~seen] == 0)
        # One body: the neck lies between the shoulders, the head above the hips.
        if seen[[NECK, R_SHO, L_SHO]].all():
            lo, hi = sorted((kp[R_SHO, 0], kp[L_SHO, 0]))
            assert lo - 3 <= kp[NECK, 0] <= hi + 3
        if seen[NOSE] and seen[R_HIP]:
            assert kp[NOSE, 1] < kp[R_HIP, 1]
        # Its parts span one body, not a crowd: width bounded by height (standing people).
        xs, ys = kp[seen, 0], kp[seen, 1]
        assert xs.max() - xs.min() <= max(1.2 * (ys.max() - ys.min()), 60)
    assert np.all(np.diff(poses.scores) <= 0)


@pytest.mark.parametrize("engine", ["ncnn", "mnn"])
@pytest.mark.parametrize("photo", sorted(EXPECTED_PEOPLE))
def test_engines_agree_within_2px(engine, photo, photos, module_cache):
    ref = pose_model("onnxruntime").detect(photos[photo])
    got = pose_model(engine).detect(photos[photo])
    row = compare_poses(ref, got)
    assert row["missing"] == row["extra"] == 0, row
    assert row["max_keypoint_px"] <= 2.0, row
    assert row["one_sided_parts"] <= 1, row


# -- synthetic maps ----------------------------------------------------------------------------------
H, W = 64, 96


def _maps(people, limbs=LIGHTWEIGHT_LIMBS, skip_limbs=(), false_peaks=()):
    """Heatmaps with Gaussian blobs and PAFs with unit vectors along each person's limbs."""
    heatmaps = np.zeros((18, H, W), np.float32)
    pafs = np.zeros((38, H, W), np.float32)
    ys, xs = np.mgrid[:H, :W].astype(np.float32)
    for part, (x, y) in [kv for person in people for kv in person.items()] + list(false_peaks):
        heatmaps[part] = np.maximum(heatmaps[part], np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 4.5))
    for person in people:
        for a, b, cx, cy, _ in limbs:
            if a in person and b in person and (a, b) not in skip_limbs:
                (ax, ay), (bx, by) = person[a], person[b]
                d = np.array([bx - ax, by - ay], np.float32)
                length = np.linalg.norm(d)
                t = ((xs - ax) * d[0] + (ys - ay) * d[1]) / length**2
                dist = np.abs((xs - ax) * d[1] - (ys - ay) * d[0]) / length
                on = (t >= -0.05) & (t <= 1.05) & (dist <= 1.5)
                pafs[cx][on], pafs[cy][on] = d[0] / length, d[1] / length
    return heatmaps, pafs


def _person(x0):
    # nose, neck, shoulders, elbows, hips (image coordinates)
    return {0: (x0, 8), 1: (x0, 16), 2: (x0 - 8, 17), 3: (x0 - 10, 28), 5: (x0 + 8, 17), 6: (x0 + 10, 28),
            8: (x0 - 5, 40), 11: (x0 + 5, 40)}


def _group(heatmaps, pafs):
    return _core.group_poses(heatmaps, pafs, LIGHTWEIGHT_LIMBS, _core.PoseParams())


def _assert_person(kp, person):
    seen = {int(k) for k in np.nonzero(kp[:, 2] > 0)[0]}
    assert seen == set(person)
    for part, (x, y) in person.items():
        assert abs(kp[part, 0] - x) < 0.3 and abs(kp[part, 1] - y) < 0.3


def test_synthetic_two_people_side_by_side():
    a, b = _person(25), _person(70)
    keypoints, scores = _group(*_maps([a, b]))
    assert len(keypoints) == 2
    for kp in keypoints:
        _assert_person(kp, a if kp[NECK, 0] < 48 else b)


def test_synthetic_crossing_limbs_follow_their_fields():
    # A's right elbow reaches across B's left arm: the two limbs cross, PAF direction decides.
    a, b = _person(30), _person(52)
    a[3], b[6] = (56, 26), (34, 26)
    heatmaps, pafs = _maps([a, b])
    keypoints, _ = _group(heatmaps, pafs)
    assert len(keypoints) == 2
    for kp in keypoints:
        _assert_person(kp, a if kp[NECK, 0] < 41 else b)


def test_synthetic_missing_limb_and_false_peak():
    a = _person(40)
    heatmaps, pafs = _maps([a], skip_limbs={(1, 0)}, false_peaks=[(4, (85, 55))])
    keypoints, _ = _group(heatmaps, pafs)
    assert len(keypoints) == 1
    expected = {k: v for k, v in a.items() if k != NOSE}  # no neck-nose field: nose stays alone
    _assert_person(keypoints[0], expected)


def test_poses_result_api(photos):
    poses = pose_model("onnxruntime").detect(photos["street_4.jpg"])
    assert poses.keypoints.shape == (len(poses), 18, 3) and poses.keypoints.dtype == np.float32
    assert poses.names == COCO18_NAMES
    d = poses.to_dict()
    assert d["count"] == len(poses) and "neck" in d["people"][0]["keypoints"]
    drawn = poses.draw(photos["street_4.jpg"])
    assert drawn.shape == photos["street_4.jpg"].shape and not np.array_equal(drawn, photos["street_4.jpg"])
    assert len(list(poses)) == len(poses) and poses[0].visible.sum() >= 6


def test_cli_detect_draws_skeletons(tmp_path):
    photo = str(SHARED / "images" / "street_4.jpg")
    out = run_python("-m", "edgecv", "detect", photo, "--model", POSE, "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "street_4.jpg: 8 people" in out.stdout
    assert (tmp_path / "street_4.jpg").stat().st_size > 10_000


# -- bad inputs ----------------------------------------------------------------------------------------
def test_bad_maps_and_tables_raise():
    heatmaps, pafs = _maps([_person(40)])
    with pytest.raises(InvalidInputError, match="part index"):
        _core.group_poses(heatmaps[:10].copy(), pafs, LIGHTWEIGHT_LIMBS)  # wrong heatmap channel count
    with pytest.raises(InvalidInputError, match="PAF channel"):
        _core.group_poses(heatmaps, pafs[:20].copy(), LIGHTWEIGHT_LIMBS)  # wrong PAF channel count
    bad = LIGHTWEIGHT_LIMBS.copy()
    bad[3, 3] = 38
    with pytest.raises(InvalidInputError, match="limb 3"):
        _core.group_poses(heatmaps, pafs, bad)
    bad = LIGHTWEIGHT_LIMBS.copy()
    bad[0, 0] = -1
    with pytest.raises(InvalidInputError, match="limb 0"):
        _core.group_poses(heatmaps, pafs, bad)
    with pytest.raises(InvalidInputError, match="limbs"):
        _core.group_poses(heatmaps, pafs, LIGHTWEIGHT_LIMBS[:, :3].copy())
    with pytest.raises(InvalidInputError, match="integer"):
        _core.group_poses(heatmaps, pafs, LIGHTWEIGHT_LIMBS.astype(np.float32))
    nan = heatmaps.copy()
    nan[3, 10, 10] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        _core.group_poses(nan, pafs, LIGHTWEIGHT_LIMBS)
    inf = pafs.copy()
    inf[0, 0, 0] = np.inf
    with pytest.raises(InvalidInputError, match="NaN"):
        _core.group_poses(heatmaps, inf, LIGHTWEIGHT_LIMBS)
    with pytest.raises(InvalidInputError, match="do not match"):
        _core.group_poses(heatmaps, pafs[:, :16].copy(), LIGHTWEIGHT_LIMBS)
    with pytest.raises(InvalidInputError, match="float32"):
        _core.group_poses(heatmaps.astype(np.float64), pafs, LIGHTWEIGHT_LIMBS)
    with pytest.raises(InvalidInputError, match="contiguous"):
        _core.group_poses(heatmaps[:, :, ::2], pafs[:, :, ::2], LIGHTWEIGHT_LIMBS)
    with pytest.raises(InvalidInputError, match="empty"):
        _core.group_poses(np.zeros((18, 0, 5), np.float32), pafs, LIGHTWEIGHT_LIMBS)


def test_bad_task_options_and_model_contract(tmp_path):
    with pytest.raises(InvalidInputError, match="not an option of task openpose"):
        edgecv.load(POSE, score_threshold=0.5)
    with pytest.raises(InvalidInputError, match="input_height"):
        edgecv.load(POSE, input_height=250)
    with pytest.raises(InvalidInputError, match="upsample"):
        edgecv.load(POSE, upsample=0)
    with pytest.raises(InvalidInputError, match="layout"):
        edgecv.load(POSE, layout="mpi")
    scrfd = SHARED / "models" / "scrfd_500m_bnkps_640" / "scrfd_500m_bnkps.onnx"
    with pytest.raises(ModelContractError, match="OpenPose output"):
        edgecv.load(scrfd, task="openpose")


def test_input_height_option_changes_resolution(photos):
    small = edgecv.load(POSE, threads=2, input_height=184)
    blob = small.prepare(photos["street_4.jpg"]).feeds["data"]
    assert blob.shape[2] == 184 and blob.shape[3] % 8 == 0
    # At a lower resolution the small background pedestrians drop out; the five in front remain.
    assert 5 <= len(small.detect(photos["street_4.jpg"])) <= 8


def test_auto_input_height_follows_the_image_and_finds_the_small_people(photos):
    """input_height="auto" (the default) scales small frames up instead of shrinking them to 256: on 40 PETS frames
    (480x360, every 20th) it finds at least 1.8x the people 256 finds, and on every shared street and group photo at
    least as many whole people as 368."""
    import cv2

    auto = edgecv.load(POSE, threads=2)
    fixed = {h: edgecv.load(POSE, threads=2, input_height=h) for h in (256, 368)}
    assert auto.settings["input_height"] == "auto" and auto.auto_height(360) == 480 and auto.auto_height(90) == 128
    assert auto.auto_height(4000) == auto.max_input_height == 480
    assert edgecv.load(POSE, max_input_height=320).auto_height(1080) == 320
    assert edgecv.load(POSE, min_person_height=96).auto_height(360) == 240
    cap = cv2.VideoCapture(str(SHARED / "video" / "pets_walk_480x360.avi"))
    frames, index = [], 0
    while len(frames) < 40:
        ok, frame = cap.read()
        assert ok, f"the PETS clip ended at frame {index}"
        if index % 20 == 0:
            frames.append(frame)
        index += 1
    cap.release()
    assert auto.prepare(frames[0]).feeds["data"].shape[2] == 480
    people_auto = sum(len(auto.detect(f)) for f in frames)
    people_256 = sum(len(fixed[256].detect(f)) for f in frames)
    assert people_auto >= 1.8 * people_256, (people_auto, people_256)
    # People with at least 6 keypoints: at 368 street_6 also gets two 5-keypoint fragments of people it already has
    # (a head, an arm), and the raw count of a fixed height swings by 1-2 from one height to the next there.
    def people(poses) -> int:
        return sum(int(p.visible.sum()) >= 6 for p in poses)

    for name in ("group_t1.jpg", "street_1.jpg", "street_4.jpg", "street_6.jpg", "street_9.jpg", "street_12.jpg"):
        assert people(auto.detect(photos[name])) >= people(fixed[368].detect(photos[name])), name
    with pytest.raises(InvalidInputError, match="input_height must be 'auto' or an integer"):
        edgecv.load(POSE, input_height="big")
    with pytest.raises(InvalidInputError, match="max_input_height must be a multiple of 8"):
        edgecv.load(POSE, max_input_height=12)
