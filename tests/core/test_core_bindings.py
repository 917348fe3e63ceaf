"""The native module checks every array before touching memory."""

from __future__ import annotations

import numpy as np
import pytest

from edgecv.native import core as _core
from edgecv.errors import InvalidInputError


def _levels(size=(64, 32), strides=(8, 16, 32), anchors=2, kps=True):
    w, h = size
    out = []
    for s in strides:
        rows = -(-h // s) * -(-w // s) * anchors
        out.append((s, np.zeros((rows, 1), np.float32), np.ones((rows, 4), np.float32),
                    np.zeros((rows, 10), np.float32) if kps else None))
    return out


def test_decode_empty_and_single():
    levels = _levels()
    boxes, scores, lm = _core.decode_scrfd(levels, (64, 32))
    assert boxes.shape == (0, 4) and scores.shape == (0,) and lm.shape == (0, 5, 2)
    levels[1][1][3] = 0.9  # stride 16, row 3 -> location 1 (x=1, y=0), anchor 1 -> centre (16, 0)
    boxes, scores, lm = _core.decode_scrfd(levels, (64, 32), clip=(0, 0))
    np.testing.assert_allclose(boxes, [[0, -16, 32, 16]])
    np.testing.assert_allclose(lm[0], np.tile([16, 0], (5, 1)))
    _, _, none = _core.decode_scrfd(_levels(kps=False), (64, 32))
    assert none is None


@pytest.mark.parametrize("mutate,match", [
    (lambda L: L.__setitem__(0, (8, L[0][1].astype(np.float64), L[0][2], L[0][3])), "float32"),
    (lambda L: L.__setitem__(0, (8, L[0][1], np.asfortranarray(np.ones((L[0][2].shape[0], 4), np.float32)), L[0][3])),
     "contiguous"),
    (lambda L: L.__setitem__(0, (8, L[0][1], L[0][2][::2], L[0][3])), "dimension 0"),
    (lambda L: L.__setitem__(0, (8, L[0][1], L[0][2][:, :3].copy(), L[0][3])), "dimension 1"),
    (lambda L: L.__setitem__(0, (8, L[0][1].ravel(), L[0][2], L[0][3])), "2-D"),
    (lambda L: L.__setitem__(0, (8, L[0][1], L[0][2], L[0][3][:, :9].copy())), "landmarks"),
    (lambda L: L.__setitem__(0, (7, L[0][1], L[0][2], L[0][3])), "rows"),
    (lambda L: L.__setitem__(0, (-8, L[0][1], L[0][2], L[0][3])), "stride"),
    (lambda L: L.__setitem__(2, (32, L[2][1], L[2][2], None)), "all levels"),
    (lambda L: L.__setitem__(0, (8, [0.5], L[0][2], L[0][3])), "numpy array"),
    (lambda L: L.__setitem__(0, (8, L[0][1])), "tuple"),
    (lambda L: L.__setitem__(0, ("8", L[0][1], L[0][2], L[0][3])), "int"),
    (lambda L: L.clear(), "at least one"),
])
def test_decode_rejects_bad_levels(mutate, match):
    levels = _levels()
    mutate(levels)
    with pytest.raises(InvalidInputError, match=match):
        _core.decode_scrfd(levels, (64, 32))


def test_decode_rejects_bad_parameters():
    with pytest.raises(InvalidInputError):
        _core.decode_scrfd(_levels(), (0, 32))
    with pytest.raises(InvalidInputError):
        _core.decode_scrfd(_levels(), (64, 32), num_anchors=0)
    with pytest.raises(InvalidInputError):
        _core.decode_scrfd(_levels(), (64, 32), scale=(0.0, 1.0))
    with pytest.raises(InvalidInputError):
        _core.decode_scrfd(_levels(), (64, 32), iou_threshold=float("nan"))


def test_nms_binding():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.5, 0.9, 0.7], np.float32)
    np.testing.assert_array_equal(_core.nms(boxes, scores, 0.5), [1, 2])
    np.testing.assert_array_equal(_core.nms(boxes, scores, 0.5, max_keep=1), [1])
    assert _core.nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).shape == (0,)
    with pytest.raises(InvalidInputError):
        _core.nms(boxes[:2], scores, 0.5)
    with pytest.raises(InvalidInputError):
        _core.nms(boxes.astype(np.float64), scores, 0.5)
    with pytest.raises(InvalidInputError):
        _core.nms(boxes, scores, 2.0)


