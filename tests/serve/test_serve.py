"""edgecv serve: a real uvicorn server on 127.0.0.1 (a child process) with real models; every answer is checked
against edgecv.load(...).detect(...) on the same bytes; bad input, limits, keys, metrics, MJPEG, and the
web page in a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import PHOTOS, SCRFD, cached_model

POSE = "lightweight_openpose_hpe0001"
MVS = "patchmatchnet_640x416_n5"


class Server:
    """``edgecv serve ...`` in a child process, on a free port; stopped with SIGTERM."""

    def __init__(self, *args: str) -> None:
        self.cwd = tempfile.mkdtemp()
        self.proc = subprocess.Popen([sys.executable, "-m", "edgecv", "serve", *args, "--port", "0"],
                                     stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=self.cwd)
        line = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if "serving" in line or not line:
                break
        match = re.search(r"on (http://\S+)", line)
        assert match, (line, self.proc.poll())
        self.url = match.group(1)
        self.client = httpx.Client(base_url=self.url, timeout=60)
        self.log: list = []
        self._drain = threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True)
        self._drain.start()

    def stop(self) -> bool:
        """SIGTERM; True when the server shut down cleanly (uvicorn finishes the requests in hand, then lets
        the signal end the process: status -SIGTERM) and logged no traceback."""
        self.client.close()
        self.proc.terminate()
        try:
            code = self.proc.wait(30)
        finally:
            shutil.rmtree(self.cwd, ignore_errors=True)
        self._drain.join(5)
        return code in (0, -signal.SIGTERM) and not any("Traceback" in line for line in self.log)


@pytest.fixture(scope="module")
def server(shared):
    s = Server(f"{SCRFD}=faces", f"{POSE}=pose", f"{MVS}=depth", "--threads", "2", "--workers", "2",
               "--max-queue", "64", "--max-body-mb", "2",
               "--source", f"pets@pose={shared / 'video' / 'pets_walk_480x360.avi'}")
    yield s
    assert s.stop()  # SIGTERM: a clean shutdown


def _expect(model_name: str, engine_model, data: bytes) -> dict:
    from edgecv.image import decode_image

    return engine_model.detect(decode_image(data)).to_dict()


def test_models_health_and_the_answer_is_detect(server, shared):
    models = server.client.get("/v1/models").json()
    assert [(m["name"], m["task"], m["engine"]) for m in models["models"]] == [
        ("faces", "scrfd", "onnxruntime"), ("pose", "openpose", "onnxruntime"), ("depth", "mvs", "onnxruntime")]
    assert models["models"][2]["num_views"] == 5 and models["models"][2]["input_size"] == [416, 640]
    assert models["models"][0]["input_size"] == [640, 640] and "score_threshold" in models["models"][0]["options"]
    assert models["streams"][0]["url"] == "/v1/streams/pets.mjpg"
    health = server.client.get("/healthz").json()
    assert health["status"] == "ok" and health["models"] == 3

    data = (shared / "images" / "group_t1.jpg").read_bytes()
    r = server.client.post("/v1/models/faces/detect", content=data, headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200
    doc = r.json()
    want = _expect("faces", cached_model("onnxruntime"), data)
    assert doc["count"] == 6 and {k: doc[k] for k in want} == want
    assert doc["model"] == "faces" and doc["engine"] == "onnxruntime" and doc["latency_ms"] > 0
    assert (doc["width"], doc["height"]) == (1024, 683) or doc["width"] > 0

    # multipart, and a per-call option from the query
    r = server.client.post("/v1/models/faces/detect?score_threshold=0.9",
                           files={"image": ("g.jpg", data, "image/jpeg")})
    from edgecv.image import decode_image

    strict = cached_model("onnxruntime").detect(decode_image(data), score_threshold=0.9).to_dict()
    assert r.status_code == 200 and r.json()["faces"] == strict["faces"] and strict["count"] < 6

    street = (shared / "images" / "street_1.jpg").read_bytes()
    r = server.client.post("/v1/models/pose/detect", content=street, headers={"Content-Type": "image/jpeg"})
    pose_want = _expect("pose", cached_model("onnxruntime", POSE), street)
    assert r.status_code == 200 and r.json()["people"] == pose_want["people"] and pose_want["count"] >= 2


def test_multi_view_stereo_over_http_is_detect_on_the_same_views(server, shared):
    """MVS: a multipart form with the reference view and its sources ('view' images + 'cam' files)."""
    from edgecv.tasks.mvs import load_scene

    root = shared / "data" / "mvs_office_8view"
    scene = load_scene(root)
    order = [0] + scene.sources(0, 4)
    files = [("view", (f"{v}.jpg", scene.image_paths[v].read_bytes(), "image/jpeg")) for v in order]
    files += [("cam", (f"{v}_cam.txt", (root / "cams" / f"{v:08d}_cam.txt").read_bytes(), "text/plain"))
              for v in order]
    r = server.client.post("/v1/models/depth/detect", files=files)
    assert r.status_code == 200, r.text
    want = cached_model("onnxruntime", MVS).detect(scene, ref=0).to_dict()
    doc = r.json()
    assert {k: doc[k] for k in want if k != "view"} == {k: v for k, v in want.items() if k != "view"}
    assert doc["valid_pixels"] > 0.5 * 416 * 640 and (doc["width"], doc["height"]) == (640, 416)
    r = server.client.post("/v1/models/depth/detect", files=files[:4] + files[5:9])
    assert r.status_code == 400 and "takes 5 views" in r.json()["message"]


def test_concurrent_clients_each_get_exactly_detect(server, shared):
    """8 clients x 25 requests, photos mixed, encoded bodies and multipart forms: every answer equals detect()."""
    photos = {name: (shared / "images" / name).read_bytes() for name in PHOTOS}
    want = {name: _expect("faces", cached_model("onnxruntime"), data) for name, data in photos.items()}
    names = list(photos)

    def client(k: int) -> list:
        bad = []
        with httpx.Client(base_url=server.url, timeout=120) as c:
            for i in range(25):
                name = names[(k + i) % len(names)]
                if i % 3 == 0:
                    r = c.post("/v1/models/faces/detect", files={"image": (name, photos[name], "image/jpeg")})
                else:
                    r = c.post("/v1/models/faces/detect", content=photos[name], headers={"Content-Type": "image/jpeg"})
                doc = r.json()
                if r.status_code != 200 or {key: doc.get(key) for key in want[name]} != want[name]:
                    bad.append((name, r.status_code, str(doc)[:200]))
        return bad

    with ThreadPoolExecutor(8) as pool:
        failures = [b for result in pool.map(client, range(8)) for b in result]
    assert not failures, failures[:3]
    assert sum(w["count"] for w in want.values()) > 20


def test_raw_nv21_frames_with_rotation_and_drawn_answers(server, photos):
    import cv2

    image = photos["group_t1.jpg"]
    upright = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]
    turned = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)  # to be turned 90 degrees clockwise to be upright
    h, w = turned.shape[:2]
    i420 = cv2.cvtColor(turned, cv2.COLOR_BGR2YUV_I420)
    y, u, v = i420[:h], i420[h:h + h // 4].reshape(-1), i420[h + h // 4:].reshape(-1)
    nv21 = np.concatenate([y.reshape(-1), np.stack([v, u], 1).reshape(-1)]).astype(np.uint8)
    r = server.client.post(f"/v1/models/faces/detect?format=nv21&width={w}&height={h}&rotation=90",
                           content=nv21.tobytes(), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    frame = nv21.reshape(h * 3 // 2, w)
    want = cached_model("onnxruntime").detect(frame, format="nv21", rotation=90).to_dict()
    assert r.json()["faces"] == want["faces"] and want["count"] >= 4

    data = (Path(os.environ["EDGECV_MODELS"]).parent / "images" / "group_t1.jpg").read_bytes()
    r = server.client.post("/v1/models/faces/detect?draw=1", content=data, headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.headers["x-edgecv-count"] == "6"
    drawn = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert drawn.shape == photos["group_t1.jpg"].shape
    assert np.abs(drawn.astype(int) - photos["group_t1.jpg"]).mean() > 0.5  # boxes were drawn


def test_bad_input_gets_4xx_with_the_message_never_500(server, shared):
    c = server.client
    jpeg = {"Content-Type": "image/jpeg"}
    cases = [
        (c.post("/v1/models/faces/detect", content=b"not an image", headers=jpeg), 400, "cannot decode"),
        (c.post("/v1/models/faces/detect", content=b"", headers=jpeg), 400, "empty"),
        (c.post("/v1/models/faces/detect", content=b"{}", headers={"Content-Type": "application/json"}), 415,
         "Content-Type"),
        (c.post("/v1/models/faces/detect", files={"photo": ("a.jpg", b"x", "image/jpeg")}), 400, "'image'"),
        (c.post("/v1/models/faces/detect?bogus=1", content=b"x", headers=jpeg), 400, "unknown query parameter"),
        (c.post("/v1/models/faces/detect?score_threshold=2", content=b"x", headers=jpeg), 400, "score_threshold"),
        (c.post("/v1/models/faces/detect?format=nv21&width=10&height=10", content=b"x" * 10), 400, "150 bytes"),
        (c.post("/v1/models/faces/detect?format=nv21&width=abc&height=10", content=b"x"), 400, "whole number"),
        (c.post("/v1/models/faces/detect?format=nv21", content=b"x"), 400, "width="),
        (c.post("/v1/models/faces/detect?rotation=45", content=(shared / "images" / "street_1.jpg").read_bytes(),
                headers=jpeg), 400, "rotation"),
        (c.post("/v1/models/nope/detect", content=b"x", headers=jpeg), 404, "faces, pose, depth"),
        (c.post("/v1/models/depth/detect", content=b"x", headers=jpeg), 400, "multipart form with 5 'view'"),
        (c.get("/v1/streams/nope.mjpg"), 404, "pets"),
        (c.get("/v1/nothing"), 404, ""),
    ]
    for r, status, text in cases:
        assert r.status_code == status, (r.status_code, r.text)
        assert text in r.json()["message"], r.text
    truncated = (shared / "images" / "street_4.jpg").read_bytes()[:30000]
    r = c.post("/v1/models/faces/detect", content=truncated, headers=jpeg)
    assert r.status_code == 400 and "truncated" in r.json()["message"]

    # Over the 2 MB limit: refused from Content-Length, and a chunked body as soon as it passes the limit.
    big = b"\xff" * (3 * 1024 * 1024)
    r = c.post("/v1/models/faces/detect", content=big, headers=jpeg)
    assert r.status_code == 413 and "limit" in r.json()["message"]

    def chunks():
        for _ in range(48):
            yield b"\0" * 65536

    r = c.post("/v1/models/faces/detect", content=chunks(), headers=jpeg)
    assert r.status_code == 413
    assert c.get("/healthz").json()["status"] == "ok"


def test_metrics_count_requests_by_model_and_status(server, shared):
    from prometheus_client.parser import text_string_to_metric_families

    def samples():
        text = server.client.get("/metrics").text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text) for s in f.samples}

    before = samples()
    data = (shared / "images" / "street_6.jpg").read_bytes()
    for _ in range(3):
        assert server.client.post("/v1/models/pose/detect", content=data,
                                  headers={"Content-Type": "image/jpeg"}).status_code == 200
    server.client.post("/v1/models/pose/detect", content=b"bad", headers={"Content-Type": "image/jpeg"})
    after = samples()

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("edgecv_requests_total", model="pose", status="200") == 3
    assert delta("edgecv_requests_total", model="pose", status="400") == 1
    assert delta("edgecv_errors_total", model="pose", error="ImageReadError") == 1
    assert delta("edgecv_request_latency_seconds_count", model="pose") == 3
    assert delta("edgecv_request_latency_seconds_sum", model="pose") > 0.01
    assert after[("edgecv_queue_depth", ())] == 0 and after[("edgecv_models", ())] == 3


def test_mjpeg_stream_gives_annotated_jpeg_frames(server):
    import cv2

    parts = []
    with server.client.stream("GET", "/v1/streams/pets.mjpg") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/x-mixed-replace")
        buf = b""
        for chunk in r.iter_bytes():
            buf += chunk
            while True:
                m = re.search(rb"--edgecvframe\r\nContent-Type: image/jpeg\r\nContent-Length: (\d+)\r\n\r\n", buf)
                if not m or len(buf) < m.end() + int(m.group(1)):
                    break
                parts.append(buf[m.end():m.end() + int(m.group(1))])
                buf = buf[m.end() + int(m.group(1)):]
            if len(parts) >= 3:
                break
    frames = [cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in parts]
    assert all(f is not None and f.shape == (360, 480, 3) for f in frames)
    assert len({p[-2000:] for p in parts}) == 3  # new frames, not one repeated


def test_queue_limit_answers_503_with_retry_after_then_recovers(shared):
    s = Server(f"{POSE}=pose", "--threads", "1", "--workers", "1", "--max-queue", "2")
    try:
        data = (shared / "images" / "street_1.jpg").read_bytes()

        def one(_):
            with httpx.Client(base_url=s.url, timeout=120) as c:
                return c.post("/v1/models/pose/detect", content=data, headers={"Content-Type": "image/jpeg"})

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(one, range(10)))
        codes = sorted(r.status_code for r in answers)
        assert set(codes) == {200, 503} and codes.count(200) >= 2, codes
        busy = next(r for r in answers if r.status_code == 503)
        assert int(busy.headers["retry-after"]) >= 1 and "busy" in busy.json()["message"]
        assert one(0).status_code == 200
        assert s.client.get("/healthz").json()["queue_depth"] == 0
    finally:
        assert s.stop()


def test_api_key_is_required_when_set(shared):
    s = Server(f"{SCRFD}=faces", "--api-key", "s3cret")
    try:
        data = (shared / "images" / "group_t1.jpg").read_bytes()
        jpeg = {"Content-Type": "image/jpeg"}
        assert s.client.post("/v1/models/faces/detect", content=data, headers=jpeg).status_code == 401
        wrong = s.client.post("/v1/models/faces/detect", content=data, headers={**jpeg, "X-API-Key": "nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        ok = s.client.post("/v1/models/faces/detect", content=data, headers={**jpeg, "Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["count"] == 6
        assert s.client.get("/v1/models").status_code == 401 and s.client.get("/metrics").status_code == 401
        assert s.client.get("/v1/models?key=s3cret").status_code == 200
        assert s.client.get("/healthz").status_code == 200 and s.client.get("/").status_code == 200
    finally:
        s.stop()


def test_cli_start_errors_are_one_line():
    from conftest import run_python

    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = str(taken.getsockname()[1])
        r = run_python("-m", "edgecv", "serve", SCRFD, "--port", port, timeout=120)
        assert r.returncode == 2 and "cannot listen on 127.0.0.1:" in r.stderr and "Traceback" not in r.stderr
    finally:
        taken.close()
    r = run_python("-m", "edgecv", "serve", "no_such_model", "--port", "0", timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("edgecv: error:") and "no_such_model" in r.stderr
    r = run_python("-m", "edgecv", "serve", f"{SCRFD}=a/b", "--port", "0", timeout=120)
    assert r.returncode == 2 and "name" in r.stderr


def _chromium():
    for binary in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(binary)
        if path:
            return path, shutil.which("chromedriver")
    return None, None


def test_web_page_in_headless_chromium(server, shared):
    """Upload a photo on the page; the count of faces appears, boxes are drawn, no console errors."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    binary, driver_path = _chromium()
    assert binary and driver_path, "chromium and chromium-driver are installed by tools/run_tests.sh"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(server.url + "/")
        WebDriverWait(driver, 30).until(lambda d: len(Select(d.find_element(By.ID, "model")).options) == 3)
        driver.find_element(By.ID, "file").send_keys(str(shared / "images" / "group_t1.jpg"))
        WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "count").text != "")
        assert driver.find_element(By.ID, "count").text == "6 faces"
        width = driver.execute_script("return document.getElementById('canvas').width")
        assert width == 1024 or width > 600
        # the canvas holds the photo with green boxes drawn over it
        green = driver.execute_script("""
            const c = document.getElementById('canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] < 40 && d[i+1] > 200 && d[i+2] > 90 && d[i+2] < 140) n++;
            return n;""")
        assert green > 500
        # the other model: people on a street photo
        Select(driver.find_element(By.ID, "model")).select_by_value("pose")
        driver.find_element(By.ID, "file").send_keys(str(shared / "images" / "street_1.jpg"))
        WebDriverWait(driver, 60).until(lambda d: "people" in d.find_element(By.ID, "count").text
                                        or "person" in d.find_element(By.ID, "count").text)
        streams = driver.find_elements(By.CSS_SELECTOR, "#streams img")
        assert [s.get_attribute("alt") for s in streams] == ["pets"]
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        assert driver.find_element(By.ID, "error").text == ""
    finally:
        driver.quit()


def test_missing_serve_extra_names_it():
    from conftest import run_without_module

    for module in ("fastapi", "uvicorn"):
        result = run_without_module(module, "import edgecv.serve; edgecv.serve.serve(['scrfd_500m_bnkps_640'], port=0)",
                                    "FeatureNotInstalledError")
        assert "OK" in result.stdout and "edgecv[serve]" in result.stdout, result.stderr[-500:]
