"""Streams on real data: every source kind that runs here (video file, folder, glob, iterable, a live HTTP MJPEG
stream served on 127.0.0.1), every frame format and rotation on real photos, tracking identities on the real
clip and on clips made from photos, shutdown, bad inputs, and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED, cached_model, run_python
from frames import to_format

import edgecv
from edgecv.errors import InvalidImageError, InvalidInputError, SourceError
from edgecv.frames import FORMATS, ROTATIONS
from edgecv.streams import SceneSource
from edgecv.tasks.openpose.compare import compare_poses
from edgecv.tasks.faces.compare import compare_faces

VIDEO = SHARED / "video" / "pets_walk_480x360.avi"
POSE = "lightweight_openpose_hpe0001"
CLIP_FRAMES = 80
#: the stored frame whose `rotation` is r: the upright picture turned r degrees counter-clockwise
ROTATE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Frames 520-599 of the real clip (10 fps, 480x360; 3-4 people walking), as a shorter video file."""
    path = tmp_path_factory.mktemp("clip") / "walk.avi"
    cap = cv2.VideoCapture(str(VIDEO))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 520)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (480, 360))
    for _ in range(CLIP_FRAMES):
        ok, frame = cap.read()
        out.write(frame)
    out.release()
    return path


# -- camera-native frames -----------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("rotation", ROTATIONS)
def test_every_format_and_rotation_finds_the_same_faces(fmt, rotation, photos):
    model = cached_model("onnxruntime")
    upright = photos["group_t1.jpg"][:884]
    reference = model.detect(upright)
    stored = upright if rotation == 0 else cv2.rotate(upright, ROTATE[rotation])
    frame = to_format(stored, fmt)
    faces = model.detect(frame, format=fmt, rotation=rotation)
    assert faces.frame.format == fmt and faces.frame.rotation == rotation
    # In the frame's own coordinates: the boxes sit on the rotated content...
    h, w = frame.shape[:2] if fmt not in ("nv21", "nv12", "i420") else (frame.shape[0] * 2 // 3, frame.shape[1])
    assert np.all(faces.boxes[:, 2] <= w + 1) and np.all(faces.boxes[:, 3] <= h + 1)
    # ...and upright() gives the upright photo's faces.
    row = compare_faces(reference, faces.upright())
    tolerance = 0.97 if fmt in ("bgr", "rgb", "bgra", "rgba") else 0.85  # YUV / gray lose colour detail
    assert row["matched"] == len(reference) == 6 and row["extra"] == 0, row
    assert row["min_iou"] >= tolerance, row
    drawn = faces.draw(frame)  # a camera frame in its own format is converted for drawing
    assert drawn.shape[:2] == (h, w) and drawn.dtype == np.uint8


def test_poses_in_rotated_frames_map_back(photos):
    model = cached_model("onnxruntime", POSE)
    upright = photos["street_4.jpg"]
    reference = model.detect(upright)
    for rotation in (90, 270):
        poses = model.detect(cv2.rotate(upright, ROTATE[rotation]), rotation=rotation)
        row = compare_poses(reference, poses.upright())
        # Rotated frames take the fused C++ path, upright ones OpenCV's resize: inputs differ by < 1 grey level,
        # which can move a weak part to another peak; people and their mean keypoints stay put.
        assert row["matched"] >= len(reference) - 1 and row["mean_keypoint_px"] <= 2.0, row


def test_fused_path_matches_the_opencv_chain(photos):
    """The one-pass C++ path equals cvtColor + rotate + resize + pack to within a grey level."""
    from edgecv import _core

    bgr = photos["street_4.jpg"][:894]
    nv21 = to_format(bgr, "nv21")
    rotated_nv21 = to_format(cv2.rotate(bgr, cv2.ROTATE_90_COUNTERCLOCKWISE), "nv21")
    for frame, fmt, rotation in ((nv21, "nv21", 0), (rotated_nv21, "nv21", 90)):
        fused = _core.prepare_frame(frame, fmt, rotation, (640, 640), (640, 381), (127.5,) * 3, (128.0,) * 3, True, 0)
        chain = cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_NV21)
        if rotation:
            chain = cv2.rotate(chain, cv2.ROTATE_90_CLOCKWISE)
        chain = cv2.resize(chain, (640, 381), interpolation=cv2.INTER_LINEAR)
        packed = np.full((1, 3, 640, 640), -127.5 / 128, np.float32)
        packed[0, :, :381] = (chain[..., ::-1].transpose(2, 0, 1).astype(np.float32) - 127.5) / 128
        diff = np.abs(fused - packed)
        assert diff.max() <= 3 / 128 and diff.mean() < 0.5 / 128, (diff.max(), diff.mean())


