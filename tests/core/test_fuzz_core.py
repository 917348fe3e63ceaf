"""Property-based fuzzing of every function the native module exports: random shapes and ranks, wrong
dtypes, non-contiguous and negative-stride arrays, empty inputs, NaN/inf, huge counts, out-of-range
indices. The outcome is always a result or a documented exception (InvalidInputError for bad arrays
and values, TypeError for arguments of the wrong Python type) -- never a crash."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecv.native import core as _core
from edgecv.errors import InvalidInputError

#: Examples per fuzz test (EDGECV_FUZZ_EXAMPLES overrides, e.g. 2000 for a long run).
EXAMPLES = int(os.environ.get("EDGECV_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DOCUMENTED = (InvalidInputError, TypeError)
DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.float16]
SPECIALS = [0.0, 1.0, -1.0, 0.5, np.nan, np.inf, -np.inf, 1e30, -1e30, 1e-30]


@st.composite
def arrays(draw, shape=None, dtype=None, max_dim=6, max_rank=4):
    """An array of a random (or given) shape and dtype, in a random memory layout."""
    if shape is None:
        rank = draw(st.integers(0, max_rank))
        shape = tuple(draw(st.integers(0, max_dim)) for _ in range(rank))
    dtype = dtype or draw(st.sampled_from(DTYPES))
    size = int(np.prod(shape)) if shape else 1
    # Values from a seeded RNG, with NaN/inf/huge/tiny sprinkled in at a drawn rate.
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.uniform(-1e3, 1e3, size)
    special_rate = draw(st.sampled_from([0.0, 0.01, 0.3, 1.0]))
    picks = rng.random(size) < special_rate
    values[picks] = rng.choice(SPECIALS, int(picks.sum()))
    with np.errstate(invalid="ignore", over="ignore"):
        a = values.reshape(shape)
        integer = np.issubdtype(dtype, np.integer)
        a = np.nan_to_num(a, posinf=255, neginf=0).astype(dtype) if integer else a.astype(dtype)
    layout = draw(st.sampled_from(["c", "fortran", "flipped", "strided"]))
    if layout == "fortran" and a.ndim >= 2:
        a = np.asfortranarray(a)
    elif layout == "flipped" and a.ndim >= 1:
        a = a[::-1]
    elif layout == "strided" and a.ndim >= 1:
        a = np.repeat(a, 2, axis=0)[::2]
    return a


def call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except DOCUMENTED:
        return None


anything = arrays() | st.none() | st.integers(-5, 5) | st.lists(st.integers(0, 3), max_size=3)


@FUZZ
@given(st.lists(st.tuples(st.integers(-4, 64), anything, anything, anything) | anything, max_size=4),
       st.tuples(st.integers(-10, 2000), st.integers(-10, 2000)), st.integers(-2, 5),
       st.floats(allow_nan=True), st.floats(allow_nan=True), st.integers(-5, 10**7), st.integers(-5, 10**7))
def test_decode_scrfd(levels, size, anchors, score, iou, topk, max_det):
    result = call(_core.decode_scrfd, levels, size, anchors, score, iou, topk, max_det, (1.0, 1.0), (0.0, 0.0))
    if result is not None:
        boxes, scores, lm = result
        assert boxes.shape == (len(scores), 4)


@FUZZ
@given(st.integers(1, 4), st.integers(1, 64).map(lambda s: s * 8), st.integers(1, 64).map(lambda s: s * 8),
       st.data())
def test_decode_scrfd_valid_shapes_random_values(anchors, h, w, data):
    """Consistent shapes with arbitrary values (NaN, inf, huge) decode without crashing."""
    levels = []
    for s in (8, 16, 32):
        rows = -(-h // s) * -(-w // s) * anchors
        levels.append((s, data.draw(arrays((rows, 1), np.float32)), data.draw(arrays((rows, 4), np.float32)),
                       data.draw(arrays((rows, 10), np.float32))))
    result = call(_core.decode_scrfd, levels, (w, h), anchors, 0.5, 0.4, 100, 50, (0.5, 0.5), (w * 2.0, h * 2.0))
    if result is not None:
        boxes, scores, _ = result
        assert np.all(np.isfinite(boxes)) and np.all(np.isfinite(scores)) and len(scores) <= 50


@FUZZ
@given(anything, anything, st.floats(allow_nan=True), st.integers(-3, 10**9))
def test_nms(boxes, scores, iou, keep):
    result = call(_core.nms, boxes, scores, iou, keep)
    if result is not None:
        assert result.ndim == 1 and (len(result) == 0 or result.max() < len(scores))


@FUZZ
@given(anything | arrays(dtype=np.uint8, max_rank=3), st.tuples(st.integers(-5, 70000), st.integers(-5, 70000)),
       st.tuples(*[st.floats(allow_nan=True)] * 3), st.tuples(*[st.floats(allow_nan=True)] * 3),
       st.booleans(), st.integers(-300, 300))
def test_prepare_frame(image, size, mean, std, swap, pad):
    for fmt, rotation in (("bgr", 0), ("nv21", 90), ("gray", 180), ("yuyv", 270), ("rgba", 0)):
        result = call(_core.prepare_frame, image, fmt, rotation, size, (max(1, size[0] // 2), max(1, size[1] // 2)),
                      mean, std, swap, pad)
        if result is not None:
            assert result.shape == (1, 3, size[1], size[0])


@FUZZ
@given(arrays(dtype=np.float32, max_rank=2), arrays(dtype=np.float32, max_rank=1))
def test_tracker_update(boxes, scores):
    tracker = _core.ByteTracker()
    for _ in range(3):
        result = call(tracker.update, boxes, scores)
        if result is not None:
            assert result.shape == (len(scores),) and result.dtype == np.int64


@FUZZ
@given(st.integers(-10, 10**6), st.integers(-10, 10**6), st.integers(-10, 2**31 - 1), st.integers(-10, 100))
def test_anchor_centres(fh, fw, stride, anchors):
    result = call(_core.anchor_centres, fh, fw, stride, anchors)
    if result is not None:
        assert result.shape == (fh * fw * anchors, 2)


def _params(data):
    p = _core.PoseParams()
    for name, strategy in [("peak_threshold", st.floats(allow_nan=True)), ("peak_radius", st.integers(-2, 20)),
                           ("paf_samples", st.integers(-2, 50)), ("min_parts", st.integers(-2, 20)),
                           ("paf_scale", st.floats(allow_nan=True)), ("max_peaks_per_part", st.integers(-2, 5000)),
                           ("paf_success_ratio", st.floats(allow_nan=True))]:
        if data.draw(st.booleans()):
            setattr(p, name, data.draw(strategy))
    return p


@FUZZ
@given(anything | arrays(dtype=np.float32, max_rank=3), anything | arrays(dtype=np.float32, max_rank=3),
       anything | arrays(dtype=np.int32, max_rank=2, max_dim=6), st.data())
def test_group_poses(heatmaps, pafs, limbs, data):
    result = call(_core.group_poses, heatmaps, pafs, limbs, _params(data))
    if result is not None:
        keypoints, scores = result
        assert keypoints.shape[0] == scores.shape[0]


@FUZZ
@given(st.integers(1, 18), st.integers(1, 12), st.integers(1, 12), st.data())
def test_group_poses_valid_shapes_random_values(parts, h, w, data):
    heatmaps = data.draw(arrays((parts, h, w), np.float32)).copy()
    pafs = data.draw(arrays((4, h, w), np.float32)).copy()
    limbs = np.array(data.draw(st.lists(st.tuples(st.integers(-1, parts), st.integers(-1, parts), st.integers(-1, 4),
                                                  st.integers(-1, 4), st.integers(0, 1)), min_size=1, max_size=5)),
                     np.int64)
    result = call(_core.group_poses, heatmaps, pafs, limbs, _params(data))
    if result is not None:
        assert result[0].shape[1:] == (parts, 3)


@FUZZ
@given(anything | arrays(dtype=np.float32, max_rank=3), st.data())
def test_find_peaks(heatmaps, data):
    result = call(_core.find_peaks, heatmaps, _params(data))
    if result is not None:
        assert result.ndim == 2 and result.shape[1] == 4


@FUZZ
@given(anything | arrays(dtype=np.float64, max_rank=3), anything | arrays(dtype=np.float64, max_rank=3),
       anything | arrays(dtype=np.float64, max_rank=3), anything | st.none(), st.integers(-5, 200))
def test_solve_pnp(obj, img, K, dist, iterations):
    result = call(_core.solve_pnp, obj, img, K, dist, None, None, iterations)
    if result is not None:
        assert result[0].shape[1] == 3


@FUZZ
@given(st.integers(1, 12), st.integers(1, 3), st.data())
def test_solve_pnp_valid_shapes_random_values(n, faces, data):
    obj = data.draw(arrays((n, 3), np.float64)).copy()
    img = data.draw(arrays((faces, n, 2), np.float64)).copy()
    K = np.array([[data.draw(st.sampled_from(SPECIALS)), 0, 1], [0, 500.0, 1], [0, 0, 1]])
    dist = data.draw(st.none() | arrays((5,), np.float64).map(np.ascontiguousarray))
    result = call(_core.solve_pnp, obj, img, K, dist)
    if result is not None:
        assert result[1].shape == (faces, 3, 3)


@FUZZ
@given(anything | arrays(dtype=np.float32, max_rank=2), anything, anything,
       st.lists(st.tuples(anything, anything, anything), max_size=2) | anything,
       st.floats(allow_nan=True), st.floats(allow_nan=True), st.integers(-2, 5))
def test_check_consistency(depth, K, E, sources, px, rel, views):
    result = call(_core.check_consistency, depth, K, E, sources, None, px, rel, views)
    if result is not None:
        assert result[0].shape == depth.shape


@FUZZ
@given(st.integers(1, 10), st.integers(1, 10), st.data())
def test_check_consistency_and_backproject_valid_shapes(h, w, data):
    depth = data.draw(arrays((h, w), np.float32)).copy()
    K = np.array([[data.draw(st.sampled_from([1.0, 5.0, -1.0, np.nan])), 0, w / 2], [0, 5.0, h / 2], [0, 0, 1]])
    E = np.eye(4)
    E[:3, 3] = data.draw(st.lists(st.sampled_from(SPECIALS), min_size=3, max_size=3))
    src = data.draw(arrays((data.draw(st.integers(1, 10)), w), np.float32)).copy()
    result = call(_core.check_consistency, depth, K, E, [(src, K, np.eye(4))], None, 1.0, 0.01, 1)
    if result is not None:
        assert result[1].shape == (h, w)
    points = call(_core.backproject, depth, K, E, None, data.draw(st.none() | arrays((h, w, 3), np.uint8)))
    if points is not None:
        assert points[0].shape[1] == 3