def test_prepare_frame_matches_numpy_and_checks_input():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out = _core.prepare_frame(image, "bgr", 0, (64, 40), (53, 37), (1.0, 2.0, 3.0), (2.0, 4.0, 8.0), True, 7)
    assert out.shape == (1, 3, 40, 64)
    mean, std = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 8.0])
    expected = np.empty((3, 40, 64), np.float32)
    expected[:] = ((7 - mean) / std)[:, None, None]
    expected[:, :37, :53] = ((image[..., ::-1].astype(np.float64) - mean) / std).transpose(2, 0, 1)
    np.testing.assert_allclose(out[0], expected, rtol=1e-6, atol=1e-6)
    # Any numpy layout works: views with steps, negative strides, Fortran order.
    for view in (image[5:20, 10:40], image[::2, ::-3], np.asfortranarray(image), image[:, :, ::-1][:, :, ::-1]):
        h, w = view.shape[:2]
        np.testing.assert_array_equal(_core.prepare_frame(view, "bgr", 0, (w, h), (w, h), (0, 0, 0), (1, 1, 1)),
                                      _core.prepare_frame(view.copy(), "bgr", 0, (w, h), (w, h), (0, 0, 0), (1, 1, 1)))
    for bad, fmt, match in [(image.astype(np.float32), "bgr", "uint8"), (image[..., :2], "bgr", r"\(H, W, 3\)"),
                            (image[..., 0], "bgr", r"\(H, W, 3\)"), (image, "hsv", "unknown pixel format"),
                            (np.ascontiguousarray(image[:36, :53, 0]), "nv21", "even"),
                            (np.ascontiguousarray(image[:35, :, 0]), "nv21", "H \\* 3 / 2"),
                            (image[:36, :52, 0], "nv21", "packed rows")]:
        with pytest.raises(InvalidInputError, match=match):
            h, w = bad.shape[:2]
            _core.prepare_frame(bad, fmt, 0, (64, 64), (min(w, 64), min(h, 64)), (0, 0, 0), (1, 1, 1))
    with pytest.raises(InvalidInputError, match="fit"):
        _core.prepare_frame(image, "bgr", 0, (50, 40), (53, 37), (0, 0, 0), (1, 1, 1))
    with pytest.raises(InvalidInputError, match="std"):
        _core.prepare_frame(image, "bgr", 0, (64, 40), (53, 37), (0, 0, 0), (1, 0, 1))
    with pytest.raises(InvalidInputError, match="rotation"):
        _core.prepare_frame(image, "bgr", 45, (64, 40), (53, 37), (0, 0, 0), (1, 1, 1))


@pytest.mark.parametrize("which", ["native", "python"])
def test_prepare_frame_resizes_bgr_as_cv2_resize_then_the_pack(which):
    """An upright BGR/RGB picture resized inside prepare_frame gives, to the bit, cv2.resize (INTER_LINEAR) and then
    the pack of the resized copy: up, down, exact 2x and 3x, 1-pixel sides, odd widths, row-strided views."""
    import cv2

    from edgecv import _core as native, _pycore

    core = native if which == "native" else _pycore
    assert isinstance(core.FUSED_LINEAR_RESIZE, bool)
    rng = np.random.default_rng(7)
    cases = [((330, 580), (364, 640)), ((886, 1280), (443, 640)), ((1080, 1920), (360, 640)), ((1, 1), (5, 7)),
             ((2, 3), (64, 64)), ((626, 1), (1000, 1)), ((31, 609), (30, 593)), ((700, 3), (650, 1))]
    for _ in range(40):
        src = rng.integers(1, 700, 2)
        cases.append((tuple(src), tuple(np.clip((src / rng.uniform(0.3, 5)).astype(int), 1, 900))))
    for (H, W), (h, w) in cases:
        image = rng.integers(0, 256, (H, W + 2, 3), dtype=np.uint8)
        view = image[:, 1:W + 1] if rng.random() < 0.5 else np.ascontiguousarray(image[:, :W])
        fmt = "rgb" if rng.random() < 0.5 else "bgr"
        args = ((w + int(rng.integers(0, 4)), h + int(rng.integers(0, 4))), (w, h), (127.5, 120.0, 100.0),
                (128.0, 64.0, 32.5), bool(rng.random() < 0.5), int(rng.integers(0, 256)))
        small = cv2.resize(view, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, 3)
        np.testing.assert_array_equal(core.prepare_frame(view, fmt, 0, *args), core.prepare_frame(small, fmt, 0, *args),
                                      err_msg=f"{W}x{H} -> {w}x{h} {fmt}")