@pytest.mark.parametrize("fmt,shape", [("nv21", (101, 64)), ("nv21", (96, 63)), ("i420", (95, 64)),
                                        ("yuyv", (64, 63, 2)), ("rgba", (64, 64, 3)), ("gray", (64, 64, 2))])
def test_bad_frames_are_refused(fmt, shape):
    with pytest.raises(InvalidImageError):
        cached_model("onnxruntime").detect(np.zeros(shape, np.uint8), format=fmt)


def test_bad_frame_options():
    model = cached_model("onnxruntime")
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(InvalidInputError, match="rotation"):
        model.detect(image, rotation=45)
    with pytest.raises(InvalidInputError, match="format"):
        model.detect(image, format="yuv444")
    with pytest.raises(InvalidInputError, match="path is read as a BGR image"):
        model.detect(str(SHARED / "images" / "group_t1.jpg"), format="nv21")


# -- sources ------------------------------------------------------------------------------------------
def test_video_file_every_frame_in_order(clip):
    model = cached_model("onnxruntime", POSE)
    with model.stream(clip) as stream:
        items = list(stream)
    assert [i.index for i in items] == list(range(CLIP_FRAMES)) and stream.frames_dropped == 0
    assert all(i.frame.shape == (360, 480, 3) and i.latency > 0 for i in items)
    assert sum(len(i.result) for i in items) > 2 * CLIP_FRAMES  # people walking
    direct = model.detect(items[30].frame)
    np.testing.assert_allclose(items[30].result.keypoints, direct.keypoints, atol=1e-4)


def test_folder_glob_and_iterable_sources(tmp_path, photos):
    model = cached_model("onnxruntime")
    for i, name in enumerate(("group_t1.jpg", "street_1.jpg", "street_4.jpg")):
        cv2.imwrite(str(tmp_path / f"frame{10 - i * 5}.jpg"), photos[name])  # 10, 5, 0: natural order
    names = [i.result for i in model.stream(tmp_path)]
    order = ("street_4.jpg", "street_1.jpg", "group_t1.jpg")
    assert [len(r) for r in names] == [len(model.detect(photos[n])) for n in order]
    assert len(list(model.stream(str(tmp_path / "frame1*.jpg")))) == 1
    nv21 = [to_format(photos["group_t1.jpg"], "nv21")] * 3
    items = list(model.stream(nv21, format="nv21"))
    assert [len(i.result) for i in items] == [6, 6, 6] and items[0].frame.shape == (886, 1280, 3)
    with pytest.raises(SourceError, match="no images"):
        model.stream(tmp_path / "empty_dir_that_is_a_glob*.jpg")


class _Mjpeg(BaseHTTPRequestHandler):
    frames: list = []
    period = 0.01
    connections = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).connections += 1
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            for jpg in self.frames:
                head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                self.wfile.write(head + jpg + b"\r\n")
                time.sleep(self.period)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def mjpeg_url():
    cap = cv2.VideoCapture(str(VIDEO))
    _Mjpeg.frames = [cv2.imencode(".jpg", cap.read()[1])[1].tobytes() for _ in range(40)]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mjpeg)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/walk.mjpg"
    server.shutdown()


