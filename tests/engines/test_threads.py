"""One loaded model used from several threads at once gives exactly the sequential results, per engine.
(ONNX Runtime sessions are thread safe; the ncnn adapter makes one extractor per call; the MNN adapter
serialises calls on a session with a lock.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import ENGINES, PHOTOS

import edgecv


def _same(a, b):
    for field in ("boxes", "scores", "landmarks", "keypoints"):
        if hasattr(a, field):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None and y is None) or np.array_equal(x, y), field


@pytest.mark.parametrize("engine", ENGINES)
def test_scrfd_from_many_threads(engine, photos):
    model = edgecv.load("scrfd_2.5g_bnkps_640", engine=engine, threads=1)
    images = [photos[p] for p in PHOTOS] * 3
    sequential = [model.detect(img) for img in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(model.detect, images))
    for a, b in zip(sequential, concurrent):
        _same(a, b)


@pytest.mark.parametrize("engine", ENGINES)
def test_openpose_from_many_threads(engine, photos, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path))
    model = edgecv.load("lightweight_openpose_hpe0001", engine=engine, threads=1)
    images = [photos["street_1.jpg"], photos["street_4.jpg"], photos["group_t1.jpg"]] * 2
    sequential = [model.detect(img) for img in images]
    with ThreadPoolExecutor(max_workers=3) as pool:
        concurrent = list(pool.map(model.detect, images))
    for a, b in zip(sequential, concurrent):
        _same(a, b)


MNN_THREADS = r"""
import os, sys, threading
import numpy as np
import edgecv
image = edgecv.read_image(sys.argv[1])
models = [edgecv.load("lightweight_openpose_hpe0001", engine="mnn", threads=1) for _ in range(2)]
def work(m, k):
    for i in range(8):  # every other size forces a session resize, which MNN prints around
        m.detect(image[: 300 + 40 * ((i + k) % 2)])
threads = [threading.Thread(target=work, args=(m, k)) for k, m in enumerate(models)]
[t.start() for t in threads]
[t.join() for t in threads]
sys.stdout.flush()
os.write(1, b"STDOUT-STILL-STDOUT\n")
"""


def test_mnn_models_in_threads_leave_stdout_alone(tmp_path, monkeypatch):
    """Regression: MNN's process-wide fd-1 redirection, taken by two threads at once, could leave stdout
    pointing at stderr for good. (The interleaving itself is forced step by step in the next test; the hostile
    suite counts other threads' lines while MNN loads.)"""
    from conftest import SHARED, run_python

    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path))
    edgecv.load("lightweight_openpose_hpe0001", engine="mnn", threads=1)  # convert once
    out = run_python("-c", MNN_THREADS, str(SHARED / "images" / "street_4.jpg"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "STDOUT-STILL-STDOUT" in out.stdout and "STDOUT-STILL-STDOUT" not in out.stderr


def test_native_stdout_holders_interleave_and_leave_fd1_alone():
    """The mechanism: A enters, B enters, A leaves, B leaves -> C-level printf went to stderr inside, fd 1 was
    never touched (other threads' output stays on stdout), and the C stream is restored afterwards."""
    import ctypes
    import os
    import threading

    from edgecv.engines.native_output import native_stdout_to_stderr

    assert native_stdout_to_stderr.swaps_c_stream, "glibc: the C stdout stream can be swapped"
    libc = ctypes.CDLL(None)
    variable = ctypes.c_void_p.in_dll(libc, "stdout")
    before_fd, before_stream = os.fstat(1), variable.value
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    inside = []

    def look():
        inside.append((os.fstat(1).st_ino == before_fd.st_ino, variable.value != before_stream))

    def holder_a():
        with native_stdout_to_stderr():
            a_in.set()
            b_in.wait(5)
            look()
        a_out.set()

    def holder_b():
        a_in.wait(5)
        with native_stdout_to_stderr():
            b_in.set()
            a_out.wait(5)
            look()

    threads = [threading.Thread(target=holder_a), threading.Thread(target=holder_b)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert inside == [(True, True), (True, True)]  # fd 1 unchanged, C stream swapped, in both holders
    assert variable.value == before_stream and os.fstat(1).st_ino == before_fd.st_ino