@pytest.mark.parametrize("which", ["native", "python"])
def test_prepare_frame_into_a_reused_array(which):
    from edgecv import _core as native, _pycore

    core = native if which == "native" else _pycore
    rng = np.random.default_rng(1)
    args = ((64, 48), (60, 37), (127.5, 127.5, 127.5), (128.0, 128.0, 128.0), True, 0)
    first, second = (rng.integers(0, 256, (37, 60, 3), dtype=np.uint8) for _ in range(2))
    out = np.full((1, 3, 48, 64), np.nan, np.float32)
    assert core.prepare_frame(first, "bgr", 0, *args, out=out) is out
    np.testing.assert_array_equal(out, core.prepare_frame(first, "bgr", 0, *args))
    # pad_written: the padding the array already holds is kept (native: not rewritten), the picture replaced
    assert core.prepare_frame(second, "bgr", 0, *args, out=out, pad_written=True) is out
    np.testing.assert_array_equal(out, core.prepare_frame(second, "bgr", 0, *args))
    if which == "native":  # proof that the padding was skipped: a marker in it survives
        out[0, 1, 40, 62] = out[0, 2, 10, 63] = 42.0
        core.prepare_frame(first, "bgr", 0, *args, out=out, pad_written=True)
        assert out[0, 1, 40, 62] == out[0, 2, 10, 63] == 42.0
        np.testing.assert_array_equal(out[..., :37, :60], core.prepare_frame(first, "bgr", 0, *args)[..., :37, :60])
    for bad, match in [(np.zeros((1, 3, 48, 64)), "float32"), (np.zeros((1, 3, 48, 63), np.float32), "dimension 3"),
                       (np.zeros((3, 48, 64), np.float32), "4-D"),
                       (np.zeros((1, 3, 64, 48), np.float32).transpose(0, 1, 3, 2), "C-contiguous")]:
        with pytest.raises(InvalidInputError, match=match):
            core.prepare_frame(first, "bgr", 0, *args, out=bad)
    frozen = np.zeros((1, 3, 48, 64), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(InvalidInputError, match="read-only"):
        core.prepare_frame(first, "bgr", 0, *args, out=frozen)
    with pytest.raises(InvalidInputError, match="needs an out array"):
        core.prepare_frame(first, "bgr", 0, *args, pad_written=True)
    # the output may not alias the frame it is made from
    shared = np.zeros(3 * 48 * 64, np.float32)
    frame = shared.view(np.uint8)[:37 * 60 * 3].reshape(37, 60, 3)
    with pytest.raises(InvalidInputError, match="shares memory"):
        core.prepare_frame(frame, "bgr", 0, *args, out=shared.reshape(1, 3, 48, 64))


def test_tracker_binding():
    tracker = _core.ByteTracker()
    boxes = np.array([[10, 10, 50, 60], [100, 100, 150, 160]], np.float32)
    ids = tracker.update(boxes, np.array([0.9, 0.8], np.float32))
    assert ids.dtype == np.int64 and ids.tolist() == [1, 2] and tracker.live_tracks == 2
    assert tracker.update(boxes + 2, np.array([0.9, 0.8], np.float32)).tolist() == [1, 2]
    with pytest.raises(InvalidInputError, match="finite"):
        tracker.update(np.array([[0, 0, np.nan, 1]], np.float32), np.array([0.9], np.float32))
    with pytest.raises(InvalidInputError, match="dtype"):
        tracker.update(boxes.astype(np.float64), np.array([0.9, 0.8], np.float32))
    params = _core.TrackerParams()
    params.low_threshold = 0.9
    with pytest.raises(InvalidInputError, match="low_threshold"):
        _core.ByteTracker(params)


def test_anchor_centres():
    c = _core.anchor_centres(2, 3, 16, 2)
    assert c.shape == (12, 2)
    np.testing.assert_array_equal(c[:4], [[0, 0], [0, 0], [16, 0], [16, 0]])
    np.testing.assert_array_equal(c[-1], [32, 16])


def test_compare_match_boxes_is_one_to_one():
    from edgecv.tasks.faces.compare import iou_matrix, match_boxes

    a = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    b = np.array([[21, 0, 31, 10], [0, 0, 10, 10], [0, 0, 9, 10]], np.float32)
    assert iou_matrix(a, b).shape == (2, 3)
    pairs = match_boxes(a, b, 0.5)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (1, 0)]
    assert pairs[0][2] == 1.0
    assert match_boxes(a, np.zeros((0, 4), np.float32), 0.5) == []