def test_live_http_stream_keeps_latency_bounded_and_reports_drops(mjpeg_url):
    model = cached_model("onnxruntime", POSE)
    items = []
    with pytest.raises(SourceError, match="stopped sending frames"):  # the server ends: a dropped live stream
        with model.stream(mjpeg_url) as stream:
            assert stream.source.live
            for item in stream:
                items.append(item)
    assert items and stream.frames_read == 40 and stream.frames_dropped + len(items) == 40
    assert [i.index for i in items] == sorted(i.index for i in items)
    assert max(i.latency for i in items) < 2.0


def test_reconnect_after_a_drop(mjpeg_url):
    model = cached_model("onnxruntime", POSE)
    before = _Mjpeg.connections
    with model.stream(mjpeg_url, reconnect=True) as stream:
        for n, _item in enumerate(stream):
            if _Mjpeg.connections - before >= 2 and n > 5:
                break
    assert _Mjpeg.connections - before >= 2


def test_bad_sources(tmp_path):
    model = cached_model("onnxruntime")
    with pytest.raises(SourceError, match="not found"):
        model.stream(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(SourceError):
        list(model.stream(junk))
    with pytest.raises(SourceError, match="camera"):
        model.stream("camera:42")
    with pytest.raises(InvalidInputError):
        model.stream(3.5)
    with pytest.raises(InvalidInputError, match="queue_size"):
        model.stream([np.zeros((8, 8, 3), np.uint8)], queue_size=0)


def test_frames_whose_size_changes_keep_working(photos):
    model = cached_model("onnxruntime")
    frames = [photos["group_t1.jpg"], photos["street_4.jpg"][:400], photos["group_t1.jpg"][::2, ::2],
              photos["street_1.jpg"]]
    items = list(model.stream(frames, track=True))
    assert [len(i.result) >= 1 for i in items] == [True] * 4 and all(i.result.track_ids is not None for i in items)


def test_errors_inside_a_stage_reach_the_loop(photos):
    model = cached_model("onnxruntime")
    frames = [photos["group_t1.jpg"], np.zeros((10, 10), np.float32), photos["group_t1.jpg"]]
    got = []
    with pytest.raises(InvalidImageError):
        for item in model.stream(frames):
            got.append(item)
    assert len(got) == 1


def test_shutdown_joins_every_thread(clip):
    model = cached_model("onnxruntime", POSE)
    stream = model.stream(clip)
    for n, _ in enumerate(stream):
        if n == 3:
            break
    time.sleep(0.2)
    assert not [t for t in threading.enumerate() if t.name.startswith("edgecv-stream")]
    with model.stream(clip) as s:
        next(iter(s))
    assert not [t for t in threading.enumerate() if t.name.startswith("edgecv-stream")]


def test_mvs_stream_over_a_scene(module_cache):
    from edgecv.tasks.mvs import load_scene

    model = edgecv.load("patchmatchnet_640x416_n5", engine="mnn", threads=2)
    scene = load_scene(SHARED / "data" / "mvs_office_8view")
    items = list(model.stream(SceneSource(scene, refs=[0, 3])))
    assert [i.index for i in items] == [0, 3] and items[1].result.index == 3
    assert items[0].frame.shape == (416, 640, 3) and items[0].result.depth.shape == (416, 640)
    with pytest.raises(InvalidInputError, match="cannot be tracked"):
        model.stream(scene, track=True)


# -- tracking -----------------------------------------------------------------------------------------
def _pan(image: np.ndarray, frames: int = 40, size=(480, 640)):
    """A camera panning and zooming over a photo: crops sliding right and growing."""
    h, w = image.shape[:2]
    for k in range(frames):
        t = k / (frames - 1)
        ch, cw = int(size[0] * (1 - 0.25 * t)), int(size[1] * (1 - 0.25 * t))
        y, x = int((h - ch) * 0.5), int((w - cw) * t)
        yield cv2.resize(image[y:y + ch, x:x + cw], (size[1], size[0]))


def test_faces_keep_their_ids_through_a_pan(photos):
    model = cached_model("onnxruntime")
    seen = {}
    for item in model.stream(list(_pan(photos["group_t1.jpg"])), track=True):
        r = item.result
        for _box, tid in zip(r.boxes, r.track_ids):
            if tid >= 0:
                seen.setdefault(int(tid), []).append(item.index)
    # Every face visible gets one id for all of its frames (ids start at 1, consecutive).
    assert sorted(seen) == list(range(1, len(seen) + 1))
    assert 5 <= len(seen) <= 8, seen.keys()
    for frames in seen.values():
        assert frames == list(range(frames[0], frames[0] + len(frames))), "no gaps: never lost, never renamed"


def test_people_tracks_on_the_real_clip_are_stable(clip):
    """Between consecutive frames, a person whose keypoint box barely moved (and has no close neighbour)
    keeps the id."""
    model = cached_model("onnxruntime", POSE)
    items = list(model.stream(clip, track=True))
    same, total = 0, 0
    for a, b in zip(items, items[1:]):
        ba, _ = a.result.track_boxes()
        bb, _ = b.result.track_boxes()
        if not len(ba) or not len(bb):
            continue
        ca, cb = (ba[:, :2] + ba[:, 2:]) / 2, (bb[:, :2] + bb[:, 2:]) / 2
        d = np.linalg.norm(ca[:, None] - cb[None], axis=2)
        for i in range(len(ca)):
            j = int(np.argmin(d[i]))
            others = np.delete(d[:, j], i)
            if d[i, j] < 12 and (others.min() if len(others) else 99) > 30:
                ia, ib = a.result.track_ids[i], b.result.track_ids[j]
                if ia >= 0 and ib >= 0:
                    total += 1
                    same += int(ia == ib)
    assert total >= 20 and same / total >= 0.95, (same, total)
    d = items[10].result.to_dict()
    assert all("track_id" in p for p in d["people"])


# -- command line -------------------------------------------------------------------------------------
def test_cli_video_writes_an_annotated_video_and_json_lines(clip, tmp_path):
    out = run_python("-m", "edgecv", "detect", str(clip), "--model", POSE, "--track", "--out", str(tmp_path), "--json",
                     timeout=600)
    assert out.returncode == 0, out.stderr[-1500:]
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [d["frame"] for d in lines] == list(range(CLIP_FRAMES)) and lines[5]["time_s"] == pytest.approx(0.5)
    assert "people" in lines[0] and all("track_id" in p for d in lines for p in d["people"])
    assert "frame/s" in out.stderr and f"{CLIP_FRAMES}/{CLIP_FRAMES}" in out.stderr
    video = tmp_path / "walk.avi"
    cap = cv2.VideoCapture(str(video))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == CLIP_FRAMES and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10)
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (480, 360)
    assert not list(tmp_path.glob(".*"))


def test_cli_folder_and_errors(tmp_path, photos):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), photos["group_t1.jpg"])
    out = run_python("-m", "edgecv", "detect", str(folder), "--out", str(tmp_path / "out"))
    assert out.returncode == 0 and (tmp_path / "out" / "a.jpg").is_file(), out.stderr
    bad = run_python("-m", "edgecv", "detect", str(tmp_path / "missing.mp4"))
    assert bad.returncode == 2 and "video file not found" in bad.stderr and "Traceback" not in bad.stderr
    mixed = run_python("-m", "edgecv", "detect", str(folder), str(SHARED / "images" / "group_t1.jpg"))
    assert mixed.returncode == 2 and "one stream source" in mixed.stderr


def test_cli_ctrl_c_finalises_the_video(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "edgecv", "detect", str(VIDEO), "--model", POSE, "--out",
                             str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-1500:]
    cap = cv2.VideoCapture(str(tmp_path / "pets_walk_480x360.avi"))
    frames = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    assert 5 < frames < 795 and cap.read()[0]
    assert not list(tmp_path.glob(".*")), "no half-written file left"