KEEPALIVE = r"""
import sys, threading, time
import numpy as np
from edgecv.native import core as _core

which = sys.argv[1]
start = threading.Event()
def clear_soon(items):
    start.wait()
    time.sleep(0.002)
    items.clear()   # the only references to the big arrays

for trial in range(5):
    if which == "scrfd":
        rows = 1024 * 1024 * 2  # 8192 x 8192 input, stride 8, 2 anchors
        levels = [(8, np.full((rows, 1), 0.9, np.float32), np.ones((rows, 4), np.float32), None)]
        t = threading.Thread(target=clear_soon, args=(levels,)); t.start()
        start.set()
        boxes, scores, _ = _core.decode_scrfd(levels, (8192, 8192), 2, 0.5, 0.4, 5000, 100)
        assert len(scores) == 100 and np.all(scores == np.float32(0.9)), scores[:3]
    else:
        h = w = 1500
        K = np.array([[1000.0, 0, w / 2], [0, 1000.0, h / 2], [0, 0, 1]])
        E = np.eye(4)
        depth = np.full((h, w), 5.0, np.float32)
        sources = [(np.full((h, w), 5.0, np.float32), K.copy(), E.copy()) for _ in range(3)]
        t = threading.Thread(target=clear_soon, args=(sources,)); t.start()
        start.set()
        mask, counts, fused = _core.check_consistency(depth, K, E, sources, None, 1.0, 0.01, 2, 0.0, 1)
        assert counts.min() == 3 and np.allclose(fused, 5.0)
    t.join(); start.clear()
print("OK")
"""


@pytest.mark.parametrize("which", ["scrfd", "consistency"])
def test_arrays_from_lists_stay_alive_while_the_gil_is_released(which):
    """Regression: arrays read from a Python list were not owned across the GIL release; another thread
    emptying the list freed them mid-computation (use after free)."""
    from conftest import run_python

    out = run_python("-c", KEEPALIVE, which, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "OK", (out.returncode, out.stderr[-1500:])


def test_consistency_threads_are_the_callers():
    h, w = 64, 80
    K = np.array([[100.0, 0, w / 2], [0, 100.0, h / 2], [0, 0, 1]])
    depth = np.random.default_rng(0).uniform(4, 6, (h, w)).astype(np.float32)
    src = [(depth.copy(), K, np.eye(4))]
    results = [_core.check_consistency(depth, K, np.eye(4), src, None, 1.0, 0.01, 1, 0.0, n) for n in (1, 3, 0)]
    for r in results[1:]:
        for a, b in zip(results[0], r):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(InvalidInputError, match="threads"):
        _core.check_consistency(depth, K, np.eye(4), src, None, 1.0, 0.01, 1, 0.0, -1)


def test_pickled_arrays_pass_the_native_checks():
    """Regression: dtypes were compared by identity, so arrays that went through pickle (multiprocessing, Ray)
    were refused with 'expected dtype float32, got float32'. A non-native byte order is still refused."""
    import pickle

    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert pickle.loads(pickle.dumps(boxes)).dtype is not boxes.dtype
    keep = _core.nms(pickle.loads(pickle.dumps(boxes)), pickle.loads(pickle.dumps(scores)), 0.5)
    assert list(keep) == [0, 2]
    with pytest.raises(InvalidInputError, match=">f4"):
        _core.nms(boxes.astype(">f4"), scores, 0.5)
